"""`finops demo`: build the demo company's warehouse and print a spend overview.

`--scale ROWS` instead writes a large synthetic FOCUS parquet for benchmarks.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from agent.cli.allocation import refresh_allocation
from agent.cli.common import JsonOpt
from agent.cli.render import err_console, money, out_console, print_json, table
from agent.config import load_config
from agent.context import AppContext
from agent.demo.build import build_demo
from agent.demo.cloud import CloudDemo, run_cloud_demo
from agent.runtime.runner import AskResult, Runtime
from tools.forecast.store import refresh_after_ingest, refresh_summary
from tools.spend.engine import MoversResult, SpendQuery, SpendResult, spend, top_movers
from tools.vocab.catalog import refresh_after_change
from tools.vtags.accuracy import AccuracyResult, load_truth, score
from warehouse.demo import DEMO_CONFIG, DEMO_END, DEMO_SEED, DemoFile, write_scale
from warehouse.errors import FinopsError
from warehouse.format import percent

__all__ = ["register"]


def _overview(app: AppContext, end: date) -> tuple[SpendResult, MoversResult]:
    engine = app.engine()
    by_provider = spend(engine, app.config, SpendQuery(by=["ProviderName"]))
    movers = top_movers(
        engine,
        app.config,
        by=["ProviderName", "ServiceName"],
        since=end - timedelta(days=6),
        until=end,
        top=5,
    )
    return by_provider, movers


def _ensure_demo_config(app: AppContext) -> bool:
    """Write the demo config when the home has none; True when written."""
    path = app.home.config_path
    if path.exists():
        return False
    app.home.ensure()
    path.write_text(DEMO_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    app.config = load_config(app.home)
    return True


def _allocation_check(app: AppContext, truth: Path, quiet: bool) -> AccuracyResult | None:
    """Allocate the demo's virtual tags and score `team` against the ground truth."""
    if "team" not in app.config.virtual_tags:
        return None
    refresh_allocation(app, quiet=quiet)
    return score(app.warehouse(), app.config, "team", load_truth(truth))


def _print_allocation(result: AccuracyResult) -> None:
    cur = result.currency
    by = result.by_provenance
    parts = ", ".join(
        f"{p} {percent(by[p].spend / result.total * 100)}"
        for p in ("tag", "rule", "inferred", "shared")
    )
    inferred = by["inferred"]
    accuracy = percent(inferred.accuracy * 100) if inferred.accuracy is not None else "n/a"
    out_console.print(
        f"Virtual tag team: {percent(result.allocated_share * 100)} of {money(result.total, cur)} "
        f"allocated, all history ({parts}); inferred owners correct for {accuracy} of "
        f"{money(inferred.spend, cur)} inferred spend against ground_truth.json"
    )


DEMO_QUESTION = "what did we spend on AWS last month by service?"
"""The question the demo puts to the agent (offline planner, no key needed)."""


def _ask_agent(app: AppContext) -> AskResult:
    """One chat run on the demo data through the real chat graph, with the offline planner."""
    rt = Runtime(app)
    try:
        return rt.ask(DEMO_QUESTION, model="offline")
    finally:
        rt.close()


def _print_answer(answer: AskResult, next_since: date) -> None:
    out_console.print(f"Agent ({answer.model}) · {DEMO_QUESTION}")
    out_console.print(answer.answer, markup=False, soft_wrap=True)
    tools = ", ".join(c.name for c in answer.tool_calls) or "none"
    out_console.print(
        f"tools: {tools} · {answer.usage.model_calls} model call(s) · "
        f"{money(answer.usage.cost_usd, 'USD')} · thread {answer.thread_id}"
    )
    out_console.print(
        "Next: finops spend --by vtag:team · finops tags coverage · "
        "finops spend --by SkuId --unit Tokens --per 1000000 · finops spend --grain day --since "
        f"{next_since} --filter ProviderName=Anthropic · "
        'finops ask "top movers last week"'
    )


def _print_overview(rows: int, out_dir: Path, totals: SpendResult, movers: MoversResult) -> None:
    cur = totals.currency
    out_console.print(
        f"Demo company: {rows:,} FOCUS rows, {totals.since} to {totals.until}, data in {out_dir}"
    )
    body = [[r.dimensions["ProviderName"], money(r.cost, cur)] for r in totals.rows]
    body.append(["total", money(totals.total, cur)])
    out_console.print(
        table(
            f"Billed cost by provider, {totals.since} to {totals.until}",
            ["provider", "cost"],
            body,
            right=(1,),
        )
    )
    moved = [
        [
            r.dimensions["ProviderName"],
            r.dimensions["ServiceName"],
            money(r.current, cur),
            money(r.previous, cur),
            money(r.delta, cur),
        ]
        for r in movers.rows
    ]
    out_console.print(
        table(
            f"Top movers, {movers.current_since}..{movers.current_until} vs "
            f"{movers.previous_since}..{movers.previous_until}",
            ["provider", "service", "this week", "week before", "delta"],
            moved,
            right=(2, 3, 4),
        )
    )


