"""Where cloud clients connect, and the one factory that makes them.

`CloudSettings` is read from the environment when a call runs (never at import); `aws_client`
and `kube_api` are the only places a boto3 client or a Kubernetes API client is created.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CloudSettings", "aws_client", "aws_session", "kube_api", "kubeconfig_path"]


class CloudSettings(BaseModel):
    """Where the AWS and Kubernetes clients connect.

    Read when a tool or action runs (never at import): `AWS_ENDPOINT_URL` (e.g. a local
    endpoint), `AWS_REGION` / `AWS_DEFAULT_REGION` (the region for resources whose bill rows
    name none, default us-east-1), `KUBECONFIG` (first path; default `~/.kube/config`) and
    `FINOPS_KUBE_CONTEXTS` (`cluster=context,...` when kubeconfig context names differ from the
    cluster names in the bills). Credentials come from the usual boto3 / kubeconfig chains.
    """

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    kubeconfig: str | None = None
    kube_contexts: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CloudSettings:
        contexts: dict[str, str] = {}
        for pair in environ.get("FINOPS_KUBE_CONTEXTS", "").split(","):
            cluster, sep, context = pair.partition("=")
            if sep and cluster.strip() and context.strip():
                contexts[cluster.strip()] = context.strip()
        kubeconfig = environ.get("KUBECONFIG", "").split(os.pathsep)[0].strip() or None
        return cls(
            aws_region=environ.get("AWS_REGION")
            or environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            aws_endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
            kubeconfig=kubeconfig,
            kube_contexts=contexts,
        )


_AWS_CLIENTS: dict[tuple[str | None, str | None, str], Any] = {}
_AWS_LOCK = threading.Lock()


def aws_session() -> Any:
    """A new boto3 session: credentials from the usual chain (environment, profile, role).
    boto3 is imported here, when the first session is made, never when a command starts."""
    import boto3.session

    return boto3.session.Session()


def aws_client(
    service: str,
    region: str | None,
    settings: CloudSettings,
    *,
    session: Any | None = None,
    config: Any | None = None,
) -> Any:
    """The boto3 client for `service` in `region` (None: boto3's own resolution), created once per
    process, endpoint, region and service. Creating one loads the service model (~0.3 s for
    EC2); clients are thread-safe and refresh credentials from their provider chain, so every
    caller shares them.

    `session` (a caller's own boto3 session, e.g. one a test built with its credentials) or
    `config` (a `botocore.config.Config`: retry mode, attempts, timeouts) make a client for that
    caller alone, never shared.
    """
    if session is not None or config is not None:
        return (session or aws_session()).client(
            service, region_name=region, endpoint_url=settings.aws_endpoint_url, config=config
        )
    key = (settings.aws_endpoint_url, region, service)
    with _AWS_LOCK:
        if key not in _AWS_CLIENTS:
            _AWS_CLIENTS[key] = aws_session().client(
                service, region_name=region, endpoint_url=settings.aws_endpoint_url
            )
        return _AWS_CLIENTS[key]


def kubeconfig_path(kubeconfig: str | None) -> str:
    """The kubeconfig file to read: `kubeconfig`, else `~/.kube/config`."""
    return kubeconfig or os.path.expanduser("~/.kube/config")


def kube_api(context: str, kubeconfig: str | None, *, in_cluster: bool = False) -> Any:
    """A Kubernetes `ApiClient` for `context` of the kubeconfig file at `kubeconfig` (default
    `~/.kube/config`), or with `in_cluster` for the pod's service account (`context` unused),
    without changing the process-wide default configuration. Raises
    `kubernetes.config.ConfigException` or `OSError` for the caller to word."""
    from kubernetes import client, config

    if in_cluster:
        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return client.ApiClient(cfg)
    return config.new_client_from_config(
        config_file=kubeconfig_path(kubeconfig), context=context, persist_config=False
    )
