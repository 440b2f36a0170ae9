"""Kubernetes calls of the optimization actions: connect to a cluster, read a workload, patch it
(dry run or for real).

Which cluster. A workload is named by the cluster the bills and the inventory use (the first part
of `cluster/namespace/kind/name`) or by a kubeconfig context. A cluster maps to its context
through `collect.kubernetes.contexts` (the entries `finops collect kubernetes` uses, so findings
and actions address the same cluster), else `FINOPS_KUBE_CONTEXTS` or a kubeconfig context or
cluster entry of that name (`tools.vtags.tagback_k8s.context_for`); never the current context by
default, since the same namespace and deployment names exist in many clusters. The client itself
comes from the collector's factory (`warehouse.inventory.k8s_api.connect_cluster`: kubeconfig
path from `KUBECONFIG`, or `in-cluster`).

How. Objects are read as plain JSON (`_preload_content=False`). Every change is a strategic
merge patch of the Deployment / StatefulSet carrying the `resourceVersion` just read (a concurrent
edit fails with 409 rather than being overwritten), sent first with `dryRun=All` (the API server
validates and admits it, changes nothing) and then for real.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from tools.actions.base import ActionError
from tools.vtags.tagback_k8s import context_for
from tools.vtags.tagback_models import Skip
from warehouse.cloud import CloudSettings
from warehouse.inventory.config import KubeContext
from warehouse.inventory.k8s_api import connect_cluster
from warehouse.inventory.k8s_usage import quantity
from warehouse.inventory.models import CollectError

__all__ = [
    "KINDS",
    "PREVIOUS",
    "PROTECT_KEYS",
    "Conn",
    "Workload",
    "connect",
    "cpu_text",
    "memory_text",
    "name_problem",
    "patch",
    "read",
    "same_quantity",
]

KINDS = ("deployment", "statefulset")
PREVIOUS = "finops.io/previous-replicas"
"""Annotation holding the replica count a scale-to-zero replaced (removed when scaled back)."""
PROTECT_KEYS = ("finops.io/protected",)
"""Label / annotation keys that protect a workload, besides `optimize.protect_keys`."""

_STRATEGIC = "application/strategic-merge-patch+json"
_TIMEOUT = 30
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MIB = 2**20


@dataclass(frozen=True)
class Workload:
    """A Deployment or StatefulSet as the API server reports it now."""

    kind: str
    namespace: str
    name: str
    replicas: int
    resource_version: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    requests: dict[str, dict[str, str]] = field(default_factory=dict)
    """Container name → its `resources.requests`."""

    @classmethod
    def from_doc(cls, kind: str, doc: Mapping[str, Any]) -> Workload:
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        replicas = spec.get("replicas")
        return cls(
            kind=kind,
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            replicas=1 if replicas is None else int(replicas),
            resource_version=str(meta.get("resourceVersion") or ""),
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
            requests={
                str(c.get("name")): {
                    str(k): str(v)
                    for k, v in ((c.get("resources") or {}).get("requests") or {}).items()
                }
                for c in pod.get("containers") or []
            },
        )

    @property
    def marks(self) -> dict[str, str]:
        """Labels and annotations (where protection may be set)."""
        return {**self.annotations, **self.labels}


@dataclass
class Conn:
    """One connected cluster: its name in the bills, its context and the API client."""

    cluster: str
    context: str
    api: client.ApiClient

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()


def name_problem(namespace: str, name: str) -> str | None:
    """Why a namespace / workload name is not a valid Kubernetes name, or None."""
    if len(namespace) > 63 or not _DNS.match(namespace) or "." in namespace:
        return f"invalid Kubernetes namespace {namespace!r}"
    if len(name) > 253 or not _DNS.match(name):
        return f"invalid Kubernetes name {name!r}"
    return None


def _ref(cluster: str | None, context: str | None, config: Any, s: CloudSettings) -> KubeContext:
    collect = getattr(getattr(config, "collect", None), "kubernetes", None)
    known: list[KubeContext] = list(getattr(collect, "contexts", None) or [])
    if context:
        found = next((k for k in known if k.context == context), None)
        return found or KubeContext(context=context, cluster=cluster)
    if not cluster:
        raise ActionError("give the workload's cluster (as in the bills) or a kubeconfig context")
    found = next((k for k in known if (k.cluster or k.context) == cluster), None)
    if found is not None:
        return found
    mapped = context_for(cluster, s)
    if isinstance(mapped, Skip):
        raise ActionError(mapped.reason)
    return KubeContext(context=mapped, cluster=cluster)


def connect(cluster: str | None, context: str | None, config: Any, s: CloudSettings) -> Conn:
    """A client for the cluster (name in the bills) or kubeconfig context; ActionError if none."""
    ref = _ref(cluster, context, config, s)
    try:
        api, name, ctx_name = connect_cluster(ref, s.kubeconfig)
    except CollectError as exc:
        raise ActionError(str(exc)) from None
    return Conn(cluster=cluster or name, context=ctx_name, api=api)


def _suffix(kind: str) -> str:
    if kind not in KINDS:
        raise ActionError(f"kind {kind!r}: only {' and '.join(KINDS)} are scaled or patched")
    return "deployment" if kind == "deployment" else "stateful_set"


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def _fail(conn: Conn, verb: str, kind: str, ns: str, name: str, exc: Exception) -> ActionError:
    where = f"{conn.cluster}/{ns}/{kind}/{name} (context {conn.context})"
    if isinstance(exc, ApiException):
        if exc.status == 409:
            return ActionError(f"{where} changed concurrently (409 Conflict); left alone")
        if exc.status == 403:
            return ActionError(
                f"{where}: forbidden to {verb} {kind}s.apps (403); grant RBAC verb {verb!r} "
                f"on {kind}s in apiGroup apps: {_message(exc)}"
            )
        return ActionError(f"{where}: {verb} refused ({exc.status}): {_message(exc)}")
    return ActionError(f"{where}: cannot reach the API server: {type(exc).__name__}: {exc}")


def read(conn: Conn, kind: str, ns: str, name: str) -> Workload | None:
    """The workload now, None when it does not exist."""
    fn = getattr(client.AppsV1Api(conn.api), f"read_namespaced_{_suffix(kind)}")
    try:
        response = fn(name, ns, _preload_content=False, _request_timeout=_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise _fail(conn, "get", kind, ns, name, exc) from None
    except (HTTPError, OSError) as exc:
        raise _fail(conn, "get", kind, ns, name, exc) from None
    return Workload.from_doc(kind, json.loads(response.data))


def patch(conn: Conn, w: Workload, body: Mapping[str, Any], *, dry_run: bool) -> Workload:
    """Strategic-merge-patch `w` at the resourceVersion it was read at; with `dry_run` the API
    server validates and answers with the would-be object, changing nothing."""
    fn = getattr(client.AppsV1Api(conn.api), f"patch_namespaced_{_suffix(w.kind)}")
    meta = {**(body.get("metadata") or {}), "resourceVersion": w.resource_version}
    extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    try:
        response = fn(
            w.name,
            w.namespace,
            {**body, "metadata": meta},
            **extra,
            _content_type=_STRATEGIC,
            _preload_content=False,
            _request_timeout=_TIMEOUT,
        )
    except (ApiException, HTTPError, OSError) as exc:
        verb = "patch (dry run)" if dry_run else "patch"
        raise _fail(conn, verb, w.kind, w.namespace, w.name, exc) from None
    return Workload.from_doc(w.kind, json.loads(response.data))


def cpu_text(cores: float) -> str:
    """Cores as a request quantity, rounded up to a millicore: 0.5751 → "576m"."""
    return f"{math.ceil(round(cores * 1000, 6))}m"


def memory_text(size: float) -> str:
    """Bytes as a request quantity, rounded up to a MiB: 1.2e9 → "1145Mi"."""
    return f"{math.ceil(round(size / _MIB, 6))}Mi"


def same_quantity(a: str | None, b: str | None) -> bool:
    """Whether two quantities are equal by value ("2" == "2000m"); None is "not set"."""
    if a is None or b is None:
        return a is b
    qa, qb = quantity(a), quantity(b)
    return qa is not None and qb is not None and math.isclose(qa, qb, rel_tol=1e-9)
