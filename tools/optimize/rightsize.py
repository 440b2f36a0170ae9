"""Instance rightsizing: the cheapest size of the same family that fits the measured peak.

AWS Compute Optimizer's method and defaults: over the last `lookback_days` (14), the CPU need is
the p99.5 of `cpu_percent` × vCPUs × (1 + 20% headroom); the memory need, when `memory_percent`
is collected, is its maximum × memory × (1 + 20% headroom). The recommendation is the cheapest
size of the same family (m5 stays m5, n2-standard stays n2-standard, Ds_v5 stays Ds_v5) in the
bundled price table whose vCPUs and memory cover both needs, that is strictly cheaper and no larger
in any dimension, and — for burstable sizes — whose baseline covers the sustained (mean) CPU with
the same headroom. Without a memory metric the size fits CPU only and the finding says so
(`require_memory: true` skips such instances instead). Kubernetes requests are in
`tools.optimize.kubernetes`.

Saving: billed run rate × (1 − new price / old price), the ratio read from the price table in the
resource's region (or the family's reference region: ratios within a family hardly differ between
regions); list prices × 730 h only where the bills lack the resource.
"""

from __future__ import annotations

from tools.optimize.common import Inputs, bill_saving, list_saving, make_finding, window_text
from tools.optimize.models import Evidence, Finding, Saving
from tools.optimize.prices import Shape
from warehouse.inventory.models import Resource

__all__ = ["SOURCES", "rightsize_instance"]

SOURCES = {
    "instance_rightsize": "AWS Compute Optimizer rightsizing defaults "
    "(PutRecommendationPreferences: CPU threshold P99_5, CPU headroom PERCENT_20, memory "
    "headroom PERCENT_20); cheapest size of the same family that fits",
}


def _needs(inp: Inputs, r: Resource, shape: Shape) -> dict[str, float | None] | None:
    cfg = inp.cfg.rightsize
    cpu = inp.stat(r, "cpu_percent")
    if cpu is None or cpu.days < cfg.min_days_with_data:
        return None
    mem = inp.stat(r, "memory_percent")
    if mem is not None and mem.days < cfg.min_days_with_data:
        mem = None
    if mem is None and cfg.require_memory:
        return None
    cpu_peak = cpu.percentiles[cfg.cpu_percentile]
    headroom = 1 + cfg.cpu_headroom_percent / 100
    mem_peak = mem.percentiles[cfg.memory_percentile] if mem else None
    mem_headroom = 1 + cfg.memory_headroom_percent / 100
    # needs are rounded to 1e-6 so that a need exactly equal to a size fits it despite float error
    return {
        "cpu_peak_percent": cpu_peak,
        "vcpu_needed": round(cpu_peak / 100 * shape.vcpu * headroom, 6),
        "sustained_vcpu": round(cpu.mean / 100 * shape.vcpu * headroom, 6),
        "memory_peak_percent": mem_peak,
        "memory_needed_gib": None
        if mem_peak is None
        else round(mem_peak / 100 * shape.memory_gib * mem_headroom, 6),
    }


def _instance_saving(inp: Inputs, r: Resource, old: Shape, new: Shape) -> Saving:
    bill = inp.bill(r)
    ratio = new.price / old.price
    if bill is not None:
        return bill_saving(
            bill, 1 - ratio, f"(1 − {new.price}/{old.price} list price ratio, {old.region})"
        )
    return list_saving(
        old.price - new.price, f"{old.name} {old.price}/h → {new.name} {new.price}/h, {old.region}"
    )


def _instance_evidence(inp: Inputs, r: Resource, needs: dict[str, float | None]) -> list[Evidence]:
    cfg = inp.cfg.rightsize
    assert inp.util_until is not None
    window = window_text(inp.util_until, cfg.lookback_days)
    out = [
        Evidence(
            metric="cpu_percent",
            statistic=f"p{cfg.cpu_percentile:g}",
            window=window,
            value=round(float(needs["cpu_peak_percent"] or 0), 3),
            unit="%",
            detail=f"needs {needs['vcpu_needed']:.2f} vCPU with "
            f"{cfg.cpu_headroom_percent:g}% headroom",
        )
    ]
    if needs["memory_peak_percent"] is None:
        out.append(
            Evidence(
                metric="memory_percent",
                statistic="not collected",
                window=window,
                detail="sized by CPU only: check memory before resizing",
            )
        )
    else:
        out.append(
            Evidence(
                metric="memory_percent",
                statistic=f"p{cfg.memory_percentile:g}",
                window=window,
                value=round(float(needs["memory_peak_percent"]), 3),
                unit="%",
                detail=f"needs {needs['memory_needed_gib']:.2f} GiB with "
                f"{cfg.memory_headroom_percent:g}% headroom",
            )
        )
    return out


def rightsize_instance(inp: Inputs, r: Resource) -> Finding | None:
    """The cheapest smaller size of the family that fits the measured peak with headroom."""
    if r.kind not in inp.cfg.idle.instance_kinds or (r.state or "running") != "running":
        return None
    current = inp.prices.lookup(r.provider, r.instance_type, r.region)
    if current is None:
        return None
    needs = _needs(inp, r, current)
    if needs is None:
        return None
    target = inp.prices.cheapest_fit(
        current,
        vcpu_needed=float(needs["vcpu_needed"] or 0),
        memory_needed=needs["memory_needed_gib"],
        sustained_vcpu=float(needs["sustained_vcpu"] or 0),
    )
    if target is None:
        return None
    saving = _instance_saving(inp, r, current, target)
    if saving.monthly is None or saving.monthly < inp.cfg.rightsize.min_monthly_saving:
        return None
    return make_finding(
        inp,
        r,
        kind="rightsize",
        rule="instance_rightsize",
        source=SOURCES["instance_rightsize"],
        action="resize_instance",
        summary=f"resize {r.label} {current.name} ({current.vcpu} vCPU, {current.memory_gib:g} "
        f"GiB) → {target.name} ({target.vcpu} vCPU, {target.memory_gib:g} GiB)",
        saving=saving,
        evidence=_instance_evidence(inp, r, needs),
        current=current.name,
        recommended=target.name,
        details={
            **needs,
            "current_vcpu": current.vcpu,
            "current_memory_gib": current.memory_gib,
            "recommended_vcpu": target.vcpu,
            "recommended_memory_gib": target.memory_gib,
            "price_region": current.region,
            "current_price_per_hour": current.price,
            "recommended_price_per_hour": target.price,
            "memory_known": needs["memory_peak_percent"] is not None,
        },
    )
