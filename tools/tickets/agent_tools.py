"""The agent's ticket tool: `open_ticket` only proposes; the `open_ticket` action
(`tools.tickets.service`) files the ticket once a human approves."""

from __future__ import annotations

from guardrails.approvals import ProposalDraft
from tools.context import ToolContext
from tools.registry import REGISTRY
from tools.tickets.service import PERMISSIONS, TicketArgs, propose_ticket

__all__ = ["open_ticket"]


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=PERMISSIONS,
    example={"title": "Idle EC2 i-0abc in payments-prod", "owner": "payments", "priority": "low"},
)
def open_ticket(ctx: ToolContext, args: TicketArgs) -> ProposalDraft:
    """Propose opening a ticket for a team (it is created only after a human approves).

    Use when someone asks to "open / file a ticket" or a finding needs an owner to act. Give
    `finding_id` for a finding (one ticket per finding) and `proposal_id` for a proposed action
    the owner should know about (its approval, execution and rollback are posted to the ticket).
    Example: {"title": "Idle EC2 i-0abc in payments-prod", "owner": "payments",
    "priority": "low", "body": "CPU under 2% for 14 days; USD 61.32/month.",
    "finding_id": "opt-1a2b3c4d5e6f", "proposal_id": "p-1a2b3c4d5e6f"}.
    Returns the proposal id; tell the user it awaits approval.
    """
    return propose_ticket(ctx, args)
