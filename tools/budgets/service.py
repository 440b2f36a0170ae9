"""Budgets and policies: status on actual and forecast, firing once per period, and backtests.

`budget_status` compares a budget's actual spend to date and its period-end forecast (the same
forecast as `finops forecast`) with each threshold. `fire` acts on the crossed thresholds once per
budget, period and threshold (recorded in `policy_firings`): an alert, or a proposal that waits
for approval. `backtest` replays a budget day by day over history, with each day's forecast made
only from the data up to that day, and shows when each threshold would have fired.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from tools.budgets.config import Budget, Threshold
from tools.context import ToolContext
from tools.forecast.service import ForecastQuery, forecast, resolve_as_of
from tools.invoke import invoke_tool
from tools.notify.models import Alert, Figure
from tools.notify.service import send
from tools.query import Engine
from tools.registry import REGISTRY, ToolRegistry
from tools.settings import ToolSettings
from tools.spend.engine import data_range, parse_filter
from warehouse.errors import QueryError
from warehouse.format import amount, money
from warehouse.state.store import utc_text

__all__ = [
    "BacktestResult",
    "BudgetStatus",
    "Firing",
    "ThresholdStatus",
    "backtest",
    "budget_status",
    "find_budget",
    "fire",
]

_CENT = Decimal("0.01")


class ThresholdStatus(BaseModel):
    key: str
    on: str
    percent: Decimal
    then: str
    severity: str
    value: Decimal
    limit: Decimal
    crossed: bool


class BudgetStatus(BaseModel):
    """A budget on one day: actual to date, forecast of the period's end, thresholds."""

    name: str
    currency: str
    period: str
    period_start: date
    period_end: date
    as_of: date
    scope: list[str]
    owner: str | None
    amount: Decimal
    actual: Decimal
    actual_percent: Decimal
    forecast: Decimal
    forecast_upper80: Decimal
    forecast_upper95: Decimal
    forecast_percent: Decimal
    thresholds: list[ThresholdStatus]
    method: str


def find_budget(config: ToolSettings, name: str) -> Budget:
    for b in config.budgets:
        if b.name == name:
            return b
    known = ", ".join(b.name for b in config.budgets) or "none defined"
    raise QueryError(f"unknown budget {name!r}; budgets: {known}")


def _pct(value: Decimal, amount: Decimal) -> Decimal:
    return (value / amount * 100).quantize(Decimal("0.1"))


def _compared(t: Threshold, actual: Decimal, point: Decimal, u80: Decimal, u95: Decimal) -> Decimal:
    if t.basis == "actual":
        return actual
    return {"point": point, "upper80": u80, "upper95": u95}[t.forecast_level]


def budget_status(
    engine: Engine,
    config: ToolSettings,
    budget: Budget,
    *,
    as_of: date | None = None,
    today: date | None = None,
) -> BudgetStatus:
    """Where a budget stands on `as_of` (default: the latest charge day)."""
    filters = [parse_filter(f) for f in budget.scope]
    day = resolve_as_of(engine, as_of, today)
    fc = forecast(
        engine,
        config,
        ForecastQuery(filters=filters, horizon=budget.period, as_of=day, metric=budget.metric),
        today=today,
    )
    total = fc.total
    actual, point = total.actual_to_date, total.forecast_total
    u80, u95 = total.interval(80).upper, total.interval(95).upper
    thresholds = []
    for t in budget.thresholds:
        value = _compared(t, actual, point, u80, u95)
        limit = (budget.amount * t.percent / 100).quantize(_CENT)
        thresholds.append(
            ThresholdStatus(
                key=t.key,
                on=t.basis if t.basis == "actual" else f"forecast ({t.forecast_level})",
                percent=t.percent,
                then=t.then,
                severity=t.severity,
                value=value,
                limit=limit,
                crossed=value >= limit,
            )
        )
    return BudgetStatus(
        name=budget.name,
        currency=config.reporting_currency,
        period=budget.period,
        period_start=fc.period_start,
        period_end=fc.period_end,
        as_of=fc.as_of,
        scope=budget.scope,
        owner=budget.team(),
        amount=budget.amount,
        actual=actual,
        actual_percent=_pct(actual, budget.amount),
        forecast=point,
        forecast_upper80=u80,
        forecast_upper95=u95,
        forecast_percent=_pct(point, budget.amount),
        thresholds=thresholds,
        method=fc.method,
    )


