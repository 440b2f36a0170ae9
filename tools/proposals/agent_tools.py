"""Read tool: the status of proposals in the approvals ledger."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from guardrails.approvals import STATUSES
from tools.context import ToolContext
from tools.registry import REGISTRY

__all__ = ["ProposalStatusArgs"]


class ProposalStatusArgs(BaseModel):
    proposal_id: str | None = Field(default=None, description="One proposal id, e.g. p-1a2b3c.")
    status: str | None = Field(default=None, description=f"Only this status: {', '.join(STATUSES)}")
    limit: int = Field(default=10, ge=1, le=50)


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("state:read",),
    example={"status": "pending"},
)
def proposal_status(ctx: ToolContext, args: ProposalStatusArgs) -> dict[str, Any]:
    """Status of proposed actions: pending, approved, rejected, expired, executing, done, failed.

    Use for "what is waiting for approval", "did ticket p-1a2b3c get approved".
    Example: {"status": "pending"} or {"proposal_id": "p-1a2b3c4d5e6f"}.
    """
    ctx.ledger.expire_due()
    items = (
        [ctx.ledger.get(args.proposal_id)]
        if args.proposal_id
        else ctx.ledger.proposals(args.status)[: args.limit]
    )
    return {
        "proposals": [
            {
                "id": p.id,
                "action": p.action,
                "target": p.target,
                "summary": p.summary,
                "status": p.status,
                "expected_monthly_saving": str(p.expected_monthly_saving),
                "currency": p.currency,
                "expires_at": p.expires_at.isoformat(),
                "decided_by": p.decided_by,
                "result": p.result,
            }
            for p in items
        ]
    }
