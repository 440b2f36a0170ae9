"""Kubernetes: idle workloads (scale to zero) and container requests (VPA-style).

**Idle** (`k8s_idle`, this project's rule — there is no published standard): a Deployment or
StatefulSet whose CPU usage stayed at most `k8s_max_cpu_percent_of_request` (5%) of its CPU
request (daily maxima) and that served no requests (when `request_count` is collected) on each of
the last `k8s_days` (7) days, with samples on `min_coverage_percent` of them. Saving: its bill.
Usage and requests on a workload are its totals over pods (as `finops collect kubernetes` writes
them); on a container they are per pod, so container savings are × `properties.replicas`.

**Requests** (`k8s_requests`, the VPA recommender's defaults): new CPU request = max(25
millicores, p90 of `cpu_usage_cores` × 1.15); new memory request = max(250 MiB, p95 of
`memory_usage_bytes` × 1.15). A request is only lowered, never raised, and only by at least
`min_reduction_percent` (20%). Containers are sized when collected (their workload is then not
sized again). Saving: the CPU and RAM parts of the workload's bill (OpenCost `SkuMeter` CPU / RAM)
× the share of its requests removed; a bill without parts is weighted by OpenCost's default
prices; with no bill, those list prices × 730 h.
"""

from __future__ import annotations

from decimal import Decimal

from tools.optimize.common import (
    Inputs,
    bill_saving,
    days_back,
    full_saving,
    list_saving,
    make_finding,
    quiet_days,
    window_text,
)
from tools.optimize.models import Evidence, Finding, Saving
from warehouse.inventory.models import Resource

__all__ = ["SOURCES", "k8s_idle", "latest", "request_findings"]

SOURCES = {
    "k8s_idle": "this project's rule (no published standard): CPU usage never above 5% of the "
    "CPU request and no requests served (when collected) on each of the last 7 days",
    "k8s_requests": "Kubernetes Vertical Pod Autoscaler recommender defaults (target CPU "
    "percentile 0.9, --recommendation-margin-fraction 0.15, --pod-recommendation-min-cpu-"
    "millicores 25, --pod-recommendation-min-memory-mb 250)",
}
_GIB = 2**30
_MIB = 2**20


def latest(inp: Inputs, r: Resource, metric: str) -> float | None:
    """The metric's mean on the most recent day with samples."""
    series = inp.day_series(r, metric)
    return series[max(series)].mean if series else None


def _k8s_list_hourly(inp: Inputs, r: Resource) -> Decimal | None:
    k = inp.cfg.kubernetes
    cpu, mem = latest(inp, r, "cpu_request_cores"), latest(inp, r, "memory_request_bytes")
    if cpu is None and mem is None:
        return None
    cores = Decimal(str(cpu or 0))
    gib = Decimal(str(mem or 0)) / Decimal(2**30)
    return cores * k.core_hour_price + gib * k.gib_hour_price


def _idle_evidence(
    window: str,
    worst: float,
    limit: float,
    seen: int,
    request: float | None,
    pct: float,
    served: bool,
) -> list[Evidence]:
    share = f" ({pct:g}% of the request)" if request else " (no CPU request)"
    out = [
        Evidence(
            metric="cpu_usage_cores",
            statistic="daily maximum, highest day",
            window=window,
            value=round(worst, 4),
            unit="cores",
            threshold=f"≤ {limit:.4g} cores every day{share}",
            detail=f"{seen} days with data",
        )
    ]
    if served:
        out.append(
            Evidence(
                metric="request_count",
                statistic="total",
                window=window,
                value=0,
                unit="requests",
                threshold="0",
            )
        )
    return out


