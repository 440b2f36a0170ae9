"""One optimization run: load once, apply idle → rightsizing → commitments, protect, total.

A resource found idle is not also rightsized (stopping it saves more). Resources tagged
`finops:protected=true` (inventory tags or bill tags; `finops/protected` for Kubernetes labels)
are never recommended for a change: they are listed as skipped with the rules they matched.
Commitment coverage is computed after idle and rightsizing savings are taken off the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from tools.context import ToolContext
from tools.optimize.commitments import commitment_findings, underused_findings
from tools.optimize.common import Inputs
from tools.optimize.config import OptimizeConfig, settings
from tools.optimize.idle import idle_findings
from tools.optimize.inventory import (
    Bill,
    bills,
    daily_stats,
    load_resources,
    owners,
    utilization_until,
    window_stats,
)
from tools.optimize.kubernetes import request_findings
from tools.optimize.models import KINDS, Finding, OptimizationReport, Skipped
from tools.optimize.prices import price_table
from tools.optimize.rightsize import rightsize_instance
from tools.query import Engine
from tools.settings import ToolSettings
from tools.spend.engine import data_range
from warehouse.errors import QueryError
from warehouse.inventory.models import Resource

__all__ = ["METRICS", "is_protected", "recommend", "recommend_on"]

METRICS = (
    "cpu_percent",
    "network_in_bytes",
    "network_out_bytes",
    "memory_percent",
    "db_connections",
    "request_count",
    "cpu_request_cores",
    "cpu_usage_cores",
    "memory_request_bytes",
    "memory_usage_bytes",
)


def is_protected(r: Resource, bill: Bill | None, cfg: OptimizeConfig) -> str | None:
    """Why the resource is protected (`tags finops:protected=true`), or None."""
    keys = {k.lower() for k in cfg.protect_keys}
    for key, value in r.tags.items():
        if key.lower() in keys and value.strip().lower() in cfg.protect_values:
            return f"inventory tag {key}={value}"
    if bill is not None and bill.protected:
        return "bill tag " + " / ".join(cfg.protect_keys) + "=" + "/".join(cfg.protect_values)
    return None


def _load(engine: Engine, config: ToolSettings, cfg: OptimizeConfig) -> Inputs:
    resources = load_resources(engine)
    util_until = utilization_until(engine)
    _, bills_until = data_range(engine)
    inp = Inputs(
        cfg=cfg,
        currency=config.reporting_currency,
        resources=resources,
        daily={},
        stats={},
        bills={},
        owners={},
        prices=price_table(),
        util_until=util_until,
        bills_since=None,
        bills_until=bills_until,
    )
    if util_until is not None and resources:
        i, rs, k = cfg.idle, cfg.rightsize, cfg.kubernetes
        longest = max(
            i.lookback_days, i.rds_days, i.lb_days, i.k8s_days, rs.lookback_days, k.lookback_days
        )
        inp.daily = daily_stats(
            engine, util_until - timedelta(days=longest - 1), util_until, METRICS
        )
        start = util_until - timedelta(days=rs.lookback_days - 1)
        inp.stats = window_stats(
            engine,
            start,
            util_until,
            {"cpu_percent": [rs.cpu_percentile], "memory_percent": [rs.memory_percentile]},
        )
        start = util_until - timedelta(days=k.lookback_days - 1)
        inp.stats |= window_stats(
            engine,
            start,
            util_until,
            {"cpu_usage_cores": [k.cpu_percentile], "memory_usage_bytes": [k.memory_percentile]},
        )
    if bills_until is not None:
        inp.bills_since = bills_until - timedelta(days=cfg.bill_days - 1)
    if inp.bills_since is not None and bills_until is not None and resources:
        inp.bills = bills(engine, config, cfg, inp.bills_since, bills_until)
        inp.owners = owners(engine, config, cfg, inp.bills_since, bills_until)
    return inp


def _resource_findings(inp: Inputs) -> tuple[list[Finding], list[Skipped]]:
    found: list[Finding] = []
    skipped: list[Skipped] = []
    for r in inp.resources:
        matched = idle_findings(inp, r)
        if not matched:
            matched = [f for f in (rightsize_instance(inp, r), request_findings(inp, r)) if f]
        if not matched:
            continue
        reason = is_protected(r, inp.bills.get(r.resource_id), inp.cfg)
        if reason is None:
            found.extend(matched)
        else:
            skipped.append(
                Skipped(
                    resource_id=r.resource_id,
                    resource_name=r.name,
                    resource_kind=r.kind,
                    reason=reason,
                    rules=[f.rule for f in matched],
                )
            )
    return found, skipped


def _notes(inp: Inputs, found: Sequence[Finding]) -> list[str]:
    notes = []
    cpu_only = [
        f for f in found if f.rule == "instance_rightsize" and not f.details.get("memory_known")
    ]
    if cpu_only:
        notes.append(
            f"{len(cpu_only)} instance(s) sized by CPU only (no memory_percent metric, "
            "e.g. no CloudWatch agent): check memory before resizing"
        )
    if not inp.resources:
        notes.append(
            "no inventory in `resources`: run `finops collect` (idle and rightsizing "
            "need it); commitments use the bills only"
        )
    elif inp.util_until is None:
        notes.append("no utilization collected: only inventory-based idle rules ran")
    kinds = set(inp.cfg.idle.instance_kinds)
    unknown = sorted(
        {
            r.instance_type or "?"
            for r in inp.resources
            if r.kind in kinds and inp.prices.lookup(r.provider, r.instance_type, r.region) is None
        }
    )
    if unknown:
        notes.append("not in the bundled price table, so not rightsized: " + ", ".join(unknown))
    return notes


def _total(findings: Sequence[Finding]) -> Decimal:
    return sum((f.saving.monthly or Decimal(0) for f in findings), Decimal(0))


def recommend_on(
    engine: Engine, config: ToolSettings, cfg: OptimizeConfig, kind: str | None = None
) -> OptimizationReport:
    """Every finding of `kind` (idle, rightsize, commitment; None = all), biggest saving first."""
    if kind is not None and kind not in KINDS:
        raise QueryError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    started = time.perf_counter()
    inp = _load(engine, config, cfg)
    found, skipped = _resource_findings(inp)
    if kind in (None, "commitment") and inp.bills_until is not None:
        found += commitment_findings(engine, config, cfg, found, inp.bills_until)
        found += underused_findings(engine, config, cfg, inp.bills_until)
    shown = [f for f in found if kind is None or f.kind == kind]
    shown.sort(key=lambda f: (-(f.saving.monthly or Decimal(0)), f.kind, f.id))
    by_kind = {k: _total([f for f in shown if f.kind == k]) for k in KINDS if kind in (None, k)}
    return OptimizationReport(
        currency=config.reporting_currency,
        metric=cfg.metric,
        bills_since=inp.bills_since,
        bills_until=inp.bills_until,
        utilization_until=inp.util_until,
        kinds=[kind] if kind else list(KINDS),
        findings=shown,
        skipped_protected=skipped,
        monthly_saving=_total(shown),
        by_kind=by_kind,
        resources_evaluated=len(inp.resources),
        notes=_notes(inp, shown),
        seconds=round(time.perf_counter() - started, 3),
    )


def recommend(
    ctx: ToolContext, *, kind: str | None = None, cfg: OptimizeConfig | None = None
) -> OptimizationReport:
    """Optimization findings over the warehouse of `ctx`; `cfg` overrides `optimize:`.

    Example: `recommend(ctx, kind="idle")`.
    """
    return recommend_on(ctx.engine(), ctx.config, cfg or settings(ctx.config), kind)
