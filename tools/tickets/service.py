"""Tickets: the `open_ticket` action and the local tickets table (the tool that proposes it:
`tools.tickets.agent_tools`).

Opening a ticket is a write (it notifies people and creates work), so the tool only proposes it;
the `open_ticket` action files it once the proposal is approved: a row in the local `tickets`
table always (the embedded default backend, and the mirror of a Jira issue or GitHub issue when
`tickets.backend` names one), plus the issue in the configured tracker.

One ticket per finding (or per tracked proposal, keyed by its action hash, when there is no
finding): a second `open_ticket` for the same key is refused, unless it brings a proposal the
ticket does not track yet, which it then links. Tracked proposals' decisions, executions and
rollbacks are posted to the ticket by `tools.tickets.sync.sync_tickets`, under the approval of
the ticket's own `open_ticket` proposal. A tracker that is down does not fail the approval: the
local ticket is recorded and the tracker's issue is created by the next sync.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from guardrails.approvals import ApprovalError, Proposal, ProposalDraft
from tools.actions.base import Action, register
from tools.context import ToolContext
from tools.tickets.backends import TicketBackendError
from tools.tickets.links import TicketLink, TicketLinks
from tools.tickets.sync import make_backend, new_ticket, sync_tickets
from warehouse.errors import QueryError
from warehouse.state.store import utc_text

__all__ = [
    "OPEN_TICKET",
    "PERMISSIONS",
    "Ticket",
    "TicketArgs",
    "close_ticket",
    "dedup_key",
    "list_tickets",
    "propose_ticket",
]

OPEN_TICKET = "open_ticket"
PERMISSIONS = ("tickets:create",)
_BY_NAME = {OPEN_TICKET: PERMISSIONS}


class Ticket(BaseModel):
    id: int
    created_at: str
    title: str
    body: str
    owner: str | None
    priority: str
    status: str
    proposal_id: str | None
    backend: str | None = None
    external_key: str | None = None
    url: str | None = None


class TicketArgs(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    body: str = Field(default="", max_length=8000, description="What, why, and the evidence.")
    owner: str | None = Field(
        default=None, description="Team or person who should act (default: the proposal's owner)."
    )
    priority: Literal["low", "medium", "high"] = "medium"
    expected_monthly_saving: Decimal = Field(default=Decimal(0), ge=0)
    finding_id: str | None = Field(
        default=None,
        min_length=3,
        max_length=80,
        description="The finding the ticket is about (opt-..., an anomaly id): one ticket each.",
    )
    proposal_id: str | None = Field(
        default=None,
        min_length=3,
        max_length=64,
        description="A proposal the ticket follows: its approval, execution and rollback are "
        "posted to the ticket.",
    )


def dedup_key(params: dict[str, Any], proposal_id: str) -> str:
    """The ticket's dedup key: its finding, else its tracked proposal's action hash (stored in
    params when proposed), else the `open_ticket` proposal itself."""
    if params.get("finding_id"):
        return f"finding:{params['finding_id']}"
    return str(params.get("dedup_key") or f"ticket:{proposal_id}")


def _already(link: TicketLink, tracked: str | None) -> str | None:
    """Why a new `open_ticket` for an existing ticket adds nothing, or None when it links a new
    proposal."""
    if tracked and tracked not in {t.proposal_id for t in link.tracked}:
        return None
    what = link.finding_id or (tracked and f"proposal {tracked}") or link.dedup_key
    return (
        f"ticket {link.label} already tracks {what} (opened by {link.ticket_proposal_id}); "
        "nothing new to link"
    )


def propose_ticket(ctx: ToolContext, args: TicketArgs) -> ProposalDraft:
    """The `open_ticket` proposal for the tool's arguments; QueryError when the ticket it would
    open already tracks everything it names."""
    params: dict[str, Any] = {
        "title": args.title,
        "body": args.body,
        "owner": args.owner,
        "priority": args.priority,
    }
    evidence: dict[str, Any] = {"requested_by": ctx.actor, "run_id": ctx.run_id}
    if args.proposal_id:
        tracked = ctx.ledger.get(args.proposal_id)
        params |= {"proposal_id": tracked.id, "dedup_key": f"proposal:{tracked.action_hash}"}
        params["owner"] = args.owner or tracked.owner
        evidence["tracks"] = {"proposal_id": tracked.id, "summary": tracked.summary}
    if args.finding_id:
        params["finding_id"] = args.finding_id
        evidence["finding_id"] = args.finding_id
    if "dedup_key" in params or args.finding_id:
        link = TicketLinks(ctx.store, ctx.clock).get(dedup_key(params, ""))
        problem = _already(link, args.proposal_id) if link else None
        if problem:
            raise QueryError(problem)
    who = params["owner"] or "finops"
    return ProposalDraft(
        action=OPEN_TICKET,
        target=f"tickets/{who}",
        params=params,
        summary=f"Open a {args.priority}-priority ticket for {who}: {args.title}",
        evidence=evidence,
        expected_monthly_saving=args.expected_monthly_saving,
        currency=ctx.config.reporting_currency,
        risk="low",
        rollback="Close the ticket (status closed); nothing else changes.",
        owner=params["owner"],
    )


def _insert_local(
    ctx: ToolContext, links: TicketLinks, proposal: Proposal, key: str, backend: str
) -> int:
    p = proposal.params
    with ctx.store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO tickets (created_at, title, body, owner, priority, status, proposal_id)"
            " VALUES (?, ?, ?, ?, ?, 'open', ?)",
            (utc_text(ctx.clock()), p["title"], p["body"], p.get("owner"), p["priority"],
             proposal.id),
        )  # fmt: skip
        local_id = int(cur.lastrowid or 0)
        links.insert(
            conn,
            dedup_key=key,
            local_ticket_id=local_id,
            backend=backend,
            ticket_proposal_id=proposal.id,
            finding_id=p.get("finding_id"),
            tracked=p.get("proposal_id"),
        )
    return local_id


def _link_more(
    ctx: ToolContext, links: TicketLinks, link: TicketLink, proposal: Proposal
) -> dict[str, Any]:
    """Add the proposal's tracked proposal to the existing ticket (precheck made sure it is
    new); its events are posted by the sync that follows."""
    tracked = str(proposal.params["proposal_id"])
    with ctx.store.transaction() as conn:
        links.track(conn, link.dedup_key, tracked)
    return {
        "ticket_id": link.local_ticket_id,
        "backend": link.backend,
        "key": link.external_key,
        "url": link.url,
        "linked": tracked,
        "rollback": "nothing to undo: the ticket stays; later events of the linked proposal "
        "are posted to it",
    }


class OpenTicket(Action):
    """Files the ticket: a row in the local table, and the issue in the configured tracker (a
    tracker that is down is retried by the next sync). Nothing to count against the `actions:`
    limits; a tracker without credentials fails the proposal before anything is filed."""

    names = (OPEN_TICKET,)
    permissions = _BY_NAME
    limited = False
    errors = (TicketBackendError,)

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        """Refuse a duplicate, or a tracker whose credentials are missing (nothing filed yet)."""
        p = proposal.params
        link = TicketLinks(ctx.store, ctx.clock).get(dedup_key(p, proposal.id))
        if link is not None:
            return _already(link, p.get("proposal_id"))
        if not p.get("finding_id") and not p.get("dedup_key"):
            rows = ctx.store.query(
                "SELECT id FROM tickets WHERE status = 'open' AND title = ? AND owner IS ?",
                (p["title"], p.get("owner")),
            )
            if rows:
                return f"an identical open ticket #{rows[0]['id']} already exists"
        make_backend(ctx.config.tickets, ctx.store, ctx.clock, os.environ)
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        links = TicketLinks(ctx.store, ctx.clock)
        key = dedup_key(proposal.params, proposal.id)
        existing = links.get(key)
        if existing is not None:
            return _link_more(ctx, links, existing, proposal)
        backend = make_backend(ctx.config.tickets, ctx.store, ctx.clock, os.environ)
        local_id = _insert_local(ctx, links, proposal, key, backend.name)
        result: dict[str, Any] = {"ticket_id": local_id, "backend": backend.name}
        try:
            ticket = new_ticket(ctx, proposal, local_id, key)
            ref = backend.find(ticket.dedup_label) or backend.create(ticket)
        except TicketBackendError as exc:
            links.record_error(key, str(exc))
            result["pending"] = (
                f"the tracker did not accept it yet ({exc}); retried by the next sync"
            )
        else:
            links.set_external(key, ref)
            result |= {"key": ref.key, "url": ref.url}
        result["rollback"] = f"finops tickets close {local_id} --by USER"
        return result


register(OpenTicket())


def list_tickets(ctx: ToolContext, status: str | None = None) -> list[Ticket]:
    """Tickets in the local table (with their tracker key and URL), newest first."""
    sql = (
        "SELECT t.*, l.backend, l.external_key, l.url FROM tickets t"
        " LEFT JOIN ticket_links l ON l.local_ticket_id = t.id"
        + (" WHERE t.status = ?" if status else "")
        + " ORDER BY t.id DESC"
    )
    return [Ticket(**dict(r)) for r in ctx.store.query(sql, (status,) if status else ())]


def close_ticket(ctx: ToolContext, ticket_id: int, by: str) -> Ticket:
    """Close an open ticket (a person's action, e.g. the rollback of `open_ticket`); audited.

    Only an allow-listed approver (config `approvers`) may close one, as only one may approve or
    reject: anyone else is refused (ApprovalError `not_allowed`, audited) and nothing changes.
    A ticket filed in Jira or GitHub is closed there by the sync that follows (under the
    approval of its `open_ticket` proposal); a tracker failure is recorded and retried.
    """
    if by not in ctx.config.approvers:
        msg = f"{by!r} is not an approver (config `approvers`); only an approver can close a ticket"
        ctx.audit.append(
            "refusal", by, {"ticket_id": ticket_id, "code": "not_allowed", "message": msg}
        )
        raise ApprovalError("not_allowed", msg)
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
    sync_tickets(ctx)
    return next(t for t in list_tickets(ctx) if t.id == ticket_id)
