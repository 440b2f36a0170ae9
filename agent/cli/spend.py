"""`finops spend`: totals and breakdowns, period-over-period movers, unit cost."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.allocation import refresh_allocation
from agent.cli.common import JsonOpt
from agent.cli.render import money, out_console, print_json, table
from agent.context import AppContext
from tools.periods import parse_day
from tools.spend.engine import (
    Filter,
    MoversResult,
    SpendQuery,
    SpendResult,
    UnitCostResult,
    data_range,
    parse_filter,
    spend,
    top_movers,
    unit_cost,
)
from warehouse.errors import QueryError

__all__ = ["register"]


def _scope(filters: list[str]) -> str:
    return "all spend" if not filters else "; ".join(filters)


def _filter_text(f: Filter) -> str:
    return f"{f.dimension}{'!=' if f.negate else '='}{','.join(f.values)}"


def _show_spend(r: SpendResult) -> None:
    dims = r.by
    head = (["period"] if r.grain != "total" else []) + dims + [f"{r.metric} cost"]
    rows = [
        ([str(x.period)] if r.grain != "total" else [])
        + [x.dimensions[d] for d in dims]
        + [money(x.cost, r.currency)]
        for x in r.rows
    ]
    if dims or r.grain != "total":
        rows.append(["total", *[""] * (len(head) - 2), money(r.total, r.currency)])
    scope = _scope([_filter_text(f) for f in r.filters])
    title = f"{r.metric.capitalize()} cost, {r.since} to {r.until}, {scope}"
    out_console.print(table(title, head, rows, right=(len(head) - 1,)))


def _show_movers(r: MoversResult) -> None:
    head = [
        *r.by,
        f"{r.current_since}..{r.current_until}",
        f"{r.previous_since}..{r.previous_until}",
        "delta",
        "delta %",
    ]
    rows = [
        [
            *x.dimensions.values(),
            money(x.current, r.currency),
            money(x.previous, r.currency),
            money(x.delta, r.currency),
            "new" if x.delta_pct is None else f"{x.delta_pct:+}%",
        ]
        for x in r.rows
    ]
    total_delta = r.current_total - r.previous_total
    rows.append(
        [
            "total",
            *[""] * (len(r.by) - 1),
            money(r.current_total, r.currency),
            money(r.previous_total, r.currency),
            money(total_delta, r.currency),
            "",
        ]
    )
    out_console.print(
        table(
            f"Top movers ({r.metric} cost) vs the previous period",
            head,
            rows,
            right=tuple(range(len(r.by), len(head))),
        )
    )


def _show_unit(r: UnitCostResult) -> None:
    head = [*r.by, f"{r.metric} cost", f"{r.unit}", f"cost per {r.per:,} {r.unit}"]
    rows = [
        [
            *x.dimensions.values(),
            money(x.cost, r.currency),
            f"{x.quantity:,.0f}",
            money(x.unit_cost, r.currency),
        ]
        for x in r.rows
    ]
    out_console.print(
        table(
            f"Unit cost, {r.since} to {r.until}",
            head,
            rows,
            right=tuple(range(len(r.by), len(head))),
        )
    )


def spend_command(
    ctx: typer.Context,
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="Dimension(s): a FOCUS column (ServiceName, SubAccountName, …) or tag:KEY; "
            "comma-separated or repeated."
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, inclusive (YYYY-MM-DD).")] = None,
    grain: Annotated[str, typer.Option(help="day|week|month|total")] = "total",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="DIM=VALUE[,VALUE] or DIM!=VALUE; repeatable."),
    ] = None,
    metric: Annotated[str, typer.Option(help="billed|effective|list")] = "billed",
    top: Annotated[
        int | None, typer.Option(min=1, help="Keep the top N, sum the rest as (other).")
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Period-over-period: top movers vs the previous equal period."
        ),
    ] = False,
    unit: Annotated[
        str | None,
        typer.Option(
            help="Unit cost: divide by ConsumedQuantity of this ConsumedUnit (e.g. Tokens)."
        ),
    ] = None,
    per: Annotated[int, typer.Option(min=1, help="Unit cost per this many units.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Spend totals and breakdowns (currency, period and scope on every figure)."""
    app: AppContext = ctx.obj
    engine = app.engine()
    parsed = [parse_filter(f) for f in filters or []]
    if "vtag:" in " ".join([*(by or []), *(f.dimension for f in parsed)]).lower():
        refresh_allocation(app, quiet=as_json)
    d_since, d_until = parse_day(since, "--since"), parse_day(until, "--until")
    if d_since and d_until and d_until < d_since:
        raise QueryError(f"--until {d_until} is before --since {d_since}")
    if grain not in ("day", "week", "month", "total"):
        raise QueryError(f"invalid --grain {grain!r}; valid: day, week, month, total")
    if metric not in ("billed", "effective", "list"):
        raise QueryError(f"invalid --metric {metric!r}; valid: billed, effective, list")
    result: SpendResult | MoversResult | UnitCostResult
    if compare:
        first, last = data_range(engine)
        if last is None or first is None:
            raise QueryError("the warehouse is empty: run `finops ingest` or `finops demo` first")
        end = d_until or last
        start = d_since or max(first, end.replace(day=1))
        result = top_movers(
            engine,
            app.config,
            by=by or [],
            since=start,
            until=end,
            filters=parsed,
            metric=metric,
            top=top or 10,
        )
    elif unit:
        result = unit_cost(
            engine,
            app.config,
            unit=unit,
            per=per,
            by=by or [],
            since=d_since,
            until=d_until,
            filters=parsed,
            metric=metric,
        )
    else:
        query = SpendQuery.model_validate(
            {
                "by": by or [],
                "since": d_since,
                "until": d_until,
                "grain": grain,
                "filters": parsed,
                "metric": metric,
                "top": top,
            }
        )
        result = spend(engine, app.config, query)
    if as_json:
        print_json(result)
    elif isinstance(result, MoversResult):
        _show_movers(result)
    elif isinstance(result, UnitCostResult):
        _show_unit(result)
    else:
        _show_spend(result)


def register(app: typer.Typer) -> None:
    app.command("spend")(spend_command)
