"""`finops recommend`: idle resources, rightsizing and commitments, with evidence and savings."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

import typer

from agent.cli.common import JsonOpt
from agent.cli.render import money, out_console, print_json
from agent.context import AppContext
from agent.runtime.runner import Runtime
from tools.optimize.engine import recommend
from tools.optimize.models import KINDS, Evidence, Finding, OptimizationReport
from warehouse.errors import QueryError

__all__ = ["register"]

_TITLES = {"idle": "Idle", "rightsize": "Rightsizing", "commitment": "Commitments"}


def _print(text: str) -> None:
    out_console.print(text, markup=False, soft_wrap=True, highlight=False)


def _evidence(e: Evidence) -> str:
    value = "" if e.value is None else f" {e.value:g}{' ' + e.unit if e.unit else ''}"
    limit = f" (threshold {e.threshold})" if e.threshold else ""
    detail = f"; {e.detail}" if e.detail else ""
    return f"{e.metric} {e.statistic}{value}{limit} over {e.window}{detail}"


def _subject(f: Finding) -> str:
    if f.resource_id is None:
        return f.resource_name or f.rule
    parts = [p for p in (f.resource_kind, f.current, f.region) if p]
    name = f"{f.resource_name} " if f.resource_name and f.resource_name != f.resource_id else ""
    return f"{name}{f.resource_id} ({', '.join(parts)})"


def _finding(f: Finding) -> None:
    owner = f"owner {f.owner}" if f.owner else "owner unknown"
    saving = (
        f"saves {money(f.saving.monthly, f.currency)}/month"
        if f.saving.monthly is not None
        else "saving unknown"
    )
    label = "on-demand in scope" if f.kind == "commitment" and f.resource_id is None else "billed"
    cost = (
        f", {label} {money(f.monthly_cost, f.currency)}/month" if f.monthly_cost is not None else ""
    )
    _print(f"  {f.id}  {_subject(f)} · {owner}{cost}")
    _print(f"    {f.action}: {f.summary}")
    _print(f"    {saving} [{f.saving.source}: {f.saving.basis}]")
    for e in f.evidence:
        _print(f"    evidence: {_evidence(e)}")
    _print(f"    rule: {f.source}")


def _print_report(r: OptimizationReport, kinds: Sequence[str]) -> None:
    windows = []
    if r.bills_until:
        windows.append(f"bills {r.bills_since or '…'} to {r.bills_until}")
    if r.utilization_until:
        windows.append(f"utilization to {r.utilization_until}")
    _print(
        f"Recommendations, {r.metric} cost in {r.currency} per month (run rate of the bills × 730 h"
        f"){', ' + ', '.join(windows) if windows else ''}: {len(r.findings)} findings, "
        f"{money(r.monthly_saving, r.currency)}/month"
    )
    for kind in kinds:
        items = [f for f in r.findings if f.kind == kind]
        total = r.by_kind.get(kind, Decimal(0))
        _print(f"\n{_TITLES[kind]}: {len(items)}, {money(total, r.currency)}/month")
        for f in items:
            _finding(f)
    if r.skipped_protected:
        _print(f"\nSkipped, protected: {len(r.skipped_protected)}")
        for s in r.skipped_protected:
            _print(
                f"  {s.resource_id} ({s.resource_kind}): {s.reason}; matched {', '.join(s.rules)}"
            )
    for note in r.notes:
        _print(f"\nnote: {note}")


def recommend_command(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="idle, rightsize or commitment (default: all three)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Savings findings: idle resources, rightsizing, commitments; evidence and saving per month."""
    wanted = kind.strip().lower() if kind else None
    if wanted is not None and wanted not in KINDS:
        raise QueryError(f"unknown --kind {kind!r}; valid: {', '.join(KINDS)}")
    app: AppContext = ctx.obj
    rt = Runtime(app)
    try:
        report = recommend(rt.tool_context("cli", None), kind=wanted)
    finally:
        rt.close()
    if as_json:
        print_json(report)
        return
    _print_report(report, [wanted] if wanted else list(KINDS))


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend_command)
