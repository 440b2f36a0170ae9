"""`finops anomalies`: detect and list cost anomalies with root cause; show, mark, mute."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

import typer

from agent.cli.common import JsonOpt, runtime
from agent.cli.render import money, out_console, print_json, table
from tools.anomalies.models import Anomaly, AnomalyReport
from tools.anomalies.service import add_mute, mark, run_detection, show
from tools.periods import parse_day
from warehouse.format import percent

__all__ = ["register"]

anomalies_app = typer.Typer(help="Cost anomalies: detection, root cause, feedback, mute windows.")


def _days(a: Anomaly) -> str:
    if a.start_day == a.end_day:
        return str(a.start_day)
    return f"{a.start_day}..{a.end_day} ({a.days} anomalous days)"


def _figures(a: Anomaly) -> str:
    cur = a.currency
    pct = f", {a.impact_percent:+}%" if a.impact_percent is not None else ", new spend"
    when = (
        f"on {a.counted_days[0]}"
        if len(a.counted_days) == 1
        else f"over {len(a.counted_days)} days from {a.start_day}"
    )
    return (
        f"{money(a.actual, cur)} {when} vs expected {money(a.expected, cur)} "
        f"({money(a.impact, cur, signed=True)}{pct}, score {a.score:g})"
    )


_EVIDENCE_ORDER = ("ServiceName", "ResourceId", "SkuId", "SubAccountName", "vtag:team", "RegionId")


def _evidence(a: Anomaly, limit: int = 3) -> str:
    dims = [d for d in _EVIDENCE_ORDER if d in a.root_cause]
    dims += [d for d in a.root_cause if d not in dims]
    parts = []
    for dim in dims:
        top = a.top(dim)
        if top is None or top.share is None or abs(top.share) < Decimal("0.1"):
            continue
        parts.append(
            f"{top.dimension} {top.value} {money(top.delta, a.currency, signed=True)} "
            f"({percent(top.share * 100, 0)} of the delta)"
        )
    return "; ".join(parts[:limit]) or "no dominant contributor"


def _incidents(items: Sequence[Anomaly]) -> list[list[Anomaly]]:
    groups: dict[str, list[Anomaly]] = {}
    for a in items:
        groups.setdefault(a.incident or a.id, []).append(a)
    ordered = sorted(
        groups.values(),
        key=lambda g: (max(x.start_day for x in g), max(abs(x.impact) for x in g)),
        reverse=True,
    )
    return [sorted(g, key=lambda x: (-x.expected, x.scope)) for g in ordered]


def _print_report(r: AnomalyReport) -> None:
    groups = _incidents(r.anomalies)
    out_console.print(
        f"Cost anomalies, {r.metric} cost in {r.currency}, {r.since} to {r.until}: "
        f"{len(r.anomalies)} in {len(groups)} incidents (status {', '.join(r.statuses)}; "
        f"{r.new} new, {r.updated} updated"
        + "".join(f", {n} {s}" for s, n in sorted(r.suppressed.items()))
        + ")",
        markup=False,
        soft_wrap=True,
    )
    for group in groups:
        head = group[0]
        arrow = "up" if head.direction == "up" else "down"
        owner = f"owner {head.owner}" if head.owner else "owner unknown"
        out_console.print(
            f"\n{_days(head)} {arrow} · {owner} · {head.status} · {head.incident}",
            markup=False,
            soft_wrap=True,
        )
        for a in group:
            out_console.print(f"  {a.id}  {a.scope}: {_figures(a)}", markup=False, soft_wrap=True)
        out_console.print(
            f"  root cause ({head.scope}): {_evidence(head)}", markup=False, soft_wrap=True
        )


@anomalies_app.callback(invoke_without_command=True)
def anomalies_command(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="First day (default: 30 days to the latest).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (default: latest).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="open, new_normal, resolved, expected, planned, false-positive, muted, all "
            "(comma-separated; default open,new_normal,resolved).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Detect anomalies over the window, store them, and list them with their root cause."""
    if ctx.invoked_subcommand is not None:
        return
    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    statuses = status.split(",") if status is not None else None
    rt = runtime(ctx)
    try:
        report = run_detection(
            rt.tool_context("cli", None), since=start, until=end, statuses=statuses
        )
    finally:
        rt.close()
    if as_json:
        print_json(report)
        return
    _print_report(report)


