"""Kubernetes: label the workload or namespace a billed allocation belongs to.

Which object. The bill's rows are addressed, in this order, by:

1. a `ResourceId` `cluster/namespace/kind/name` (or `namespace/kind/name`, cluster from the row),
   kind deployment, statefulset or daemonset (the demo company's format);
2. the OpenCost connector's tags (see `warehouse/ingest/opencost.py`: `ResourceId` is the pod, the
   labels carry `namespace`, `controller`, `controller_kind` and `cluster`): pods of a deployment,
   statefulset or daemonset are labelled on their controller (pods of one controller become one
   target, and must agree on the value);
3. `ResourceType` Namespace: the namespace itself (its `ResourceId`, or the `namespace` tag).

Anything else (pods without a controller, jobs, nodes, OpenCost's `__idle__`) is skipped with the
reason. The cluster is the row's `cluster` tag, else its `SubAccountId` (OpenCost's cluster id),
and it must have a kubeconfig context: the one `FINOPS_KUBE_CONTEXTS` maps it to, else a context
or kubeconfig cluster entry of that name. Never the current context by default: the same
namespace and deployment names exist in many clusters.

How. The official `kubernetes` client: GET the object, then a JSON merge patch of
`metadata.labels` carrying the `resourceVersion` just read, so a concurrent edit fails with 409
rather than being overwritten. Labels on the workload's own metadata are not selectors, so pods
are not restarted; namespace labels can feed NetworkPolicy / admission selectors, which is why a
namespace target raises the proposal's risk. Keys and values are validated as Kubernetes labels
(value: at most 63 characters, alphanumerics with `-`, `_`, `.` inside).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from tools.vtags.tagback_models import Candidate, Live, Skip, TagBackError
from warehouse.cloud import CloudSettings, kube_api, kubeconfig_path
from warehouse.errors import QueryError

__all__ = ["KUBERNETES", "K8sBackend", "label_key_problem", "label_value_ok", "locate"]

WORKLOADS = ("deployment", "statefulset", "daemonset")
_MERGE = "application/merge-patch+json"
_LABEL = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RESERVED = ("kubernetes.io", "k8s.io")
_TIMEOUT = 30


def label_value_ok(value: str) -> bool:
    """A valid label value: empty, or ≤63 alphanumerics with - _ . inside."""
    return len(value) <= 63 and bool(_LABEL.match(value))


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a label key this tool may write (`[prefix/]name`), or None."""
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _LABEL.match(name):
        return f"label key {key!r}: the name part must be 1-63 alphanumerics with - _ . inside"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: the prefix must be a DNS subdomain"
    if any(prefix == r or prefix.endswith("." + r) for r in _RESERVED):
        return f"label key {key!r}: the {prefix} prefix is reserved for Kubernetes"
    return None


def _name_ok(name: str, kind: str) -> bool:
    if kind == "namespace":
        return len(name) <= 63 and bool(_DNS_LABEL.match(name))
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


def locate(c: Candidate) -> tuple[str | None, str, str, str] | Skip:
    """(cluster, kind, namespace, name) of the object a billed Kubernetes resource belongs to."""
    tags = {k: str(v) for k, v in c.tags.items() if v is not None}
    parts = c.resource_id.split("/")
    cluster = tags.get("cluster") or c.account
    if len(parts) == 4 and parts[2].lower() in WORKLOADS:
        cluster, ns, kind, name = parts[0], parts[1], parts[2].lower(), parts[3]
    elif len(parts) == 3 and parts[1].lower() in WORKLOADS:
        ns, kind, name = parts[0], parts[1].lower(), parts[2]
    elif tags.get("controller") and tags.get("controller_kind", "").lower() in WORKLOADS:
        ns, kind, name = (
            tags.get("namespace", ""),
            tags["controller_kind"].lower(),
            tags["controller"],
        )
    elif (c.resource_type or "").lower() == "namespace":
        ns, kind, name = "", "namespace", tags.get("namespace") or c.resource_id
    else:
        why = "not a deployment, statefulset, daemonset or namespace (nor a pod of one)"
        return Skip(resource=c.resource_id, reason=why)
    if not _name_ok(name, kind) or (kind != "namespace" and not _name_ok(ns, "namespace")):
        return Skip(resource=c.resource_id, reason=f"invalid Kubernetes name {ns}/{name}")
    return cluster, kind, ns, name


def context_for(cluster: str, settings: CloudSettings) -> str | Skip:
    """The kubeconfig context for a cluster named in the bills, or why there is none."""
    if cluster in settings.kube_contexts:
        return settings.kube_contexts[cluster]
    path = kubeconfig_path(settings.kubeconfig)
    try:
        contexts, _current = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError) as exc:
        return Skip(resource=cluster, reason=f"cannot read kubeconfig {path}: {exc}")
    for ctx in contexts or []:
        if ctx.get("name") == cluster or (ctx.get("context") or {}).get("cluster") == cluster:
            return str(ctx["name"])
    return Skip(
        resource=cluster,
        reason=f"no kubeconfig context for cluster {cluster!r} (name a context or cluster entry "
        f"after it, or set FINOPS_KUBE_CONTEXTS={cluster}=CONTEXT)",
    )


