"""`finops proposals`, `approve`, `reject`, `rollback`: proposed actions and their decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import JsonOpt, runtime
from agent.cli.render import money, out_console, print_json, table
from guardrails.approvals import Proposal
from tools.invoke import invoke_tool
from warehouse.errors import FinopsError, QueryError

if TYPE_CHECKING:
    from agent.runtime.runner import Runtime

__all__ = ["register"]

HASH_SHOWN = 16
"""Hex characters of the action hash a card shows (here and on the Slack card); `--hash` accepts
that many or more."""


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
        ("hash", p.action_hash[:HASH_SHOWN]),
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
    rt = runtime(ctx)
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
    rt = runtime(ctx)
    try:
        p = rt.ledger.get(proposal_id)
    finally:
        rt.close()
    print_json(p) if as_json else _show(p)


def _seen_hash(rt: Runtime, proposal_id: str, seen: str | None) -> str | None:
    """The full hash `seen` names: the whole hash, or a prefix of at least `HASH_SHOWN` hex
    characters of this proposal's current hash. A prefix that does not match is passed on as is,
    so the ledger refuses it (stale, audited) like any other hash that no longer matches."""
    if seen is None:
        return None
    prefix = seen.strip().lower()
    if len(prefix) < HASH_SHOWN or any(c not in "0123456789abcdef" for c in prefix):
        raise QueryError(
            f"--hash takes the action hash as shown: at least {HASH_SHOWN} hex characters "
            f"(`finops proposals show {proposal_id}`), got {seen!r}"
        )
    current = rt.ledger.get(proposal_id).action_hash
    return current if len(prefix) < len(current) and current.startswith(prefix) else prefix


def approve_command(
    ctx: typer.Context,
    proposal_id: Annotated[str, typer.Argument(help="Proposal id.")],
    by: Annotated[str, typer.Option("--by", help="Your approver id (config `approvers`).")],
    seen_hash: Annotated[
        str | None,
        typer.Option(
            "--hash",
            help=f"The hash you reviewed (at least the {HASH_SHOWN} characters shown); "
            "must still match.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposal; once approved it is re-validated and executed at most once."""
    rt = runtime(ctx)
    try:
        decision = rt.approve(proposal_id, by, seen_hash=_seen_hash(rt, proposal_id, seen_hash))
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
    rt = runtime(ctx)
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
    rt = runtime(ctx)
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


def register(app: typer.Typer) -> None:
    app.add_typer(proposals_app, name="proposals")
    app.command("approve")(approve_command)
    app.command("reject")(reject_command)
    app.command("rollback")(rollback_command)
