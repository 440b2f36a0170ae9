"""`finops collect kubernetes`: Deployments and StatefulSets with their containers' requests and
limits, and usage from metrics.k8s.io or Prometheus, for every configured context.

Resource ids follow the billed Kubernetes `ResourceId` (`cluster/namespace/kind/name`, kind in
lower case, as the demo company's and OpenCost-derived rows address controllers):

| kind | resource_id | example |
|---|---|---|
| k8s_deployment | `cluster/namespace/deployment/name` | `prod-eu-1/payments/deployment/api` |
| k8s_statefulset | `cluster/namespace/statefulset/name` | `prod-eu-1/search/statefulset/cache` |
| k8s_container | `cluster/namespace/kind/name/container` | `prod-eu-1/payments/deployment/api/c` |

`account_id` is the cluster (OpenCost puts it in `SubAccountId`), `region` is NULL; re-collecting
a cluster replaces its snapshot. Requests are written as samples at the collection's period:
`cpu_request_cores` and `memory_request_bytes` per pod on each container, and in total (× the
desired replicas) on the workload. Usage: see `k8s_usage`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from warehouse.cloud import CloudSettings
from warehouse.inventory.config import KubeContext, KubernetesCollectConfig
from warehouse.inventory.k8s_api import Cluster, MetricsUnavailable, connect_cluster
from warehouse.inventory.k8s_usage import (
    Prometheus,
    aggregate,
    from_metrics_api,
    owner_matcher,
    quantity,
)
from warehouse.inventory.models import (
    CollectResult,
    OnProgress,
    Resource,
    Sample,
    Scope,
    metrics_window,
    naive_utc,
)
from warehouse.inventory.store import write_collection

__all__ = ["collect_kubernetes", "workload_resources"]

_PROVIDER = "kubernetes"
_SPEC_SOURCE = "kubernetes:spec"


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _state(replicas: int, ready: int) -> str:
    if replicas == 0:
        return "scaled_to_zero"
    return "ready" if ready >= replicas else "degraded"


def _container(
    c: dict[str, Any], wid: str, parent: Resource, replicas: int
) -> tuple[Resource, dict[str, float]]:
    res = c.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    amounts = {
        "cpu_request_cores": quantity(requests.get("cpu")),
        "memory_request_bytes": quantity(requests.get("memory")),
        "cpu_limit_cores": quantity(limits.get("cpu")),
        "memory_limit_bytes": quantity(limits.get("memory")),
    }
    props = {
        "workload": wid,
        "namespace": parent.properties["namespace"],
        "image": c.get("image"),
        "replicas": replicas,
        "requests": dict(requests),
        "limits": dict(limits),
        **{k: v for k, v in amounts.items() if v is not None},
    }
    resource = Resource(
        _PROVIDER,
        f"{wid}/{c.get('name')}",
        "k8s_container",
        parent.source,
        account_id=parent.account_id,
        name=str(c.get("name")),
        state=parent.state,
        tags=dict(parent.tags),
        properties=props,
        launched_at=parent.launched_at,
    )
    return resource, {k: v for k, v in amounts.items() if v is not None}


def workload_resources(
    cluster: str, kind: str, obj: dict[str, Any], ts: datetime
) -> tuple[list[Resource], list[Sample]]:
    """A Deployment / StatefulSet object → its resource, its containers and their requests."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ns, name = str(meta.get("namespace", "default")), str(meta.get("name"))
    wid = f"{cluster}/{ns}/{kind}/{name}"
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    containers = list(pod_spec.get("containers") or [])
    workload = Resource(
        _PROVIDER,
        wid,
        f"k8s_{kind}",
        "kubernetes:apps/v1",
        account_id=cluster,
        name=name,
        state=_state(replicas, ready),
        tags=dict(meta.get("labels") or {}),
        properties={
            "cluster": cluster,
            "namespace": ns,
            "replicas": replicas,
            "ready_replicas": ready,
            "available_replicas": int(status.get("availableReplicas") or 0),
            "selector": (spec.get("selector") or {}).get("matchLabels") or {},
            "containers": [str(c.get("name")) for c in containers],
        },
        launched_at=_time(meta.get("creationTimestamp")),
    )
    resources, samples = [workload], []
    totals: dict[str, float] = {}
    for c in containers:
        resource, amounts = _container(c, wid, workload, replicas)
        resources.append(resource)
        for metric in ("cpu_request_cores", "memory_request_bytes"):
            if metric in amounts:
                samples.append(
                    Sample(resource.resource_id, metric, ts, amounts[metric], _SPEC_SOURCE)
                )
                totals[metric] = totals.get(metric, 0.0) + amounts[metric] * replicas
    samples += [Sample(wid, m, ts, v, _SPEC_SOURCE) for m, v in totals.items()]
    return resources, samples