def k8s_idle(inp: Inputs, r: Resource) -> Finding | None:
    cfg = inp.cfg.idle
    if r.kind not in ("k8s_deployment", "k8s_statefulset") or inp.util_until is None:
        return None
    if r.properties.get("replicas") == 0:
        return None
    request = latest(inp, r, "cpu_request_cores")
    limit = request * cfg.k8s_max_cpu_percent_of_request / 100 if request else cfg.k8s_max_cpu_cores
    quiet, seen, worst = quiet_days(
        inp, r, "cpu_usage_cores", cfg.k8s_days, lambda v: v <= limit, peak=True
    )
    served = inp.day_series(r, "request_count")
    days = set(days_back(inp.util_until, cfg.k8s_days))
    if not quiet or sum(s.total for d, s in served.items() if d in days) > 0:
        return None
    window = window_text(inp.util_until, cfg.k8s_days)
    pct = cfg.k8s_max_cpu_percent_of_request
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="k8s_idle",
        source=SOURCES["k8s_idle"],
        action="scale_to_zero",
        summary=f"scale {r.label} to zero: CPU usage at most {worst:.3f} cores for "
        f"{cfg.k8s_days} days" + (", no requests served" if served else ""),
        saving=full_saving(inp, r, _k8s_list_hourly(inp, r), "scaling to zero"),
        evidence=_idle_evidence(window, worst, limit, seen, request, pct, bool(served)),
        current=f"{request:g} cores requested" if request else None,
    )


def _new_request(
    inp: Inputs, r: Resource, usage_metric: str, current: float | None, pct: float, floor: float
) -> tuple[float, float] | None:
    """(proposed request, usage percentile) when the request should drop, else None."""
    usage = inp.stat(r, usage_metric)
    k = inp.cfg.kubernetes
    if usage is None or not current or usage.days < k.min_days_with_data:
        return None
    used = usage.percentiles[pct]
    proposed = max(floor, used * (1 + k.margin_percent / 100))
    if proposed > current * (1 - k.min_reduction_percent / 100):
        return None
    return proposed, used


def _billed(inp: Inputs, r: Resource) -> Resource:
    """The resource whose bills cover `r`: a container's workload (if inventoried), else `r`."""
    if r.kind == "k8s_container":
        parent = inp.by_id.get(str(r.properties.get("workload", "")))
        if parent is not None:
            return parent
    return r


def _replicas(r: Resource) -> int:
    """Pods a container's per-pod request applies to (workload requests are already totals)."""
    if r.kind != "k8s_container":
        return 1
    return max(int(r.properties.get("replicas") or 1), 1)


def _totals(inp: Inputs, r: Resource, billed: Resource) -> tuple[Decimal, Decimal]:
    """(cores, GiB) requested by the billed resource in total."""
    scale = Decimal(_replicas(r)) if billed is r else Decimal(1)
    cores = Decimal(str(latest(inp, billed, "cpu_request_cores") or 0)) * scale
    gib = Decimal(str(latest(inp, billed, "memory_request_bytes") or 0)) / _GIB * scale
    return cores, gib


def _request_saving(inp: Inputs, r: Resource, cores: Decimal, gib: Decimal) -> Saving:
    """Saving of requesting `cores` and `gib` fewer in total (all replicas)."""
    k = inp.cfg.kubernetes
    billed = _billed(inp, r)
    total_cores, total_gib = _totals(inp, r, billed)
    cpu_frac = cores / total_cores if total_cores else Decimal(0)
    mem_frac = gib / total_gib if total_gib else Decimal(0)
    bill = inp.bill(billed)
    whose = "" if billed is r else f" of workload {billed.label}"
    if bill is not None and (bill.cpu_cost or bill.memory_cost):
        share = (bill.cpu_cost * cpu_frac + bill.memory_cost * mem_frac) / bill.cost
        what = f"(CPU part × {cpu_frac:.1%} + RAM part × {mem_frac:.1%} fewer requested{whose})"
        return bill_saving(bill, share, what)
    cpu_h, mem_h = cores * k.core_hour_price, gib * k.gib_hour_price
    list_total = total_cores * k.core_hour_price + total_gib * k.gib_hour_price
    if bill is not None and list_total > 0:
        share = (cpu_h + mem_h) / list_total
        return bill_saving(
            bill,
            share,
            f"{share:.1%} fewer requested{whose} (CPU/RAM weighted by OpenCost default prices)",
        )
    return list_saving(cpu_h + mem_h, "OpenCost default core/GiB prices")