def _api(context: str, settings: CloudSettings) -> client.ApiClient:
    path = kubeconfig_path(settings.kubeconfig)
    try:
        api: client.ApiClient = kube_api(context, path)
    except (ConfigException, OSError) as exc:
        raise TagBackError(f"Kubernetes context {context!r} from {path}: {exc}") from None
    return api


def _op(api: client.ApiClient, verb: str, kind: str) -> Callable[..., Any]:
    if kind == "namespace":
        return getattr(client.CoreV1Api(api), f"{verb}_namespace")
    suffix = {"deployment": "deployment", "statefulset": "stateful_set", "daemonset": "daemon_set"}
    return getattr(client.AppsV1Api(api), f"{verb}_namespaced_{suffix[kind]}")


def _args(t: Mapping[str, Any]) -> list[str]:
    return [t["name"]] if t["kind"] == "namespace" else [t["name"], t["namespace"]]


def _get(api: client.ApiClient, t: Mapping[str, Any]) -> tuple[dict[str, str], str] | None:
    """(labels, resourceVersion) of the object, None when it does not exist."""
    try:
        obj = _op(api, "read", str(t["kind"]))(*_args(t), _request_timeout=_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    meta = obj.metadata
    return dict(meta.labels or {}), str(meta.resource_version or "")


def _patch(api: client.ApiClient, t: Mapping[str, Any], key: str, version: str) -> None:
    body = {"metadata": {"labels": {key: t["value"]}, "resourceVersion": version}}
    _op(api, "patch", str(t["kind"]))(
        *_args(t), body, _content_type=_MERGE, _request_timeout=_TIMEOUT
    )


def _apply_one(api: client.ApiClient, key: str, t: Mapping[str, Any]) -> str | None:
    """Patch one object; the error, or None when it changed."""
    try:
        found = _get(api, t)
        if found is None:
            return "no longer exists"
        labels, version = found
        if labels.get(key) != t.get("previous"):
            return f"changed concurrently ({key}={labels.get(key)!r} now); left alone"
        _patch(api, t, key, version)
    except ApiException as exc:
        if exc.status == 409:
            return "changed concurrently (409 Conflict); left alone"
        return f"HTTP {exc.status} {exc.reason}"
    except (HTTPError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class K8sBackend:
    """Labels on Kubernetes workloads and namespaces through the official client."""

    provider: str = "Kubernetes"
    permissions: tuple[str, ...] = (
        "apps/deployments:get",
        "apps/deployments:patch",
        "apps/statefulsets:get",
        "apps/statefulsets:patch",
        "apps/daemonsets:get",
        "apps/daemonsets:patch",
        "namespaces:get",
        "namespaces:patch",
    )

    def check_key(self, key: str) -> None:
        problem = label_key_problem(key)
        if problem:
            raise QueryError(problem)

    def value_problem(self, value: str) -> str | None:
        if label_value_ok(value):
            return None
        return f"value {value!r} is not a valid label value (max 63 alphanumerics, - _ . inside)"

    def target(self, c: Candidate, settings: CloudSettings) -> dict[str, Any] | Skip:
        found = locate(c)
        if isinstance(found, Skip):
            return found
        cluster, kind, ns, name = found
        if not cluster:
            return Skip(resource=c.resource_id, reason="no cluster (tag cluster or SubAccountId)")
        context = context_for(cluster, settings)
        if isinstance(context, Skip):
            return Skip(resource=c.resource_id, reason=context.reason)
        return {
            "resource_id": c.resource_id,
            "cluster": cluster,
            "context": context,
            "kind": kind,
            "namespace": ns,
            "name": name,
        }

    def ref(self, target: Mapping[str, Any]) -> str:
        if target["kind"] == "namespace":
            return f"{target['cluster']}/namespace/{target['name']}"
        return f"{target['cluster']}/{target['namespace']}/{target['kind']}/{target['name']}"

    def read(self, targets: Sequence[Mapping[str, Any]], settings: CloudSettings) -> Live:
        out: dict[str, dict[str, str] | None] = {}
        for context in sorted({str(t["context"]) for t in targets}):
            with _api(context, settings) as api:
                for t in (t for t in targets if t["context"] == context):
                    try:
                        found = _get(api, t)
                    except (ApiException, HTTPError, OSError) as exc:
                        raise TagBackError(f"Kubernetes {self.ref(t)}: {exc}") from None
                    out[self.ref(t)] = None if found is None else found[0]
        return out

    def apply(
        self, key: str, targets: Sequence[Mapping[str, Any]], settings: CloudSettings
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        changed: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for context in sorted({str(t["context"]) for t in targets}):
            group = [t for t in targets if t["context"] == context]
            try:
                api = _api(context, settings)
            except TagBackError as exc:
                failed.extend({"resource": self.ref(t), "error": str(exc)} for t in group)
                continue
            with api:
                for t in group:
                    error = _apply_one(api, key, t)
                    if error:
                        failed.append({"resource": self.ref(t), "error": error})
                    else:
                        changed.append(dict(t))
        return changed, failed


KUBERNETES = K8sBackend()