class Firing(BaseModel):
    """What one crossed threshold did (or that it had already fired this period)."""

    key: str
    budget: str
    threshold: str
    then: str
    outcome: str
    detail: dict[str, Any] = Field(default_factory=dict)


def _title(s: BudgetStatus, t: ThresholdStatus) -> str:
    what = "spend to date" if t.on == "actual" else "forecast"
    return (
        f"Budget {s.name}: {what} {money(t.value, s.currency)} is "
        f"{_pct(t.value, s.amount)}% of {money(s.amount, s.currency)} "
        f"({s.period_start:%Y-%m-%d}..{s.period_end:%Y-%m-%d})"
    )


def _alert(s: BudgetStatus, t: ThresholdStatus, key: str) -> Alert:
    period = f"{s.period_start}..{s.period_end}"
    return Alert(
        id=key,
        dedupe_key=key,
        kind="budget",
        severity=t.severity,  # type: ignore[arg-type]
        title=_title(s, t),
        text=f"Threshold {t.on} ≥ {t.percent}% crossed as of {s.as_of}. Scope: "
        f"{'; '.join(s.scope) or 'all spend'}.",
        owner=s.owner,
        scope={f.partition("=")[0]: f.partition("=")[2] for f in s.scope},
        figures=[
            Figure(label="Budget", amount=s.amount, currency=s.currency, period=period),
            Figure(
                label="Spend to date", amount=s.actual, currency=s.currency, period=str(s.as_of)
            ),
            Figure(label="Forecast (period end)", amount=s.forecast, currency=s.currency),
            Figure(label="Forecast upper 95%", amount=s.forecast_upper95, currency=s.currency),
        ],
        evidence=[f"forecast method: {s.method}"],
    )


def _claim(ctx: ToolContext, key: str, s: BudgetStatus, t: ThresholdStatus) -> bool:
    """Record the firing once; False when this budget/period/threshold already fired."""
    with ctx.store.transaction() as conn:
        seen = conn.execute("SELECT 1 FROM policy_firings WHERE key = ?", (key,)).fetchone()
        if seen:
            return False
        conn.execute(
            "INSERT INTO policy_firings (key, budget, period_start, threshold, fired_at, as_of, "
            "value, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
            (
                key,
                s.name,
                s.period_start.isoformat(),
                t.key,
                utc_text(ctx.clock()),
                s.as_of.isoformat(),
                str(t.value),
            ),
        )
    return True


def _record(ctx: ToolContext, key: str, outcome: dict[str, Any]) -> None:
    with ctx.store.transaction() as conn:
        conn.execute(
            "UPDATE policy_firings SET outcome = ? WHERE key = ?",
            (json.dumps(outcome, default=str), key),
        )


def fire(
    ctx: ToolContext,
    statuses: list[BudgetStatus],
    *,
    sleep: Callable[[float], None],
    registry: ToolRegistry = REGISTRY,
    environ: dict[str, str] | None = None,
) -> list[Firing]:
    """Act on every crossed threshold once per budget, period and threshold."""
    out: list[Firing] = []
    budgets = {b.name: b for b in ctx.config.budgets}
    for s in statuses:
        budget = budgets[s.name]
        for t, spec in zip(s.thresholds, budget.thresholds, strict=True):
            if not t.crossed:
                continue
            key = f"budget:{s.name}:{s.period_start}:{t.key}"
            if not _claim(ctx, key, s, t):
                out.append(Firing(key=key, budget=s.name, threshold=t.key, then=t.then,
                                  outcome="already fired this period"))  # fmt: skip
                continue
            detail = _act(ctx, s, t, spec, key, sleep=sleep, registry=registry, environ=environ)
            _record(ctx, key, detail)
            ctx.audit.append("policy_fired", "finops", {"key": key, **detail})
            out.append(
                Firing(
                    key=key,
                    budget=s.name,
                    threshold=t.key,
                    then=t.then,
                    outcome=str(detail.get("outcome")),
                    detail=detail,
                )
            )
    return out


