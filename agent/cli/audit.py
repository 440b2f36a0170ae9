"""`finops audit`: the append-only audit log, listed or verified."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import JsonOpt, runtime
from agent.cli.render import err_console, out_console, print_json, table
from guardrails.audit import AuditLog, AuditVerification
from warehouse.errors import FinopsError

__all__ = ["register"]


def audit_command(
    ctx: typer.Context,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the hash chain, its anchors outside the state database, and that every "
            "approved or executed proposal has its entries; exit 1 with one line per problem.",
        ),
    ] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this entry kind.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N entries.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The append-only audit log: model calls, tool calls, proposals, decisions, executions."""
    rt = runtime(ctx)
    try:
        if verify:
            log = AuditLog.configured(rt.store, rt.clock, rt.app.config.audit, rt.environ)
            report = log.verify()
            if as_json:
                print_json(report)
            _report(report, quiet=as_json)
            return
        entries = rt.audit.entries(kind=kind, run_id=run)[-limit:]
    finally:
        rt.close()
    if as_json:
        print_json({"entries": [e.model_dump(mode="json") for e in entries]})
        return
    rows = [
        (
            str(e.seq),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.kind,
            e.actor,
            e.run_id or "",
            _brief(e.payload),
        )
        for e in entries
    ]
    out_console.print(table("Audit log", ["seq", "at (UTC)", "kind", "actor", "run", "what"], rows))


def _report(report: AuditVerification, *, quiet: bool) -> None:
    """One line per problem (the last raised, so the exit code is 1), or what was verified.
    With `--json` the document lists the problems and the error is one line."""
    if not report.ok and quiet:
        more = len(report.problems) - 1
        rest = f" (and {more} more problem{'s' if more > 1 else ''}: see the JSON)" if more else ""
        raise FinopsError(f"audit log tampered: {report.problem}{rest}")
    if not report.ok:
        *lines, last = [p.message for p in report.problems]
        for line in lines:
            err_console.print(f"error: audit log tampered: {line}", markup=False, soft_wrap=True)
        raise FinopsError(f"audit log tampered: {last}")
    if quiet:
        return
    out_console.print(
        f"audit log OK: {report.entries} entries, head {report.head}", markup=False, soft_wrap=True
    )
    anchors = report.anchors
    if anchors is None:
        out_console.print(
            "not anchored: the state is not a SQLite file and audit.anchors_path is unset, so "
            "entries cut off the end would not be seen",
            markup=False,
            soft_wrap=True,
        )
    else:
        since = f" (entries up to {anchors.baseline} by a baseline)" if anchors.baseline else ""
        out_console.print(
            f"anchored: {anchors.anchors} anchors in {anchors.path}{since}, key {anchors.key}",
            markup=False,
            soft_wrap=True,
        )
    out_console.print(f"ledger: {report.proposals} proposals have their audit entries")


def _brief(payload: dict[str, object]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in payload.items())
    return text if len(text) <= 90 else text[:87] + "..."


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
