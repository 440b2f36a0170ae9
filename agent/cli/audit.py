"""`finops audit`: the append-only audit log, listed or verified."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import JsonOpt, runtime
from agent.cli.render import out_console, print_json, table
from warehouse.errors import FinopsError

__all__ = ["register"]


def audit_command(
    ctx: typer.Context,
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain.")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this entry kind.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N entries.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The append-only audit log: model calls, tool calls, proposals, decisions, executions."""
    rt = runtime(ctx)
    try:
        if verify:
            report = rt.audit.verify()
            if as_json:
                print_json(report)
            if not report.ok:
                raise FinopsError(f"audit log tampered: {report.problem}")
            if not as_json:
                out_console.print(f"audit log OK: {report.entries} entries, head {report.head}")
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


def _brief(payload: dict[str, object]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in payload.items())
    return text if len(text) <= 90 else text[:87] + "..."


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
