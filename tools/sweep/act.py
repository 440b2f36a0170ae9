"""The sweep acting on optimization findings per policy (`sweep.act`): proposals and tickets.

For each finding a policy selects (finding action, minimum saving, owners, at most N per sweep),
the sweep calls the write tool that changes it — `stop_ec2_instances` for `stop_instance`,
`resize_ec2_instance` for `resize_instance`, and so on — through `invoke_tool`, exactly as the
agent would: the tool re-reads the live resource, refuses protected ones and blast radius, and
records a *pending* proposal. Nothing changes until an allow-listed approver approves. With
`ticket: true` it also proposes one ticket per finding for the finding's owner, linked to the
proposal (the ticket backends deduplicate by finding).

A finding is proposed once: not again while a proposal naming it (its id in the parameters) is
pending, approved, executing or done; a rejected, expired or failed one may be proposed again
on a later sweep if the finding still holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from tools.context import ToolContext
from tools.invoke import invoke_tool
from tools.optimize.models import Finding
from tools.registry import ToolRegistry
from tools.sweep.config import ActPolicy
from warehouse.format import money

__all__ = ["FINDING_TOOLS", "ActOutcome", "act_on_findings"]

FINDING_TOOLS: dict[str, str] = {
    "stop_instance": "stop_ec2_instances",
    "resize_instance": "resize_ec2_instance",
    "scale_to_zero": "scale_deployment_to_zero",
    "set_requests": "patch_container_requests",
    "stop_db_instance": "stop_rds_instance",
    "snapshot_and_delete_volume": "delete_ebs_volume",
}
"""Finding action → the write tool that proposes the change."""

_LIVE = ("pending", "approved", "executing", "done")


class ActOutcome(BaseModel):
    """What the sweep proposed for one finding, or why it did not."""

    finding_id: str
    action: str
    tool: str | None
    outcome: str
    proposal_id: str | None = None
    ticket_proposal_id: str | None = None
    error: str | None = None


def _finding_ids(value: Any) -> Iterator[str]:
    """Every optimization finding id (`opt-…`) anywhere in a proposal's parameters."""
    if isinstance(value, str):
        if value.startswith("opt-"):
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _finding_ids(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _finding_ids(v)


def _already(ctx: ToolContext) -> tuple[set[str], set[str]]:
    """Finding ids named by live or executed change proposals, and by ticket proposals."""
    changes: set[str] = set()
    tickets: set[str] = set()
    for p in ctx.ledger.proposals():
        if p.status in _LIVE:
            (tickets if p.action == "open_ticket" else changes).update(_finding_ids(p.params))
    return changes, tickets


def _selected(policy: ActPolicy, f: Finding) -> bool:
    if "*" not in policy.actions and f.action not in policy.actions:
        return False
    if policy.owners and (f.owner or "") not in policy.owners:
        return False
    return (f.saving.monthly or Decimal(0)) >= policy.min_monthly_saving


def _tool_args(registry: ToolRegistry, tool: str, fid: str) -> dict[str, Any] | None:
    """Arguments naming the finding, in whichever form the tool takes (None: it takes none)."""
    fields = registry.tools[tool].args.model_fields
    if "finding_ids" in fields:
        return {"finding_ids": [fid]}
    if "finding_id" in fields:
        return {"finding_id": fid}
    return None


def _ticket(
    ctx: ToolContext, registry: ToolRegistry, f: Finding, proposal_id: str | None
) -> tuple[str | None, str | None]:
    cur = ctx.config.reporting_currency
    saving = f.saving.monthly
    body = "\n".join(
        [
            f.summary,
            f"Rule: {f.rule} ({f.source}).",
            *(f"- {e.metric} {e.statistic} {e.window}: {e.value} {e.unit}" for e in f.evidence),
            f"Estimated saving: {money(saving, cur)}/month ({f.saving.source})."
            if saving is not None
            else "Estimated saving: unknown.",
            f"Proposal: {proposal_id} (finops proposals show {proposal_id})."
            if proposal_id
            else "No change proposed; the owner decides.",
        ]
    )
    args: dict[str, Any] = {
        "title": f"[FinOps] {f.summary}"[:200],
        "body": body[:8000],
        "owner": f.owner,
        "priority": "medium" if (saving or 0) >= 500 else "low",
        "expected_monthly_saving": str(saving or 0),
        "finding_id": f.id,
    }
    if proposal_id:
        args["proposal_id"] = proposal_id
    fields = registry.tools["open_ticket"].args.model_fields
    out = invoke_tool(registry, ctx, "open_ticket", {k: v for k, v in args.items() if k in fields})
    return out.proposal_id, out.error


def _act_one(
    ctx: ToolContext,
    registry: ToolRegistry,
    policy: ActPolicy,
    f: Finding,
    todo: tuple[bool, bool],
) -> ActOutcome:
    tool = FINDING_TOOLS.get(f.action)
    result = ActOutcome(finding_id=f.id, action=f.action, tool=tool, outcome="reported")
    propose, ticket = todo
    if policy.propose and not propose:
        result.outcome = "already proposed"
    if propose:
        args = _tool_args(registry, tool, f.id) if tool and tool in registry.tools else None
        if args is None:
            result.outcome = f"no write tool proposes {f.action}; reported only"
        else:
            out = invoke_tool(registry, ctx, str(tool), args)
            result.proposal_id, result.error = out.proposal_id, out.error
            result.outcome = "proposed" if out.proposal_id else "refused by the tool"
    if ticket:
        result.ticket_proposal_id, error = _ticket(ctx, registry, f, result.proposal_id)
        result.error = result.error or error
    return result


def act_on_findings(
    ctx: ToolContext,
    findings: Sequence[Finding],
    policies: Sequence[ActPolicy],
    registry: ToolRegistry,
) -> list[ActOutcome]:
    """Propose what the policies select, once per finding, largest saving first."""
    changes, tickets = _already(ctx)
    out: list[ActOutcome] = []
    ranked = sorted(findings, key=lambda f: -(f.saving.monthly or Decimal(0)))
    for policy in policies:
        taken = 0
        for f in ranked:
            if taken >= policy.max_proposals:
                break
            todo = (policy.propose and f.id not in changes, policy.ticket and f.id not in tickets)
            if not any(todo) or not _selected(policy, f):
                continue
            if todo[0]:
                changes.add(f.id)
            if todo[1]:
                tickets.add(f.id)
            out.append(_act_one(ctx, registry, policy, f, todo))
            taken += 1
    return out
