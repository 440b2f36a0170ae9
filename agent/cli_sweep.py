"""`finops sweep`: ingest, allocate, forecast, detect, evaluate budgets, act once, digest."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from agent.context import AppContext
from agent.errors import QueryError
from agent.render import err_console, out_console, print_json
from agent.runtime import Runtime
from tools.context import ToolContext
from tools.sweep import run_sweep

__all__ = ["register"]


def sweep_command(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(help="First day to evaluate (default: after the last sweep, or 30 days)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """One sweep; needs no LLM. Findings, proposals and alerts are recorded once each."""
    app: AppContext = ctx.obj
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise QueryError(f"invalid --since {since!r}; expected YYYY-MM-DD") from None
    rt = Runtime(app)
    try:
        tctx = ToolContext(
            config=app.config,
            store=rt.store,
            ledger=rt.ledger,
            audit=rt.audit,
            clock=rt.clock,
            warehouse=app.warehouse,
            actor="sweep",
            config_path=app.home.config_path,
        )
        with err_console.status("sweeping", spinner="dots"):
            result = run_sweep(tctx, app.config.sweep, since=start, environ=dict(rt.environ))
    finally:
        rt.close()
    if as_json:
        print_json(result)
        return
    out_console.print(result.digest, markup=False, soft_wrap=True)
    steps = ", ".join(
        f"{s.name} {s.seconds:.1f}s" + ("" if s.ok else " FAILED") for s in result.steps
    )
    err_console.print(f"[dim]sweep {result.id}: {steps}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)