def _request_evidence(
    inp: Inputs,
    cur: tuple[float | None, float | None],
    cpu: tuple[float, float] | None,
    mem: tuple[float, float] | None,
) -> tuple[list[Evidence], list[str], list[str]]:
    """Evidence, current requests and proposed requests, as text."""
    k = inp.cfg.kubernetes
    assert inp.util_until is not None
    window = window_text(inp.util_until, k.lookback_days)
    evidence, now, new = [], [], []
    if cpu is not None and cur[0]:
        evidence.append(
            Evidence(
                metric="cpu_usage_cores",
                statistic=f"p{k.cpu_percentile:g}",
                window=window,
                value=round(cpu[1], 4),
                unit="cores",
                detail=f"request {cur[0]:g} → {cpu[0]:.3f} cores (+{k.margin_percent:g}% margin, "
                f"floor {k.min_cpu_cores:g})",
            )
        )
        now.append(f"cpu {cur[0]:g}")
        new.append(f"cpu {cpu[0]:.3f}")
    if mem is not None and cur[1]:
        evidence.append(
            Evidence(
                metric="memory_usage_bytes",
                statistic=f"p{k.memory_percentile:g}",
                window=window,
                value=round(mem[1] / _MIB, 1),
                unit="MiB",
                detail=f"request {cur[1] / _MIB:,.0f} → {mem[0] / _MIB:,.0f} MiB "
                f"(+{k.margin_percent:g}% margin, floor {k.min_memory_mib:g} MiB)",
            )
        )
        now.append(f"memory {cur[1] / _MIB:,.0f}Mi")
        new.append(f"memory {mem[0] / _MIB:,.0f}Mi")
    return evidence, now, new


def request_findings(inp: Inputs, r: Resource) -> Finding | None:
    """Lower a workload's CPU / memory requests to p90 / p95 usage plus the margin."""
    if r.kind not in ("k8s_container", "k8s_deployment", "k8s_statefulset"):
        return None
    if r.properties.get("replicas") == 0 or r.resource_id in inp.workloads_with_containers:
        return None  # scaled to zero, or sized per container (never twice)
    k = inp.cfg.kubernetes
    cur_cpu = latest(inp, r, "cpu_request_cores")
    cur_mem = latest(inp, r, "memory_request_bytes")
    cpu = _new_request(inp, r, "cpu_usage_cores", cur_cpu, k.cpu_percentile, k.min_cpu_cores)
    mem = _new_request(
        inp, r, "memory_usage_bytes", cur_mem, k.memory_percentile, k.min_memory_mib * _MIB
    )
    if cpu is None and mem is None:
        return None
    pods = Decimal(_replicas(r))
    cores = Decimal(str((cur_cpu or 0) - cpu[0])) * pods if cpu else Decimal(0)
    gib = Decimal(str((cur_mem or 0) - mem[0])) / _GIB * pods if mem else Decimal(0)
    saving = _request_saving(inp, r, cores, gib)
    if saving.monthly is None or saving.monthly < k.min_monthly_saving:
        return None
    evidence, now, new = _request_evidence(inp, (cur_cpu, cur_mem), cpu, mem)
    return make_finding(
        inp,
        r,
        kind="rightsize",
        rule="k8s_requests",
        source=SOURCES["k8s_requests"],
        action="set_requests",
        summary=f"lower requests of {r.label}: {', '.join(now)} → {', '.join(new)}",
        saving=saving,
        evidence=evidence,
        current=", ".join(now),
        recommended=", ".join(new),
        details={
            "cpu_request_cores": cur_cpu,
            "memory_request_bytes": cur_mem,
            "recommended_cpu_cores": cpu[0] if cpu else cur_cpu,
            "recommended_memory_bytes": mem[0] if mem else cur_mem,
            "replicas": _replicas(r),
        },
    )
