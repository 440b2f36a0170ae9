"""`finops units`: load business usage from CSV and report cost per unit by virtual tag value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import typer

from agent.cli.allocation import refresh_allocation
from agent.cli.common import JsonOpt
from agent.cli.render import err_console, money, out_console, print_json, table
from agent.context import AppContext
from tools.periods import parse_day
from tools.spend.engine import parse_filter
from tools.units.economics import (
    UnitEconomicsResult,
    UnitRow,
    UnitTotal,
    UsageLoadResult,
    load_usage_csv,
    unit_economics,
)
from warehouse.errors import QueryError

__all__ = ["register"]

units_app = typer.Typer(
    help="Unit economics: usage metrics from CSV, cost per unit by virtual tag value."
)
_NOTES = {"ok": "", "no_usage": "no usage", "no_cost": "no cost"}


def _qty(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value.normalize():,f}"


def _unit_money(value: Decimal | None, currency: str) -> str:
    """Unit costs keep four significant digits below 1 (`USD 0.01234`), else cents."""
    if value is None or abs(value) >= 1 or value == 0:
        return money(value, currency)
    places = min(10, max(2, 3 - value.adjusted()))
    return f"{currency} {value:.{places}f}"


def _singular(metric: str) -> str:
    """`tasks` → `task` for "cost per task" (display only; JSON keeps the metric's name)."""
    if metric.endswith("s") and not metric.endswith("ss") and len(metric) > 3:
        return metric[:-1]
    return metric


def _show_load(r: UsageLoadResult) -> None:
    rows = [
        [
            s.metric,
            f"vtag:{s.vtag}",
            f"{s.first_day}..{s.last_day}",
            f"{s.rows:,}",
            f"{s.values:,}",
            _qty(s.quantity),
        ]
        for s in r.series
    ]
    out_console.print(
        table(
            f"Loaded {r.rows:,} usage rows from {r.file} as source {r.source}; "
            f"replaced {r.replaced_rows:,} earlier rows",
            ["metric", "by", "days", "rows", "values", "quantity"],
            rows,
            right=(3, 4, 5),
        )
    )
    for warning in r.warnings:
        err_console.print(f"warning: {warning}", markup=False, soft_wrap=True)


@units_app.command("load")
def load_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV (or .csv.gz): date,metric,vtag,value,quantity")],
    source: Annotated[
        str | None,
        typer.Option(help="Source name (default: the file name); a reload replaces its days."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load usage metrics (one transaction; the same source, metric and day are replaced)."""
    app: AppContext = ctx.obj
    result = load_usage_csv(app.warehouse(), path, config=app.config, source=source)
    if as_json:
        print_json(result)
    else:
        _show_load(result)


def _row(r: UnitRow, grain: str, cur: str) -> list[str]:
    lead = [str(r.period)] if grain == "month" else []
    return [
        *lead,
        r.value,
        money(r.cost, cur) if r.status != "no_cost" else "n/a",
        _qty(r.quantity),
        _unit_money(r.unit_cost, cur),
        _NOTES[r.status],
    ]


def _total_rows(t: UnitTotal, grain: str, cur: str, *, matched: bool) -> list[list[str]]:
    lead = [str(t.period) if t.period else "all"] if grain == "month" else []
    out = [
        [
            *lead,
            "total",
            money(t.cost, cur),
            _qty(t.quantity),
            _unit_money(t.unit_cost, cur),
            "all cost / all usage",
        ]
    ]
    if matched:
        out.append(
            [
                *lead,
                "values with cost and usage",
                money(t.matched_cost, cur),
                _qty(t.matched_quantity),
                _unit_money(t.matched_unit_cost, cur),
                "",
            ]
        )
    return out


def _show_report(r: UnitEconomicsResult) -> None:
    cur = r.currency
    unit = _singular(r.usage_metric) if r.per == 1 else f"{r.per:,} {r.usage_metric}"
    head = (["month"] if r.grain == "month" else []) + [
        f"vtag:{r.vtag}",
        f"{r.cost_metric} cost",
        r.usage_metric,
        f"cost per {unit}",
        "note",
    ]
    body: list[list[str]] = []
    for t in r.period_totals:
        body += [_row(x, r.grain, cur) for x in r.rows if x.period == t.period]
        body += _total_rows(t, r.grain, cur, matched=False)
    if r.grain != "month":
        body += [_row(x, r.grain, cur) for x in r.rows]
    body += _total_rows(r.total, r.grain, cur, matched=True)
    scope = (
        "; ".join(
            f"{f.dimension}{'!=' if f.negate else '='}{','.join(f.values)}" for f in r.filters
        )
        or "all spend"
    )
    title = (
        f"Cost per {unit} by vtag:{r.vtag}, {r.cost_metric} cost in {cur}, "
        f"{r.since} to {r.until}, {scope}; usage from {', '.join(r.usage_sources)}"
    )
    n = len(head)
    out_console.print(table(title, head, body, right=tuple(range(n - 4, n - 1))))
    t = r.total
    if t.cost_without_usage or t.quantity_without_cost:
        out_console.print(
            f"Not matched: {money(t.cost_without_usage, cur)} of cost has no {r.usage_metric} "
            f"usage; {_qty(t.quantity_without_cost)} {r.usage_metric} have no cost."
        )
    for warning in r.warnings:
        err_console.print(f"warning: {warning}", markup=False, soft_wrap=True)


@units_app.command("report")
def report_command(
    ctx: typer.Context,
    metric: Annotated[str, typer.Option(help="Usage metric as loaded, e.g. requests.")],
    by: Annotated[str, typer.Option(help="The virtual tag, e.g. vtag:team.")],
    per: Annotated[int, typer.Option(min=1, help="Cost per this many units (e.g. 1000).")] = 1,
    since: Annotated[str | None, typer.Option(help="First day (default: first usage day).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day, inclusive (default: last usage day).")
    ] = None,
    grain: Annotated[str, typer.Option(help="total|month")] = "total",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Narrow the cost side: DIM=VALUE or DIM!=VALUE."),
    ] = None,
    cost_metric: Annotated[str, typer.Option(help="billed|effective|list")] = "billed",
    as_json: JsonOpt = False,
) -> None:
    """Cost per unit of usage by virtual tag value (currency, period and scope on every figure)."""
    app: AppContext = ctx.obj
    if grain not in ("total", "month"):
        raise QueryError(f"invalid --grain {grain!r}; valid: total, month")
    if cost_metric not in ("billed", "effective", "list"):
        raise QueryError(f"invalid --cost-metric {cost_metric!r}; valid: billed, effective, list")
    if not by.strip().lower().startswith("vtag:"):
        raise QueryError(f"--by takes a virtual tag as vtag:NAME, got {by!r}")
    parsed = [parse_filter(f) for f in filters or []]
    refresh_allocation(app, quiet=as_json)
    g: Literal["total", "month"] = "month" if grain == "month" else "total"
    m: Literal["billed", "effective", "list"] = (
        "effective" if cost_metric == "effective" else "list" if cost_metric == "list" else "billed"
    )
    result = unit_economics(
        app.engine(),
        app.config,
        metric=metric,
        vtag=by.strip()[5:],
        per=per,
        since=parse_day(since, "--since"),
        until=parse_day(until, "--until"),
        grain=g,
        filters=parsed,
        cost_metric=m,
    )
    if as_json:
        print_json(result)
    else:
        _show_report(result)


def register(app: typer.Typer) -> None:
    app.add_typer(units_app, name="units")
