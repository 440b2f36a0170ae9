"""Talking to one cluster through the official `kubernetes` client: which context, chunked lists,
retries of 429 / 5xx answers with an injected sleep, and errors that say what to fix.

Objects are read as plain JSON (`_preload_content=False`): the collector needs a few fields, and
the raw document keeps the API's own field names.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from warehouse.cloud import kube_api, kubeconfig_path
from warehouse.inventory.config import KubeContext
from warehouse.inventory.models import CollectError

__all__ = ["REQUIRED_RBAC", "Cluster", "MetricsUnavailable", "connect_cluster"]

REQUIRED_RBAC = (
    ("apps", "deployments", "list"),
    ("apps", "statefulsets", "list"),
    ("metrics.k8s.io", "pods", "list"),
)
"""(apiGroup, resource, verb) a ClusterRole for `finops collect kubernetes` grants."""

_TIMEOUT = 30
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class MetricsUnavailable(Exception):
    """The cluster does not serve metrics.k8s.io (no metrics-server)."""


@dataclass
class Cluster:
    """One connected cluster: its name in the bills, the context, and counted, retried calls."""

    name: str
    context: str
    api: client.ApiClient
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    retries: int = 4
    page_size: int = 500
    calls: int = 0
    retried: int = 0
    sleeps: list[float] = field(default_factory=list)

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def list(self, what: tuple[str, str, str], fetch: Callable[..., Any]) -> Iterator[dict]:
        """Every item of a list call, `page_size` at a time (`limit` / `continue`)."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size}
            if token:
                kwargs["_continue"] = token
            doc = self._call(what, functools.partial(fetch, **kwargs))
            yield from doc.get("items") or []
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return

    def deployments(self) -> Iterator[dict]:
        apps = client.AppsV1Api(self.api)
        return self.list(REQUIRED_RBAC[0], self._raw(apps.list_deployment_for_all_namespaces))

    def statefulsets(self) -> Iterator[dict]:
        apps = client.AppsV1Api(self.api)
        return self.list(REQUIRED_RBAC[1], self._raw(apps.list_stateful_set_for_all_namespaces))

    def pod_metrics(self) -> Iterator[dict]:
        custom = client.CustomObjectsApi(self.api)

        def fetch(**kw: Any) -> Any:
            return custom.list_cluster_custom_object(
                "metrics.k8s.io", "v1beta1", "pods", **kw, _preload_content=False,
                _request_timeout=_TIMEOUT,
            )  # fmt: skip

        return self.list(REQUIRED_RBAC[2], fetch)

    @staticmethod
    def _raw(method: Callable[..., Any]) -> Callable[..., Any]:
        def fetch(**kw: Any) -> Any:
            return method(**kw, _preload_content=False, _request_timeout=_TIMEOUT)

        return fetch

    def backoff(self, attempt: int) -> None:
        delay = min(30.0, 2.0**attempt) * self.jitter()
        self.retried += 1
        self.sleeps.append(delay)
        self.sleep(delay)

    def _call(self, what: tuple[str, str, str], fn: Callable[[], Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            self.calls += 1
            try:
                response = fn()
                return dict(json.loads(response.data))
            except ApiException as exc:
                if exc.status in _RETRY_STATUS and attempt < self.retries:
                    self.backoff(attempt)
                    attempt += 1
                    continue
                raise self._error(exc, what) from None
            except (HTTPError, OSError) as exc:
                raise CollectError(
                    f"cannot reach the Kubernetes API server {self.host} (context {self.context}): "
                    f"{type(exc).__name__}: {exc}"
                ) from None

    def _error(self, exc: ApiException, what: tuple[str, str, str]) -> Exception:
        group, resource, verb = what
        message = _message(exc)
        where = f"Kubernetes context {self.context} ({self.host})"
        if exc.status == 404 and group == "metrics.k8s.io":
            return MetricsUnavailable(message)
        if exc.status == 401:
            return CollectError(
                f"{where}: the API server rejected the credentials (401): {message}"
            )
        if exc.status == 403:
            return CollectError(
                f"{where}: forbidden to {verb} {resource}.{group} cluster-wide; grant RBAC verb "
                f'"{verb}" on "{resource}" in apiGroup "{group}" (403: {message})'
            )
        return CollectError(f"{where}: {verb} {resource}.{group} failed ({exc.status}): {message}")


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def connect_cluster(
    ref: KubeContext | None, kubeconfig: str | None
) -> tuple[client.ApiClient, str, str]:
    """(API client, cluster name in the bills, context name) for a configured context; None means
    the kubeconfig's current context."""
    if ref is not None and ref.context == "in-cluster":
        try:
            in_cluster: client.ApiClient = kube_api("in-cluster", None, in_cluster=True)
        except ConfigException as exc:
            raise CollectError(f"in-cluster Kubernetes configuration: {exc}") from None
        return in_cluster, str(ref.cluster), "in-cluster"
    path = kubeconfig_path(kubeconfig)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError) as exc:
        hint = "" if ref else " (or list collect.kubernetes.contexts; in a pod use in-cluster)"
        raise CollectError(f"cannot read kubeconfig {path}: {exc}{hint}") from None
    name = ref.context if ref else (current or {}).get("name")
    found = next((c for c in contexts or [] if c.get("name") == name), None)
    if found is None:
        known = ", ".join(sorted(str(c.get("name")) for c in contexts or [])) or "none"
        raise CollectError(f"no context {name!r} in kubeconfig {path} (contexts: {known})")
    entry = str((found.get("context") or {}).get("cluster") or name)
    cluster = (ref.cluster if ref else None) or entry.rpartition(":cluster/")[2] or entry
    try:
        api: client.ApiClient = kube_api(str(name), path)
    except (ConfigException, OSError) as exc:
        raise CollectError(f"Kubernetes context {name!r} from {path}: {exc}") from None
    return api, str(cluster), str(name)
