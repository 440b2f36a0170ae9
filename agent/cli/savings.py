"""`finops savings`: realized savings of executed actions, estimated vs measured in later bills."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer

from agent.cli.common import JsonOpt
from agent.cli.render import money, out_console, print_json, table
from agent.context import AppContext
from agent.runtime.runner import Runtime
from tools.savings.service import GROUPINGS, STATUSES, SavingsReport, SavingsRow, build_report
from warehouse.errors import QueryError

__all__ = ["register"]

_TITLES = {"owner": "Owner", "action": "Action", "month": "Month executed"}


def _print(text: str) -> None:
    out_console.print(text, markup=False, soft_wrap=True, highlight=False)


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "-"


def _groups(r: SavingsReport) -> None:
    cur = r.currency
    rows = [
        [
            g.key,
            str(g.resources),
            money(g.estimated_monthly, cur),
            money(g.estimated_of_measured, cur),
            money(g.measured_monthly, cur),
            money(g.realized, cur),
            _statuses(g.statuses),
        ]
        for g in r.groups
    ]
    columns = [
        _TITLES[r.by],
        "Resources",
        "Estimated /month",
        "Estimated (measured rows)",
        "Measured /month",
        "Realized so far",
        "Status",
    ]
    title = (
        f"Savings by {r.by}, {r.metric} cost in {cur}; per month = 30.4 days; baseline "
        f"{r.baseline_days} full days before each action; measured after "
        f"{r.min_post_days}+ full days of bills; as of {r.as_of:%Y-%m-%d %H:%M} UTC"
    )
    out_console.print(table(title, columns, rows, right=(1, 2, 3, 4, 5)))


def _window(start: object, end: object, days: int) -> str:
    return f"{start}..{end} ({days} full days)" if end else f"from {start}: no full day yet"


def _daily(value: Decimal | None, cur: str) -> str:
    return f"{money(value, cur)}/day" if value is not None else "n/a"


def _total(r: SavingsReport) -> None:
    t, cur = r.total, r.currency
    measured = t.statuses.get("measured", 0)
    _print(
        f"Total: estimated {money(t.estimated_monthly, cur)}/month over {t.resources} "
        f"resource(s) of {t.proposals} action(s); measured {money(t.measured_monthly, cur)}/month "
        f"on {measured} measured resource(s) (their estimate: "
        f"{money(t.estimated_of_measured, cur)}/month); realized so far {money(t.realized, cur)}"
    )


def _evidence(rows: list[SavingsRow], cur: str) -> None:
    _print(f"\nEvidence ({cur}, per resource):")
    for r in rows:
        back = (
            f", rolled back by {r.rollback_id} at {r.rolled_back_at:%Y-%m-%d %H:%M}"
            if (r.rollback_id and r.rolled_back_at)
            else ""
        )
        measured = (
            f"measured {money(r.measured_monthly, cur)}/month"
            if r.measured_monthly is not None
            else f"measured {_daily(r.measured_daily, cur)} (not extrapolated)"
        )
        _print(
            f"  {r.proposal_id} {r.action} {r.resource_id} · owner {r.owner or 'unassigned'} · "
            f"executed {r.executed_at:%Y-%m-%d %H:%M} UTC · {r.status}{back}"
        )
        _print(
            f"    baseline {_window(r.baseline_start, r.baseline_end, r.baseline_days)}, "
            f"{r.baseline_rows} cost rows, mean {_daily(r.baseline_daily, cur)}; post "
            f"{_window(r.post_start, r.post_end, r.post_days)}, {r.post_rows} cost rows, mean "
            f"{_daily(r.actual_daily, cur)}"
        )
        _print(
            f"    estimated {money(r.estimated_monthly, cur)}/month; {measured}; realized so far "
            f"{money(r.realized, cur)}"
        )


def savings_command(
    ctx: typer.Context,
    by: Annotated[
        str, typer.Option("--by", help="Group by owner, action or month (of execution).")
    ] = "owner",
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only rows of one status: {', '.join(STATUSES)}."),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh/--no-refresh", help="Measure again from the ledger and the warehouse first."
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Realized savings of executed actions: estimated vs measured (baseline − actual) per
    resource, grouped by owner, action or month, with the evidence windows."""
    wanted = by.strip().lower()
    if wanted not in GROUPINGS:
        raise QueryError(f"unknown --by {by!r}; valid: {', '.join(GROUPINGS)}")
    app: AppContext = ctx.obj
    rt = Runtime(app)
    try:
        report = build_report(
            rt.tool_context("cli", None), by=wanted, refresh=refresh, status=status
        )
    finally:
        rt.close()
    if as_json:
        print_json(report)
        return
    if not report.rows:
        _print(
            f"No executed saving actions to measure yet ({report.currency}, {report.metric} "
            "cost). Approved actions appear here once they have run."
        )
        return
    _groups(report)
    _total(report)
    _evidence(report.rows, report.currency)
    for note in report.notes:
        _print(f"note: {note}")


def register(app: typer.Typer) -> None:
    app.command("savings")(savings_command)
