"""`finops ask`, `proposals`, `approve`, `reject`, `rollback`, `audit`: the agent on the CLI."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.render import err_console, money, out_console, print_json, table
from agent.context import AppContext
from agent.runtime.runner import Runtime
from guardrails.approvals import Proposal
from tools.invoke import invoke_tool
from tools.tickets.service import close_ticket, list_tickets
from tools.tickets.sync import sync_tickets
from warehouse.errors import FinopsError

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _runtime(ctx: typer.Context) -> Runtime:
    app: AppContext = ctx.obj
    return Runtime(app)


def ask_command(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A FinOps question in plain words.")],
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this conversation thread.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="offline, anthropic[:MODEL] or openai[:MODEL]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the agent; it answers from the warehouse with tools, within its self-budget."""
    rt = _runtime(ctx)
    try:
        result = rt.ask(question, thread_id=thread, model=model)
    finally:
        rt.close()
    if as_json:
        print_json(result)
        return
    out_console.print(result.answer, markup=False, soft_wrap=True)
    calls = ", ".join(c.name + ("" if c.ok else " (error)") for c in result.tool_calls) or "none"
    u = result.usage
    err_console.print(
        f"[dim]thread {result.thread_id} · model {result.model} · tools: {calls} · "
        f"{u.model_calls} model call(s), {u.input_tokens + u.cache_read_tokens} in / "
        f"{u.output_tokens} out tokens · {money(u.cost_usd, 'USD')}[/dim]"
    )


def _card_rows(p: Proposal) -> list[tuple[str, str]]:
    rows = [
        ("proposal", p.id),
        ("status", p.status + (f" by {p.decided_by}" if p.decided_by else "")),
        ("action", p.action),
        ("target", p.target),
        ("what changes", p.summary),
        ("parameters", ", ".join(f"{k}={v}" for k, v in p.params.items()) or "none"),
        ("expected saving", f"{money(p.expected_monthly_saving, p.currency)} / month"),
        ("risk", p.risk),
        ("rollback", p.rollback),
        ("owner", p.owner or "unassigned"),
        ("expires", f"{p.expires_at:%Y-%m-%d %H:%M} UTC"),
        ("hash", p.action_hash[:16]),
    ]
    if p.reason:
        rows.append(("reason", p.reason))
    if isinstance(p.evidence.get("diff"), str):
        rows.append(("change (diff)", p.evidence["diff"]))
    if p.result is not None:
        rows.append(("result", ", ".join(f"{k}={v}" for k, v in p.result.items())))
    return rows


def _show(p: Proposal) -> None:
    out_console.print(table(f"Proposal {p.id}", ["field", "value"], _card_rows(p)))


proposals_app = typer.Typer(help="Proposed actions and their status.", no_args_is_help=False)


@proposals_app.callback(invoke_without_command=True)
def proposals_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List proposals, newest first (expired ones are marked on the way)."""
    if ctx.invoked_subcommand is not None:
        return
    rt = _runtime(ctx)
    try:
        rt.ledger.expire_due()
        items = rt.ledger.proposals(status)
    finally:
        rt.close()
    if as_json:
        print_json({"proposals": [p.model_dump(mode="json") for p in items]})
        return
    rows = [
        (
            p.id,
            p.status,
            p.action,
            p.target,
            money(p.expected_monthly_saving, p.currency),
            f"{p.expires_at:%Y-%m-%d %H:%M}",
        )
        for p in items
    ]
    title = f"Proposals ({status or 'all'})"
    head = ["id", "status", "action", "target", "saving / month", "expires (UTC)"]
    out_console.print(table(title, head, rows, right=[4]))


@proposals_app.command("show")
def proposals_show(
    ctx: typer.Context,
    proposal_id: Annotated[str, typer.Argument(help="Proposal id, e.g. p-1a2b3c4d5e6f.")],
    as_json: JsonOpt = False,
) -> None:
    """Everything about one proposal: the change, evidence, saving, risk, rollback, decision."""
    rt = _runtime(ctx)
    try:
        p = rt.ledger.get(proposal_id)
    finally:
        rt.close()
    print_json(p) if as_json else _show(p)


def approve_command(
    ctx: typer.Context,
    proposal_id: Annotated[str, typer.Argument(help="Proposal id.")],
    by: Annotated[str, typer.Option("--by", help="Your approver id (config `approvers`).")],
    seen_hash: Annotated[
        str | None, typer.Option("--hash", help="The hash you reviewed; must still match.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposal; once approved it is re-validated and executed at most once."""
    rt = _runtime(ctx)
    try:
        decision = rt.approve(proposal_id, by, seen_hash=seen_hash)
    finally:
        rt.close()
    if as_json:
        print_json(decision)
        return
    p = decision.proposal
    if decision.outcome == "awaiting_second_approver":
        out_console.print(f"{p.id}: approval by {by} recorded; a second approver is required.")
        return
    out_console.print(f"{p.id}: approved by {p.decided_by}; status {p.status}.")
    _show(p)


def reject_command(
    ctx: typer.Context,
    proposal_id: Annotated[str, typer.Argument(help="Proposal id.")],
    by: Annotated[str, typer.Option("--by", help="Your approver id (config `approvers`).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the record.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a proposal; nothing runs."""
    rt = _runtime(ctx)
    try:
        p = rt.reject(proposal_id, by, reason)
    finally:
        rt.close()
    if as_json:
        print_json(p)
        return
    out_console.print(f"{p.id}: rejected by {p.decided_by}; nothing was changed.")


def rollback_command(
    ctx: typer.Context,
    action_id: Annotated[str, typer.Argument(help="The executed proposal to reverse.")],
    by: Annotated[str, typer.Option("--by", help="Who asks (recorded; not an approval).")],
    as_json: JsonOpt = False,
) -> None:
    """Propose the exact reverse of an executed action; it runs only after approval."""
    rt = _runtime(ctx)
    try:
        outcome = invoke_tool(
            rt.registry, rt.tool_context(by, None), "rollback_action", {"proposal_id": action_id}
        )
        if not outcome.ok or outcome.proposal_id is None:
            raise FinopsError(outcome.error or f"cannot roll back {action_id}")
        p = rt.ledger.get(outcome.proposal_id)
    finally:
        rt.close()
    if as_json:
        print_json(p)
        return
    out_console.print(f"{p.id}: rollback of {action_id} proposed; it awaits approval.")
    _show(p)


def audit_command(
    ctx: typer.Context,
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain.")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this entry kind.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N entries.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The append-only audit log: model calls, tool calls, proposals, decisions, executions."""
    rt = _runtime(ctx)
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
    rt = _runtime(ctx)
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
    by: Annotated[str, typer.Option("--by", help="Who closes it (recorded in the audit log).")],
) -> None:
    """Close a ticket (for example to roll back an approved `open_ticket`)."""
    rt = _runtime(ctx)
    try:
        ticket = close_ticket(rt.tool_context("cli", None), ticket_id, by)
    finally:
        rt.close()
    out_console.print(f"ticket #{ticket.id} closed by {by}.")


@tickets_app.command("sync")
def tickets_sync(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Post proposal decisions, executions and rollbacks to their tickets (Jira, GitHub, local)
    and create tickets the tracker did not accept yet; each change is posted once."""
    rt = _runtime(ctx)
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
    app.command("ask")(ask_command)
    app.add_typer(proposals_app, name="proposals")
    app.command("approve")(approve_command)
    app.command("reject")(reject_command)
    app.command("rollback")(rollback_command)
    app.command("audit")(audit_command)
    app.add_typer(tickets_app, name="tickets")
