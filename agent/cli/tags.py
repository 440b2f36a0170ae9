"""`finops tags`: refresh, coverage, explain, candidates, export and accuracy of virtual tags."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import typer

from agent.cli.allocation import refresh_allocation
from agent.cli.common import JsonOpt
from agent.cli.render import money, out_console, print_json, table
from agent.context import AppContext
from tools.periods import parse_day
from tools.vtags.accuracy import load_truth, score
from tools.vtags.report import PROVENANCES, candidates, coverage, explain, export
from warehouse.errors import QueryError
from warehouse.format import percent

__all__ = ["register"]

tags_app = typer.Typer(help="Virtual tags: allocation of every cost row to an owner.")


@tags_app.command("refresh")
def refresh_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Recompute every virtual tag over the whole history now."""
    result = refresh_allocation(ctx.obj, force=True, quiet=as_json)
    if as_json:
        print_json(result)
        return
    out_console.print(
        f"Allocated {', '.join(result.tags)} over {result.keys:,} allocation keys "
        f"in {result.seconds:.2f} s"
    )


@tags_app.command("coverage")
def coverage_command(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First month (YYYY-MM-01).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day of the last month.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Share of spend each virtual tag allocates, by provenance."""
    app: AppContext = ctx.obj
    refresh_allocation(app, quiet=as_json)
    result = coverage(
        app.warehouse(),
        app.config,
        since=parse_day(since, "--since"),
        until=parse_day(until, "--until"),
    )
    if as_json:
        print_json(result)
        return
    cur = result.currency
    period = f"{result.since or 'first month'} to {result.until or 'last day'}"
    out_console.print(f"Virtual tag coverage, billed cost, {period}:")
    for c in result.tags:
        shares = ", ".join(
            f"{p} {percent(c.by_provenance[p] / c.total * 100) if c.total else 'n/a'}"
            for p in PROVENANCES
        )
        out_console.print(
            f"- {c.vtag}: {percent(c.allocated_share * 100)} of {money(c.total, cur)} allocated to "
            f"{c.values} values ({shares})"
        )


@tags_app.command("explain")
def explain_command(
    ctx: typer.Context,
    resource: Annotated[str, typer.Argument(help="ResourceId (or ResourceName).")],
    as_json: JsonOpt = False,
) -> None:
    """Which tag, rule, inference or split decided each virtual tag of a resource, and why."""
    app: AppContext = ctx.obj
    refresh_allocation(app, quiet=as_json)
    result = explain(app.warehouse(), app.config, resource)
    if as_json:
        print_json(result)
        return
    first = result.matched[0]
    out_console.print(
        f"{resource}: {first['provider']} · account {first['account']} · {first['service']} · "
        f"{money(result.cost, result.currency)} billed, all history"
    )
    for d in result.decisions:
        why = d.detail or (f"best guess {d.best_guess}" if d.best_guess else "no signal")
        conf = f", confidence {d.confidence:.2f}" if d.confidence is not None else ""
        out_console.print(
            f"- {d.vtag} = {d.value} [{d.provenance}] {why}{conf}; "
            f"{money(d.cost, result.currency)}",
            markup=False,
            soft_wrap=True,
        )


@tags_app.command("candidates")
def candidates_command(
    ctx: typer.Context,
    tag: Annotated[str, typer.Option("--tag", help="Virtual tag.")] = "team",
    top: Annotated[int, typer.Option(min=1, help="How many.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The largest unallocated spend, with the best guess and why it was not enough."""
    app: AppContext = ctx.obj
    refresh_allocation(app, quiet=as_json)
    result = candidates(app.warehouse(), app.config, tag, top=top)
    if as_json:
        print_json(result)
        return
    cur = result.currency
    rows = [
        [
            c.provider or "",
            c.account or "",
            c.resource_name or c.resource_id or "(no resource id)",
            c.service or "",
            money(c.cost, cur),
            c.suggested or "",
            c.reason or "no signal in the tagged population",
        ]
        for c in result.candidates
    ]
    share = result.unallocated / result.total if result.total else Decimal(0)
    title = (
        f"Unallocated {tag}: {money(result.unallocated, cur)} of {money(result.total, cur)} "
        f"({percent(share * 100)}), billed, all history"
    )
    head = ["provider", "account", "resource", "service", "cost", "suggested", "why"]
    out_console.print(table(title, head, rows, right=(4,)))


@tags_app.command("export")
def export_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Output file (.csv or .parquet).")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or parquet (default: from suffix).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Resource id → virtual tag values, provenance, confidence and cost."""
    app: AppContext = ctx.obj
    if file_format not in (None, "csv", "parquet"):
        raise QueryError(f"invalid --format {file_format!r}; use csv or parquet")
    refresh_allocation(app, quiet=as_json)
    fmt: Literal["csv", "parquet"] | None = (
        "csv" if file_format == "csv" else "parquet" if file_format == "parquet" else None
    )
    count = export(app.warehouse(), app.config, path, file_format=fmt)
    if as_json:
        print_json({"path": str(path), "rows": count})
        return
    out_console.print(f"Wrote {count:,} rows to {path}")


@tags_app.command("accuracy")
def accuracy_command(
    ctx: typer.Context,
    truth: Annotated[
        Path, typer.Argument(help="ground_truth.json, or CSV: resource_id|sub_account_id,value")
    ],
    tag: Annotated[str, typer.Option("--tag", help="Virtual tag.")] = "team",
    as_json: JsonOpt = False,
) -> None:
    """Score a virtual tag against known owners: coverage and accuracy by provenance."""
    app: AppContext = ctx.obj
    refresh_allocation(app, quiet=as_json)
    result = score(app.warehouse(), app.config, tag, load_truth(truth))
    if as_json:
        print_json(result)
        return
    cur = result.currency
    rows = [
        [
            p,
            money(s.spend, cur),
            money(s.scored, cur),
            percent(s.accuracy * 100) if s.accuracy is not None else "n/a",
        ]
        for p, s in result.by_provenance.items()
    ]
    out_console.print(
        table(
            f"{tag}: {percent(result.allocated_share * 100)} of {money(result.total, cur)} "
            "allocated",
            ["provenance", "spend", "with known owner", "correct"],
            rows,
            right=(1, 2, 3),
        )
    )
    for w in result.wrong[:10]:
        out_console.print(
            f"wrong: {w['resource_id'] or w['account']} → {w['value']} (truth {w['truth']}), "
            f"{cur} {w['cost']}: {w['reason']}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(tags_app, name="tags")