def _act(
    ctx: ToolContext,
    s: BudgetStatus,
    t: ThresholdStatus,
    spec: Threshold,
    key: str,
    *,
    sleep: Callable[[float], None],
    registry: ToolRegistry,
    environ: dict[str, str] | None,
) -> dict[str, Any]:
    if t.then == "notify":
        report = send(
            _alert(s, t, key), ctx.config.notify, ctx.store, clock=ctx.clock, sleep=sleep,
            environ=environ,
        )  # fmt: skip
        sent = [r.channel for r in report.results if r.status == "sent"]
        return {"outcome": "notified" if sent else "no channel delivered", "channels": sent}
    if t.then == "ticket":
        name, args = (
            "open_ticket",
            {
                "title": _title(s, t)[:200],
                "body": f"Threshold {t.on} ≥ {t.percent}% crossed as of {s.as_of}. Scope: "
                f"{'; '.join(s.scope) or 'all spend'}. "
                f"Spend to date {money(s.actual, s.currency)}; "
                f"forecast {money(s.forecast, s.currency)} "
                f"(95% upper {amount(s.forecast_upper95)}).",
                "owner": s.owner,
                "priority": "high" if t.severity == "critical" else "medium",
            },
        )
    else:
        name, args = str(spec.action), dict(spec.args)
    outcome = invoke_tool(registry, ctx, name, args)
    if not outcome.ok or outcome.proposal_id is None:
        return {"outcome": "proposal refused", "tool": name, "error": outcome.error}
    return {"outcome": "proposed", "tool": name, "proposal_id": outcome.proposal_id}


class BacktestFiring(BaseModel):
    period_start: date
    threshold: str
    first_day: date
    value: Decimal
    limit: Decimal


class BacktestResult(BaseModel):
    """When each threshold would have fired, replaying the budget day by day."""

    budget: str
    currency: str
    since: date
    until: date
    days: int
    firings: list[BacktestFiring]
    daily: list[dict[str, Any]]


def backtest(
    engine: Engine, config: ToolSettings, budget: Budget, *, since: date, until: date | None = None
) -> BacktestResult:
    """Evaluate the budget as of every day in [since, until]; each day sees only its past."""
    first, last = data_range(engine)
    if first is None or last is None:
        raise QueryError("the warehouse has no cost data to test a policy against")
    end = min(until or last, last)
    if since > end:
        raise QueryError(f"--since {since} is after the last charge day {end}")
    if since < first:
        since = first
    fired: dict[tuple[date, str], BacktestFiring] = {}
    daily = []
    day = since
    while day <= end:
        s = budget_status(engine, config, budget, as_of=day, today=day + timedelta(days=1))
        daily.append(
            {
                "as_of": day.isoformat(),
                "actual": str(s.actual),
                "forecast": str(s.forecast),
                "crossed": [t.key for t in s.thresholds if t.crossed],
            }
        )
        for t in s.thresholds:
            if t.crossed and (s.period_start, t.key) not in fired:
                fired[(s.period_start, t.key)] = BacktestFiring(
                    period_start=s.period_start,
                    threshold=t.key,
                    first_day=day,
                    value=t.value,
                    limit=t.limit,
                )
        day += timedelta(days=1)
    return BacktestResult(
        budget=budget.name,
        currency=config.reporting_currency,
        since=since,
        until=end,
        days=len(daily),
        firings=sorted(fired.values(), key=lambda f: (f.first_day, f.threshold)),
        daily=daily,
    )
