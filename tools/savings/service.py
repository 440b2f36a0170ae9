"""Realized savings, closed loop: what executed actions actually saved, measured in later bills.

`refresh_savings(ctx)` reads every executed (`done`) saving proposal from the approvals ledger,
finds the resources it changed (`tools.savings.targets`), measures each against its pre-action
run rate in the warehouse (`tools.savings.measure`) and upserts one row per (proposal, resource)
into the `savings` table of the state store. It is idempotent: run it any number of times, the
rows only change when new bills (or a rollback) arrive.

`build_report(ctx, by=...)` aggregates the rows by owner, action type or month of execution, with
totals. Estimated (the proposal's figure) and measured (baseline − actual, × 30.4 days) are kept
apart: the measured monthly total only counts `measured` rows, and `estimated_of_measured` is the
estimate for those same rows, so the two compare like for like. `realized` is what was actually
saved so far (measured daily × post days), which is how a rolled-back action keeps the saving it
made before its rollback. Every row carries its evidence: the resource id, baseline window and
post window, and how many cost rows each held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.optimize.config import settings
from tools.savings.config import MONTH_DAYS, savings_settings
from tools.savings.measure import (
    Measurement,
    Target,
    daily_costs,
    measure,
    merged,
    source_coverage,
)
from tools.savings.measure import vtag_owners as _vtag_owners
from tools.savings.targets import executed_targets
from warehouse.errors import QueryError
from warehouse.state.store import utc_text

__all__ = [
    "GROUPINGS",
    "STATUSES",
    "Grouping",
    "SavingsGroup",
    "SavingsReport",
    "SavingsRow",
    "build_report",
    "load_savings",
    "refresh_savings",
]

Grouping = Literal["owner", "action", "month"]
GROUPINGS: tuple[str, ...] = ("owner", "action", "month")
STATUSES: tuple[str, ...] = ("measured", "measuring", "rolled_back", "no_bills")
_CENT = Decimal("0.01")
_COLUMNS = (
    "proposal_id, resource_id, action, owner, executed_at, estimated_monthly, baseline_daily, "
    "actual_daily, measured_daily, post_days, status, currency, metric, baseline_start, "
    "baseline_end, baseline_days, baseline_rows, post_start, post_end, post_rows, "
    "rolled_back_at, rollback_id, last_measured_at"
)


class SavingsRow(BaseModel):
    """One resource changed by one executed proposal: estimate, measurement and evidence."""

    proposal_id: str
    resource_id: str
    action: str
    owner: str | None
    executed_at: datetime
    month: str = Field(description="Month of execution, YYYY-MM (UTC).")
    status: str
    currency: str
    metric: str
    estimated_monthly: Decimal
    baseline_daily: Decimal | None
    actual_daily: Decimal | None
    measured_daily: Decimal | None = Field(description="baseline_daily − actual_daily.")
    measured_monthly: Decimal | None = Field(description="measured_daily × 30.4; measured only.")
    realized: Decimal | None = Field(description="measured_daily × post_days: saved so far.")
    baseline_start: date
    baseline_end: date
    baseline_days: int
    baseline_rows: int
    post_start: date
    post_end: date | None
    post_days: int
    post_rows: int
    rolled_back_at: datetime | None
    rollback_id: str | None
    last_measured_at: datetime


class SavingsGroup(BaseModel):
    """Rows of one owner, action type or month, summed (all in the report's currency)."""

    key: str
    resources: int
    proposals: int
    statuses: dict[str, int]
    estimated_monthly: Decimal = Field(description="Estimates of every row in the group.")
    estimated_of_measured: Decimal = Field(description="Estimates of the measured rows only.")
    measured_monthly: Decimal = Field(description="Measured monthly saving of measured rows.")
    realized: Decimal = Field(description="Saved so far (measured and rolled-back rows).")


class SavingsReport(BaseModel):
    """Realized vs estimated savings, grouped, with totals and per-row evidence."""

    currency: str
    metric: str
    by: str
    as_of: datetime
    baseline_days: int
    min_post_days: int
    month_days: Decimal = MONTH_DAYS
    refreshed: bool
    groups: list[SavingsGroup]
    total: SavingsGroup
    rows: list[SavingsRow]
    notes: list[str] = Field(default_factory=list)


def _text(value: Decimal | date | datetime | None) -> str | None:
    if value is None:
        return None
    return utc_text(value) if isinstance(value, datetime) else str(value)


def _convert(ctx: ToolContext, t: Target, notes: list[str]) -> Decimal:
    """The target's estimate in the reporting currency (unconverted, with a note, if no rate)."""
    currency = ctx.config.reporting_currency
    if t.currency == currency:
        return t.estimated_monthly
    rate = ctx.config.fx_rates.get(t.currency)
    if rate is None:
        notes.append(
            f"{t.proposal_id}: estimate in {t.currency} kept unconverted (no fx_rates.{t.currency})"
        )
        return t.estimated_monthly
    return (t.estimated_monthly * rate).quantize(_CENT)


def _owners(ctx: ToolContext, targets: Sequence[Target]) -> dict[str, str]:
    """Owners of the targets the proposals name no owner for: the owner virtual tag
    (`optimize.owner_vtag`) carrying most of the resource's cost from its baseline on."""
    unknown = [t for t in targets if t.owner is None]
    if not unknown:
        return {}
    days = savings_settings(ctx.config).baseline_days
    start = min(t.executed_at.date() for t in unknown) - timedelta(days=days)
    ids = [i for t in unknown for i in t.ids]
    vtag = settings(ctx.config).owner_vtag
    found = _vtag_owners(ctx.engine(), ctx.config, vtag, ids, start, ctx.today())
    return {
        t.resource_id: owner
        for t in unknown
        if (owner := next((found[i] for i in t.ids if i in found), None))
    }


def _record(
    ctx: ToolContext, t: Target, m: Measurement, estimate: Decimal, owner: str | None
) -> dict[str, Any]:
    """One `savings` row as column → stored value."""
    return {
        "proposal_id": t.proposal_id,
        "resource_id": t.resource_id,
        "action": t.action,
        "owner": owner,
        "executed_at": utc_text(t.executed_at),
        "estimated_monthly": str(estimate),
        "baseline_daily": _text(m.baseline_daily),
        "actual_daily": _text(m.actual_daily),
        "measured_daily": _text(m.measured_daily),
        "post_days": m.post_days,
        "status": m.status,
        "currency": ctx.config.reporting_currency,
        "metric": savings_settings(ctx.config).metric,
        "baseline_start": _text(m.baseline_start),
        "baseline_end": _text(m.baseline_end),
        "baseline_days": m.baseline_days,
        "baseline_rows": m.baseline_rows,
        "post_start": _text(m.post_start),
        "post_end": _text(m.post_end),
        "post_rows": m.post_rows,
        "rolled_back_at": _text(t.rolled_back_at),
        "rollback_id": t.rollback_id,
        "last_measured_at": utc_text(ctx.clock()),
    }


def refresh_savings(ctx: ToolContext) -> list[str]:
    """Measure every executed saving action against later bills and upsert the savings ledger.

    Idempotent: the same ledger and warehouse give the same rows. Returns notes (e.g. an
    estimate in a currency the config cannot convert).
    """
    cfg = savings_settings(ctx.config)
    targets = executed_targets(ctx.ledger)
    notes: list[str] = []
    if not targets:
        return notes
    engine, today = ctx.engine(), ctx.today()
    since = min(t.executed_at.date() for t in targets) - timedelta(days=cfg.baseline_days)
    ids = [i for t in targets for i in t.ids]
    costs = daily_costs(engine, ctx.config, cfg.metric, ids, since)
    coverage = source_coverage(engine)
    owners = _owners(ctx, targets)
    records = []
    for t in targets:
        m = measure(t, merged(costs, t.ids), coverage, cfg, today)
        owner = t.owner or owners.get(t.resource_id)
        records.append(_record(ctx, t, m, _convert(ctx, t, notes), owner))
    _upsert(ctx, records)
    return notes


def _upsert(ctx: ToolContext, records: Sequence[dict[str, Any]]) -> None:
    names = [c.strip() for c in _COLUMNS.split(",")]
    updates = ", ".join(f"{c} = excluded.{c}" for c in names[2:])
    sql = (
        f"INSERT INTO savings ({_COLUMNS}) VALUES ({', '.join('?' for _ in names)}) "
        f"ON CONFLICT (proposal_id, resource_id) DO UPDATE SET {updates}"
    )
    with ctx.store.transaction() as conn:
        for record in records:
            conn.execute(sql, tuple(record[c] for c in names))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _row(r: Any, month_days: Decimal) -> SavingsRow:
    data = dict(r)
    measured = _dec(data["measured_daily"])
    status = str(data["status"])
    executed = datetime.fromisoformat(data["executed_at"])
    return SavingsRow(
        **{k: data[k] for k in ("proposal_id", "resource_id", "action", "owner", "currency")},
        executed_at=executed,
        month=executed.strftime("%Y-%m"),
        status=status,
        metric=data["metric"],
        estimated_monthly=Decimal(data["estimated_monthly"]),
        baseline_daily=_dec(data["baseline_daily"]),
        actual_daily=_dec(data["actual_daily"]),
        measured_daily=measured,
        measured_monthly=(measured * month_days).quantize(_CENT)
        if measured is not None and status == "measured"
        else None,
        realized=(measured * data["post_days"]).quantize(_CENT) if measured is not None else None,
        baseline_start=date.fromisoformat(data["baseline_start"]),
        baseline_end=date.fromisoformat(data["baseline_end"]),
        baseline_days=data["baseline_days"],
        baseline_rows=data["baseline_rows"],
        post_start=date.fromisoformat(data["post_start"]),
        post_end=date.fromisoformat(data["post_end"]) if data["post_end"] else None,
        post_days=data["post_days"],
        post_rows=data["post_rows"],
        rolled_back_at=datetime.fromisoformat(data["rolled_back_at"])
        if data["rolled_back_at"]
        else None,
        rollback_id=data["rollback_id"],
        last_measured_at=datetime.fromisoformat(data["last_measured_at"]),
    )


def load_savings(ctx: ToolContext, status: str | None = None) -> list[SavingsRow]:
    """Rows of the savings ledger, oldest execution first, optionally of one status."""
    if status is not None and status not in STATUSES:
        raise QueryError(f"unknown savings status {status!r}; valid: {', '.join(STATUSES)}")
    where = " WHERE status = ?" if status else ""
    rows = ctx.store.query(
        f"SELECT {_COLUMNS} FROM savings{where} ORDER BY executed_at, proposal_id, resource_id",
        (status,) if status else (),
    )
    return [_row(r, MONTH_DAYS) for r in rows]


def _key(row: SavingsRow, by: str) -> str:
    if by == "owner":
        return row.owner or "unassigned"
    return row.action if by == "action" else row.month


def _group(key: str, rows: Sequence[SavingsRow]) -> SavingsGroup:
    measured = [r for r in rows if r.status == "measured"]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return SavingsGroup(
        key=key,
        resources=len(rows),
        proposals=len({r.proposal_id for r in rows}),
        statuses=dict(sorted(statuses.items())),
        estimated_monthly=sum((r.estimated_monthly for r in rows), Decimal(0)),
        estimated_of_measured=sum((r.estimated_monthly for r in measured), Decimal(0)),
        measured_monthly=sum((r.measured_monthly or Decimal(0) for r in measured), Decimal(0)),
        realized=sum((r.realized or Decimal(0) for r in rows), Decimal(0)),
    )


def build_report(
    ctx: ToolContext, *, by: str = "owner", refresh: bool = True, status: str | None = None
) -> SavingsReport:
    """The savings ledger grouped `by` owner, action or month (refreshed first by default)."""
    if by not in GROUPINGS:
        raise QueryError(f"unknown grouping {by!r}; valid: {', '.join(GROUPINGS)}")
    notes = refresh_savings(ctx) if refresh else []
    rows = load_savings(ctx, status)
    grouped: dict[str, list[SavingsRow]] = {}
    for r in rows:
        grouped.setdefault(_key(r, by), []).append(r)
    groups = sorted(
        (_group(k, v) for k, v in grouped.items()),
        key=lambda g: (g.key if by == "month" else "", -g.measured_monthly, -g.estimated_monthly),
    )
    cfg = savings_settings(ctx.config)
    if any(r.status == "measuring" for r in rows):
        notes.append(
            f"measuring rows have fewer than {cfg.min_post_days} full days of bills since the "
            "action; their monthly saving is not extrapolated yet"
        )
    return SavingsReport(
        currency=ctx.config.reporting_currency,
        metric=cfg.metric,
        by=by,
        as_of=ctx.clock(),
        baseline_days=cfg.baseline_days,
        min_post_days=cfg.min_post_days,
        refreshed=refresh,
        groups=groups,
        total=_group("total", rows),
        rows=rows,
        notes=notes,
    )