def _print_cloud(cloud: CloudDemo) -> None:
    names = cloud.instances
    out_console.print(
        f"Simulated AWS (moto, {cloud.endpoint}): {len(names)} EC2 instances, 14 days of hourly "
        "CloudWatch metrics collected through boto3."
    )
    idle = ", ".join(f"{i} ({names[i]})" for i in cloud.idle) or "none"
    kept = ", ".join(f"{i} ({names[i]})" for i in cloud.protected)
    out_console.print(
        f"Idle (rule ec2_low_utilization): {idle}; {kept} is idle too but protected "
        "(finops:protected=true) and never proposed."
    )
    p = cloud.proposal
    if p is None:
        out_console.print(cloud.note or "no proposal", markup=False)
        return
    out_console.print(f"Proposal {p['id']}: {p['summary']} · risk {p['risk']}", markup=False)
    running = sum(1 for i in cloud.idle if cloud.states_before.get(i) == "running")
    out_console.print(f"Before approval: {running} of {len(cloud.idle)} still running.")
    if cloud.approver is None:
        out_console.print(cloud.note or "awaiting approval", markup=False)
        return
    after = ", ".join(f"{i} {cloud.states_after.get(i, '?')}" for i in cloud.idle)
    out_console.print(
        f"Approved by {cloud.approver} → {p['status']} (re-validated, dry run, executed once): "
        f"EC2 now reports {after}.",
        markup=False,
    )
    out_console.print(
        f"Reverse it with: finops rollback {p['id']} --by YOU (approval-gated; the simulated "
        "cloud ends with the demo, so here it would fail re-validation)."
    )


def demo_command(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same company).")] = DEMO_SEED,
    end: Annotated[str, typer.Option(help="Last charge day (YYYY-MM-DD).")] = DEMO_END.isoformat(),
    days: Annotated[int, typer.Option(min=30, max=730, help="Days of history.")] = 90,
    scale: Annotated[
        int | None, typer.Option(min=1, help="Write a ROWS-row FOCUS parquet instead.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output file for --scale.")] = None,
    actions: Annotated[
        bool,
        typer.Option(
            "--actions/--no-actions",
            help="Also stop idle EC2 after approval on a simulated AWS (moto on 127.0.0.1).",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Build the demo company's warehouse in FINOPS_HOME, print a spend overview, and show an
    idle-instance stop going through approval on a simulated AWS."""
    app: AppContext = ctx.obj
    if scale is not None:
        target = out or app.home.ensure() / f"focus_scale_{scale}.parquet"
        path = write_scale(target, scale, seed=seed)
        if as_json:
            print_json({"path": str(path), "rows": scale})
        else:
            out_console.print(f"Wrote {scale:,} FOCUS rows to {path}")
        return
    try:
        last = date.fromisoformat(end)
    except ValueError:
        raise FinopsError(f"invalid --end {end!r}; expected YYYY-MM-DD") from None
    out_dir = app.home.ensure() / "demo"
    wrote_config = _ensure_demo_config(app)
    with Progress(console=err_console, transient=True, disable=as_json) as progress:
        task = progress.add_task("building the demo company", total=7)

        def advance(f: DemoFile) -> None:
            progress.update(task, advance=1, description=f"ingested {f.source}")

        result = build_demo(
            app.warehouse(), app.config, out_dir, seed=seed, end=last, days=days, on_file=advance
        )
    totals, movers = _overview(app, last)
    allocation = _allocation_check(app, result.manifest.ground_truth_path, as_json)
    forecasts = refresh_after_ingest(app.warehouse(), app.config)
    refresh_after_change(app.engine(), app.config)
    answer = _ask_agent(app)
    cloud = run_cloud_demo(app, last) if actions else None
    if as_json:
        print_json(
            {
                "rows": result.rows,
                "out_dir": str(out_dir),
                "ground_truth": str(result.manifest.ground_truth_path),
                "by_provider": totals.model_dump(mode="json"),
                "movers": movers.model_dump(mode="json"),
                "agent": answer.model_dump(mode="json"),
                "config_written": wrote_config,
                "forecasts": forecasts.model_dump(mode="json") if forecasts else None,
                "allocation": allocation.model_dump(mode="json") if allocation else None,
                "actions": cloud.model_dump(mode="json") if cloud else None,
            }
        )
    else:
        _print_overview(result.rows, out_dir, totals, movers)
        if allocation is not None:
            _print_allocation(allocation)
        if forecasts is not None:
            err_console.print(refresh_summary(forecasts), markup=False)
        _print_answer(answer, movers.current_since)
        if cloud is not None:
            _print_cloud(cloud)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
