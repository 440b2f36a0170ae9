"""Measuring one executed action's saving on one resource from the bills that follow it.

The counterfactual is the resource's pre-action run rate: its mean daily cost over the
`savings.baseline_days` full (UTC) days before the execution day, counted from its first billed
day in that window when it is younger. The actual is its mean daily cost over the full days after
the execution day, up to the last day its billing source has complete data for (and up to the
day before a rollback executed: a rolled-back action stops accruing). A day the source covers
without a row for the resource counts as zero cost — that is what a stopped or deleted resource
looks like in the bills. The execution day and the rollback day are partial and counted in
neither window.

Statuses: `no_bills` (no cost row in the baseline window: nothing to compare with), `rolled_back`,
`measured` (at least `savings.min_post_days` post days), else `measuring`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from tools.optimize.inventory import top_vtag_values
from tools.query import (
    Engine,
    cost_expression,
    literal,
    transpile,
)
from tools.savings.config import SavingsConfig
from tools.settings import ToolSettings
from warehouse.errors import QueryError

__all__ = [
    "DayCost",
    "Measurement",
    "Status",
    "Target",
    "daily_costs",
    "measure",
    "merged",
    "source_coverage",
    "vtag_owners",
]

Status = Literal["measuring", "measured", "rolled_back", "no_bills"]
_DAILY = Decimal("0.000001")


@dataclass(frozen=True)
class Target:
    """One resource an executed proposal changed, with what the proposal estimated."""

    proposal_id: str
    resource_id: str
    action: str
    executed_at: datetime
    estimated_monthly: Decimal
    currency: str
    owner: str | None = None
    rolled_back_at: datetime | None = None
    rollback_id: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """Every ResourceId the resource may be billed under (the primary id first)."""
        return (self.resource_id, *self.aliases)


@dataclass(frozen=True)
class DayCost:
    """A resource's cost on one charge day, its row count and billing sources."""

    cost: Decimal
    rows: int
    sources: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Measurement:
    """The windows, the figures and the status of one target."""

    status: Status
    baseline_start: date
    baseline_end: date
    baseline_days: int
    baseline_rows: int
    baseline_daily: Decimal | None
    post_start: date
    post_end: date | None
    post_days: int
    post_rows: int
    actual_daily: Decimal | None
    measured_daily: Decimal | None


def _source() -> str:
    return "coalesce(x_SourceName, ProviderName, '')"


def daily_costs(
    engine: Engine, config: ToolSettings, metric: str, ids: Sequence[str], since: date
) -> dict[str, dict[date, DayCost]]:
    """ResourceId → charge day → cost, for the given ids on days from `since` (one query)."""
    if not ids:
        return {}
    cost = cost_expression(metric, config.reporting_currency, config.fx_rates)
    names = ", ".join(literal(i) for i in sorted(set(ids)))
    sql = (
        f"SELECT ResourceId, CAST(ChargePeriodStart AS DATE), {_source()}, sum({cost}), count(*) "
        f"FROM costs WHERE ResourceId IN ({names}) AND "
        f"ChargePeriodStart >= CAST({literal(since.isoformat())} AS TIMESTAMP) GROUP BY 1, 2, 3"
    )
    out: dict[str, dict[date, DayCost]] = {}
    for rid, day, src, total, rows in engine.fetch(transpile(sql, engine.dialect)):
        days = out.setdefault(str(rid), {})
        prev = days.get(day, DayCost(Decimal(0), 0))
        days[day] = DayCost(
            prev.cost + Decimal(total or 0), prev.rows + int(rows), prev.sources | {str(src)}
        )
    return out


def merged(costs: Mapping[str, Mapping[date, DayCost]], ids: Iterable[str]) -> dict[date, DayCost]:
    """One resource's days over every id it is billed under."""
    out: dict[date, DayCost] = {}
    for rid in dict.fromkeys(ids):
        for day, c in costs.get(rid, {}).items():
            prev = out.get(day, DayCost(Decimal(0), 0))
            out[day] = DayCost(prev.cost + c.cost, prev.rows + c.rows, prev.sources | c.sources)
    return out