@anomalies_app.command("show")
def show_command(
    ctx: typer.Context,
    anomaly_id: Annotated[str, typer.Argument(help="Anomaly id (an-…).")],
    as_json: JsonOpt = False,
) -> None:
    """One anomaly: figures, every root-cause dimension's top contributors, feedback."""
    rt = runtime(ctx)
    try:
        a = show(rt.tool_context("cli", None), anomaly_id)
    finally:
        rt.close()
    if as_json:
        print_json(a)
        return
    out_console.print(
        f"{a.id} · {a.status} · {a.direction} · {a.metric} cost in {a.currency}\n"
        f"scope {a.scope}, {_days(a)}\n{_figures(a)} (threshold {a.threshold:g})\n"
        f"owner {a.owner or 'unknown'} · incident {a.incident} · first seen "
        f"{a.first_seen:%Y-%m-%d %H:%M} UTC, last seen {a.last_seen:%Y-%m-%d %H:%M} UTC",
        markup=False,
        soft_wrap=True,
    )
    rows = [
        [
            c.dimension,
            c.value,
            money(c.expected, a.currency),
            money(c.actual, a.currency),
            money(c.delta, a.currency),
            percent(c.share * 100) if c.share is not None else "n/a",
        ]
        for items in a.root_cause.values()
        for c in items
    ]
    days = ", ".join(str(d) for d in a.counted_days)
    out_console.print(
        table(
            f"Root cause, {a.scope}, {days}",
            ["dimension", "value", "expected", "actual", "delta", "share"],
            rows,
            right=(2, 3, 4, 5),
        )
    )
    for f in a.feedback:
        out_console.print(
            f"feedback: {f.status} by {f.by} at {f.at:%Y-%m-%d %H:%M} UTC"
            + (f": {f.reason}" if f.reason else ""),
            markup=False,
            soft_wrap=True,
        )


@anomalies_app.command("mark")
def mark_command(
    ctx: typer.Context,
    anomaly_id: Annotated[str, typer.Argument(help="Anomaly id (an-…).")],
    status: Annotated[str, typer.Argument(help="expected, planned, false-positive (or open).")],
    by: Annotated[str, typer.Option("--by", help="Who says so (recorded, audited).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a verdict; marked anomalies are not raised again (false positives also raise the
    series' threshold)."""
    rt = runtime(ctx)
    try:
        a = mark(rt.tool_context("cli", None), anomaly_id, status, by=by, reason=reason)
    finally:
        rt.close()
    if as_json:
        print_json(a)
        return
    out_console.print(
        f"{a.id} ({a.scope}, {_days(a)}, {money(a.impact, a.currency)}) marked {a.status} by "
        f"{by.strip()}.",
        markup=False,
        soft_wrap=True,
    )


@anomalies_app.command("mute")
def mute_command(
    ctx: typer.Context,
    filter_text: Annotated[str, typer.Option("--filter", help="DIM=VALUE, e.g. ResourceId=i-0a1.")],
    until: Annotated[str, typer.Option("--until", help="Last muted day (YYYY-MM-DD).")],
    by: Annotated[str, typer.Option("--by", help="Who mutes (recorded, audited).")],
    since: Annotated[
        str | None, typer.Option("--from", help="First muted day (default today).")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mute anomalies that start in a window and have DIM=VALUE in their scope (or as the
    dominant contributor)."""
    end = parse_day(until, "--until")
    assert end is not None
    start = parse_day(since, "--from")
    rt = runtime(ctx)
    try:
        m = add_mute(
            rt.tool_context("cli", None), filter_text, until=end, by=by, since=start, reason=reason
        )
    finally:
        rt.close()
    if as_json:
        print_json(m)
        return
    out_console.print(
        f"mute #{m.id}: anomalies with {m.dimension}={m.value} starting {m.from_day} to "
        f"{m.until_day} are muted (by {m.by}).",
        markup=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(anomalies_app, name="anomalies")
