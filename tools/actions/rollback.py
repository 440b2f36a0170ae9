"""`rollback_action`: the exact reverse of an executed action, as a proposal of its own.

Every reversible action (`Action.reversible`, see `tools.actions.base`) records in its result how
to undo it (`result["rollback"]`, with `action`: the reverse action type) and drafts the reverse
(`Action.reverse`). `rollback_action {"proposal_id": ...}` (and `finops rollback ACTION_ID`)
dispatches to it (`propose_rollback`); the draft is recorded with action `rollback_action` and
`params.action` naming the change it makes, so policy can treat rollbacks apart
(`approvals.blocked_actions`, `two_person`, daily caps).

Once approved, the `rollback_action` executor re-validates and executes through the registered
action of `params.action` — the same limits, dry run, re-validation and executor as a forward
change. Nothing here writes to a cloud.

An execution whose executor died is closed by the ledger with what its targets showed when
re-read (`tools.actions.recovery`): when the change was in fact applied, the proposal is `done`
with the same `rollback` an execution records, so it is reversed like any other; when the outcome
could not be told, the refusal says so instead of claiming nothing changed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from guardrails.approvals import Observed, Proposal, ProposalDraft
from tools.actions.base import (
    ROLLBACK,
    Action,
    ActionError,
    effective_action,
    register,
    registered,
    reversible_names,
)
from tools.context import ToolContext
from tools.registry import REGISTRY, ActionSpec

__all__ = ["PERMISSIONS", "ROLLBACK", "RollbackActionArgs", "propose_rollback"]

PERMISSIONS = {ROLLBACK: ("finops:rollback",)}


class RollbackActionArgs(BaseModel):
    proposal_id: str = Field(min_length=3, max_length=64, description="An executed proposal.")


def propose_rollback(ctx: ToolContext, original: Proposal) -> ProposalDraft:
    """The reverse of `original` as a `rollback_action` draft (ActionError when there is none)."""
    action = effective_action(original)
    owner = registered(action)
    if owner is None or not owner.reversible:
        known = ", ".join(reversible_names()) or "none"
        raise ActionError(
            f"{original.id} is a {action} proposal; rollback_action reverses {known} "
            "(tag pushes: rollback_tag_resources)"
        )
    spec = (original.result or {}).get("rollback")
    if original.status != "done" or not isinstance(spec, dict):
        raise ActionError(_nothing_to_reverse(original))
    draft = owner.reverse(ctx, original)
    if draft.action != ROLLBACK or draft.params.get("rollback_of") != original.id:
        raise ValueError(f"reverse of {action} must return a {ROLLBACK} draft")
    if draft.params.get("action") not in REGISTRY.actions:
        raise ValueError(f"reverse of {action} names unregistered action {draft.params['action']}")
    return draft


def _nothing_to_reverse(original: Proposal) -> str:
    """Why `original` has no recorded reverse: it changed nothing, or (its executor died) what
    the re-read of its targets found."""
    result = original.result or {}
    if result.get("lease_expired") and result.get("error"):
        return f"{original.id} is {original.status} with no change to reverse: {result['error']}"
    return f"{original.id} is {original.status} and changed no resource"


class Rollback(Action):
    """Runs an approved `rollback_action` through the action its `params.action` names (whose
    precheck applies the limits, so none are counted here)."""

    names = (ROLLBACK,)
    permissions = PERMISSIONS
    limited = False

    @staticmethod
    def _inner(proposal: Proposal) -> ActionSpec:
        action = effective_action(proposal)
        inner = REGISTRY.actions.get(action)
        if inner is None or action == ROLLBACK:
            raise ActionError(f"rollback names unknown action {action!r}")
        return inner

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        return self._inner(proposal).precheck(ctx, proposal)

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        return self._inner(proposal).execute(ctx, proposal)

    def observe(self, ctx: ToolContext, proposal: Proposal) -> Observed | None:
        inner = registered(effective_action(proposal))
        return inner.observe(ctx, proposal) if inner is not None and inner is not self else None


register(Rollback())