def _refs(config: KubernetesCollectConfig, names: Sequence[str]) -> list[KubeContext | None]:
    if not names:
        return list(config.contexts) or [None]
    known = {c.context: c for c in config.contexts}
    return [known.get(n) or KubeContext(context=n) for n in dict.fromkeys(names)]


def _usage(
    cl: Cluster,
    prometheus_url: str | None,
    config: KubernetesCollectConfig,
    workloads: Iterable[tuple[str, str, str, str]],
    window: tuple[datetime, datetime],
    progress: OnProgress,
) -> tuple[list[Sample], list[str], int]:
    period = config.metrics_period_seconds
    owner = owner_matcher(workloads)
    if prometheus_url:
        progress(f"{cl.name}: Prometheus usage")
        prom = Prometheus(
            prometheus_url,
            cl.backoff,
            retries=config.retries,
            cluster_label=config.prometheus_cluster_label,
            cluster=cl.name,
        )
        rows = prom.usage(window[0], window[1], period)
        samples, _unmatched = aggregate(rows, owner, "prometheus")
        return samples, [], prom.calls
    progress(f"{cl.name}: metrics.k8s.io usage")
    try:
        rows = from_metrics_api(list(cl.pod_metrics()), period)
    except MetricsUnavailable:
        note = (
            f"{cl.name}: metrics.k8s.io is not served (is metrics-server installed?); usage was "
            "not collected (set collect.kubernetes.prometheus_url for history)"
        )
        return [], [note], 0
    samples, _unmatched = aggregate(rows, owner, "metrics.k8s.io")
    return samples, [], 0


@dataclass
class _Collected:
    resources: list[Resource] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)
    calls: int = 0
    retried: int = 0


def _collect_cluster(
    cl: Cluster,
    ref: KubeContext | None,
    config: KubernetesCollectConfig,
    window: tuple[datetime, datetime],
    out: _Collected,
    progress: OnProgress,
) -> None:
    found: list[tuple[str, str, str, str]] = []
    for kind, listing in (("deployment", cl.deployments), ("statefulset", cl.statefulsets)):
        progress(f"{cl.name}: {kind}s")
        for obj in listing():
            rows, requests = workload_resources(cl.name, kind, obj, window[1])
            out.resources += rows
            out.samples += requests
            w = rows[0]
            found.append((w.resource_id, str(w.properties["namespace"]), kind, str(w.name)))
    url = (ref.prometheus_url if ref else None) or config.prometheus_url
    usage, notes, prom_calls = _usage(cl, url, config, found, window, progress)
    out.samples += usage
    out.warnings += notes
    out.calls += cl.calls + prom_calls
    out.retried += cl.retried
    out.scopes.append(Scope(cl.name, None))


def collect_kubernetes(
    con: duckdb.DuckDBPyConnection,
    config: KubernetesCollectConfig,
    settings: CloudSettings,
    *,
    now: datetime,
    contexts: Sequence[str] = (),
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
    on_progress: OnProgress | None = None,
) -> CollectResult:
    """Collect workloads, requests and usage of each context and replace each cluster's snapshot.

    Example: `collect_kubernetes(con, KubernetesCollectConfig(contexts=["prod-eu"]),
    CloudSettings.from_environ(os.environ), now=datetime.now(UTC))`.
    """
    started = time.monotonic()
    progress = on_progress or (lambda _line: None)
    collected_at = naive_utc(now)
    assert collected_at is not None
    window = metrics_window(now, config.lookback_days, config.metrics_period_seconds)
    out = _Collected()
    for ref in _refs(config, contexts):
        api, name, context = connect_cluster(ref, settings.kubeconfig)
        cl = Cluster(
            name, context, api, sleep=sleep, jitter=jitter, retries=config.retries,
            page_size=config.page_size,
        )  # fmt: skip
        try:
            _collect_cluster(cl, ref, config, window, out, progress)
        finally:
            api.close()
    progress("writing the snapshot")
    written = write_collection(con, _PROVIDER, out.scopes, out.resources, out.samples, collected_at)
    return CollectResult.build(
        _PROVIDER, collected_at, out.scopes, written, window, calls=out.calls,
        retries=out.retried, warnings=out.warnings, started=started,
    )  # fmt: skip
