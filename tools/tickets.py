"""Tickets: the local tickets table, the `open_ticket` write tool and the action it proposes.

Opening a ticket is a write (it notifies people and creates work), so the tool only proposes it;
the `open_ticket` action inserts the row once the proposal is approved. The local table is the
embedded default; Jira and other trackers plug in as further actions later.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.errors import QueryError
from guardrails.approvals import Proposal, ProposalDraft
from guardrails.store import utc_text
from tools.context import ToolContext
from tools.registry import REGISTRY, ActionSpec

__all__ = ["Ticket", "TicketArgs", "close_ticket", "list_tickets"]

_PERMS = ("tickets:create",)


class Ticket(BaseModel):
    id: int
    created_at: str
    title: str
    body: str
    owner: str | None
    priority: str
    status: str
    proposal_id: str | None


class TicketArgs(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    body: str = Field(default="", max_length=8000, description="What, why, and the evidence.")
    owner: str | None = Field(default=None, description="Team or person who should act.")
    priority: Literal["low", "medium", "high"] = "medium"
    expected_monthly_saving: Decimal = Field(default=Decimal(0), ge=0)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS,
    example={"title": "Idle EC2 i-0abc in payments-prod", "owner": "payments", "priority": "low"},
)
def open_ticket(ctx: ToolContext, args: TicketArgs) -> ProposalDraft:
    """Propose opening a ticket for a team (it is created only after a human approves).

    Use when someone asks to "open / file a ticket" or a finding needs an owner to act.
    Example: {"title": "Idle EC2 i-0abc in payments-prod", "owner": "payments",
    "priority": "low", "body": "CPU under 2% for 14 days; USD 61.32/month."}.
    Returns the proposal id; tell the user it awaits approval.
    """
    who = args.owner or "finops"
    return ProposalDraft(
        action="open_ticket",
        target=f"tickets/{who}",
        params={
            "title": args.title,
            "body": args.body,
            "owner": args.owner,
            "priority": args.priority,
        },
        summary=f"Open a {args.priority}-priority ticket for {who}: {args.title}",
        evidence={"requested_by": ctx.actor, "run_id": ctx.run_id},
        expected_monthly_saving=args.expected_monthly_saving,
        currency=ctx.config.reporting_currency,
        risk="low",
        rollback="Close the ticket (status closed); nothing else changes.",
        owner=args.owner,
    )


def _open_duplicate(ctx: ToolContext, proposal: Proposal) -> str | None:
    rows = ctx.store.query(
        "SELECT id FROM tickets WHERE status = 'open' AND title = ? AND owner IS ?",
        (proposal.params["title"], proposal.params.get("owner")),
    )
    return f"an identical open ticket #{rows[0]['id']} already exists" if rows else None


def _create(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    p = proposal.params
    with ctx.store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO tickets (created_at, title, body, owner, priority, status, proposal_id)"
            " VALUES (?, ?, ?, ?, ?, 'open', ?)",
            (
                utc_text(ctx.clock()),
                p["title"],
                p["body"],
                p.get("owner"),
                p["priority"],
                proposal.id,
            ),
        )
        ticket_id = cur.lastrowid
    return {"ticket_id": ticket_id, "rollback": f"finops tickets close {ticket_id} --by USER"}


REGISTRY.action(
    ActionSpec(name="open_ticket", precheck=_open_duplicate, execute=_create, permissions=_PERMS)
)


def list_tickets(ctx: ToolContext, status: str | None = None) -> list[Ticket]:
    """Tickets in the local table, newest first."""
    sql = "SELECT * FROM tickets" + (" WHERE status = ?" if status else "") + " ORDER BY id DESC"
    return [Ticket(**dict(r)) for r in ctx.store.query(sql, (status,) if status else ())]


def close_ticket(ctx: ToolContext, ticket_id: int, by: str) -> Ticket:
    """Close an open ticket (a person's action, e.g. the rollback of `open_ticket`); audited."""
    with ctx.store.transaction() as conn:
        cur = conn.execute(
            "UPDATE tickets SET status = 'closed' WHERE id = ? AND status = 'open'", (ticket_id,)
        )
        if cur.rowcount != 1:
            exists = conn.execute(
                "SELECT status FROM tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
            why = f"is already {exists[0]}" if exists else "does not exist"
            raise QueryError(f"ticket #{ticket_id} {why}")
        ctx.audit.append("ticket_closed", by, {"ticket_id": ticket_id})
    return next(t for t in list_tickets(ctx) if t.id == ticket_id)
