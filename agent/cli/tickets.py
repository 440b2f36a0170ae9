"""`finops tickets`: the local tickets table; close a ticket, sync decisions to the tracker."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import JsonOpt, runtime
from agent.cli.render import err_console, out_console, print_json, table
from tools.tickets.service import close_ticket, list_tickets
from tools.tickets.sync import sync_tickets

__all__ = ["register"]


tickets_app = typer.Typer(help="The local tickets table (tickets opened by approved proposals).")


@tickets_app.callback(invoke_without_command=True)
def tickets_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="open or closed.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List tickets, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    rt = runtime(ctx)
    try:
        items = list_tickets(rt.tool_context("cli", None), status)
    finally:
        rt.close()
    if as_json:
        print_json({"tickets": [t.model_dump(mode="json") for t in items]})
        return
    rows = [
        (f"#{t.id}", t.status, t.priority, t.owner or "", t.title, t.proposal_id or "",
         t.external_key or "")
        for t in items
    ]  # fmt: skip
    head = ["ticket", "status", "priority", "owner", "title", "proposal", "tracker"]
    out_console.print(table(f"Tickets ({status or 'all'})", head, rows))


@tickets_app.command("close")
def tickets_close(
    ctx: typer.Context,
    ticket_id: Annotated[int, typer.Argument(help="Ticket number.")],
    by: Annotated[
        str, typer.Option("--by", help="Your approver id (config `approvers`); audited.")
    ],
) -> None:
    """Close a ticket (for example to roll back an approved `open_ticket`)."""
    rt = runtime(ctx)
    try:
        ticket = close_ticket(rt.tool_context("cli", None), ticket_id, by)
    finally:
        rt.close()
    out_console.print(f"ticket #{ticket.id} closed by {by}.")


@tickets_app.command("sync")
def tickets_sync(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Post proposal decisions, executions and rollbacks to their tickets (Jira, GitHub, local)
    and create tickets the tracker did not accept yet; each change is posted once."""
    rt = runtime(ctx)
    try:
        report = sync_tickets(rt.tool_context("cli", None), environ=rt.environ)
    finally:
        rt.close()
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        out_console.print(
            f"tickets synced: {len(report.created)} created, {report.comments} comments, "
            f"{len(report.closed)} closed, {len(report.errors)} errors."
        )
        for error in report.errors:
            err_console.print(f"  {error}")
    if report.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(tickets_app, name="tickets")