def source_coverage(engine: Engine) -> dict[str, date]:
    """Billing source → the last charge day it has complete data for.

    A source's data ends at its latest `ChargePeriodEnd`; the day that end falls in is partial
    unless the end is midnight, so the last complete day is the day before that end's date.
    """
    sql = f"SELECT {_source()}, max(ChargePeriodEnd) FROM costs GROUP BY 1"
    out: dict[str, date] = {}
    for src, end in engine.fetch(transpile(sql, engine.dialect)):
        if end is not None:
            last = end if isinstance(end, date) and not isinstance(end, datetime) else end.date()
            out[str(src)] = last - timedelta(days=1)
    return out


def _sum(days: Mapping[date, DayCost], start: date, end: date) -> tuple[Decimal, int, date | None]:
    total, rows, first = Decimal(0), 0, None
    for day, c in days.items():
        if start <= day <= end:
            total += c.cost
            rows += c.rows
            first = day if first is None or day < first else first
    return total, rows, first


def _post_end(
    t: Target, days: Mapping[date, DayCost], coverage: Mapping[str, date], today: date
) -> date | None:
    """Last full post day: what every billing source of the resource covers, before today and
    before the rollback day."""
    sources = {s for c in days.values() for s in c.sources}
    covered = [coverage[s] for s in sources if s in coverage]
    if not covered:
        return None
    end = min([*covered, today - timedelta(days=1)])
    if t.rolled_back_at is not None:
        end = min(end, t.rolled_back_at.date() - timedelta(days=1))
    return end


def _status(t: Target, baseline_rows: int, post_days: int, cfg: SavingsConfig) -> Status:
    if baseline_rows == 0:
        return "no_bills"
    if t.rolled_back_at is not None:
        return "rolled_back"
    return "measured" if post_days >= cfg.min_post_days else "measuring"


def measure(
    t: Target,
    days: Mapping[date, DayCost],
    coverage: Mapping[str, date],
    cfg: SavingsConfig,
    today: date,
) -> Measurement:
    """Baseline vs actual for one target (see the module docstring for the method)."""
    day = t.executed_at.date()
    b_start, b_end = day - timedelta(days=cfg.baseline_days), day - timedelta(days=1)
    b_total, b_rows, first = _sum(days, b_start, b_end)
    b_days = (b_end - max(first, b_start)).days + 1 if first is not None else 0
    baseline = (b_total / b_days).quantize(_DAILY) if b_days else None
    p_start = day + timedelta(days=1)
    p_end = _post_end(t, days, coverage, today) if b_rows else None
    p_days = max((p_end - p_start).days + 1, 0) if p_end is not None else 0
    p_total, p_rows, _ = _sum(days, p_start, p_end) if p_end is not None else (Decimal(0), 0, None)
    actual = (p_total / p_days).quantize(_DAILY) if p_days else None
    saving = baseline - actual if baseline is not None and actual is not None else None
    return Measurement(
        status=_status(t, b_rows, p_days, cfg),
        baseline_start=b_start,
        baseline_end=b_end,
        baseline_days=b_days,
        baseline_rows=b_rows,
        baseline_daily=baseline,
        post_start=p_start,
        post_end=p_end if p_days else None,
        post_days=p_days,
        post_rows=p_rows,
        actual_daily=actual,
        measured_daily=saving,
    )


def vtag_owners(
    engine: Engine, config: ToolSettings, vtag: str, ids: Iterable[str], start: date, end: date
) -> dict[str, str]:
    """ResourceId → the owner virtual tag's value carrying most of its billed cost in
    [start, end].

    Empty when the virtual tag is not defined or its allocation is stale (the owner then stays
    unknown rather than failing the report).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    names = ", ".join(literal(i) for i in wanted)
    try:
        return top_vtag_values(
            engine, config, vtag, "billed", start, end, f"ResourceId IN ({names})"
        )
    except QueryError:
        return {}
