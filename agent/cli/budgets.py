"""`finops budgets` (status on actual and forecast) and `finops policy test` (backtest)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import JsonOpt
from agent.cli.render import money, out_console, print_json, table
from agent.context import AppContext
from tools.budgets.service import backtest, budget_status, find_budget
from tools.periods import parse_day
from warehouse.errors import QueryError

__all__ = ["register"]

policy_app = typer.Typer(help="Budgets and policies as code: test them against history.")


def budgets_command(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every budget: spend to date and period-end forecast against its amount and thresholds."""
    app: AppContext = ctx.obj
    if not app.config.budgets:
        raise QueryError("no budgets are defined in finops.yaml (`budgets:`)")
    day = parse_day(as_of, "--as-of")
    statuses = [
        budget_status(app.engine(), app.config, b, as_of=day)
        for b in app.config.budgets
        if b.enabled
    ]
    if as_json:
        print_json({"budgets": [s.model_dump(mode="json") for s in statuses]})
        return
    for s in statuses:
        cur = s.currency
        out_console.print(
            f"{s.name} ({'; '.join(s.scope) or 'all spend'}; owner {s.owner or 'unassigned'}): "
            f"{money(s.amount, cur)} for {s.period_start}..{s.period_end}, as of {s.as_of}: "
            f"spent {money(s.actual, cur)} ({s.actual_percent}%), forecast "
            f"{money(s.forecast, cur)} ({s.forecast_percent}%, 95% up to "
            f"{money(s.forecast_upper95, cur)})",
            soft_wrap=True,
            markup=False,
        )
        for t in s.thresholds:
            mark = "CROSSED" if t.crossed else "ok"
            out_console.print(
                f"  - {t.on} ≥ {t.percent}% ({money(t.limit, cur)}): {money(t.value, cur)} "
                f"→ {mark}; then {t.then}",
                soft_wrap=True,
                markup=False,
            )


@policy_app.command("test")
def policy_test_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Budget name.")],
    since: Annotated[str, typer.Option("--since", help="First day to replay (YYYY-MM-DD).")],
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (default: data end).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay a budget day by day over history: when each threshold would have fired."""
    app: AppContext = ctx.obj
    budget = find_budget(app.config, name)
    start = parse_day(since, "--since")
    assert start is not None
    result = backtest(
        app.engine(), app.config, budget, since=start, until=parse_day(until, "--until")
    )
    if as_json:
        print_json(result)
        return
    rows = [
        [str(f.period_start), f.threshold, str(f.first_day), money(f.value, result.currency),
         money(f.limit, result.currency)]
        for f in result.firings
    ]  # fmt: skip
    title = f"Policy {name}: would have fired, {result.since}..{result.until} ({result.days} days)"
    out_console.print(
        table(title, ["period", "threshold", "first day", "value", "limit"], rows, right=(3, 4))
    )
    if not rows:
        out_console.print("No threshold would have fired in that window.")


def register(app: typer.Typer) -> None:
    app.command("budgets")(budgets_command)
    app.add_typer(policy_app, name="policy")
