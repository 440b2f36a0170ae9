"""Where cloud clients connect: one settings object read from the environment when a call runs."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

__all__ = ["CloudSettings"]


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
