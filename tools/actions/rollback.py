"""`rollback_action`: the exact reverse of an executed action, as a proposal of its own.

Every reversible optimization action records in its result how to undo it (`result["rollback"]`,
with `action`: the reverse action type). Its module registers a *reverse builder* here
(`register_reverse`): given the executed original, the builder returns the draft of the reverse.
`rollback_action {"proposal_id": ...}` (and `finops rollback ACTION_ID`) dispatches to it; the
draft is recorded with action `rollback_action` and `params.action` naming the change it makes,
so policy can treat rollbacks apart (`approvals.blocked_actions`, `two_person`, daily caps).

Once approved, the `rollback_action` executor re-validates and executes through the registered
action of `params.action` — the same dry run, re-validation and executor as a forward change.
Nothing here writes to a cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions.aws_ec2 import ActionError
from tools.actions.limits import blast_radius
from tools.context import ToolContext
from tools.registry import REGISTRY, ActionSpec

__all__ = [
    "ROLLBACK",
    "ReverseBuilder",
    "RollbackActionArgs",
    "effective_action",
    "how_to_roll_back",
    "propose_rollback",
    "register_reverse",
    "reverse_targets",
]

ROLLBACK = "rollback_action"

ReverseBuilder = Callable[[ToolContext, Proposal], ProposalDraft]
"""Given an executed proposal (status done, `result["rollback"]` set), the reverse's draft."""

_REVERSES: dict[str, ReverseBuilder] = {}
_PERMISSIONS: dict[str, tuple[str, ...]] = {}


class RollbackActionArgs(BaseModel):
    proposal_id: str = Field(min_length=3, max_length=64, description="An executed proposal.")


def register_reverse(
    action: str, builder: ReverseBuilder, permissions: tuple[str, ...] = ()
) -> None:
    """Declare how an executed `action` is rolled back (one builder per action type)."""
    if action in _REVERSES:
        raise ValueError(f"a reverse for {action} is registered twice")
    _REVERSES[action] = builder
    _PERMISSIONS[action] = permissions


def how_to_roll_back(proposal_id: str) -> str:
    """The call an executed action's result names as its rollback."""
    return f'rollback_action {{"proposal_id": "{proposal_id}"}}'


def reverse_targets(
    ctx: ToolContext, original: Proposal, key: str, noun: str
) -> tuple[str, list[dict[str, Any]]]:
    """The reverse action and the resources an executed action recorded under
    `result["rollback"][key]`; ActionError when it changed none of them or when they exceed
    the `actions:` limits (checked again here: the limits may have changed since)."""
    spec = (original.result or {})["rollback"]
    targets = [dict(t) for t in spec.get(key) or []]
    if not targets:
        raise ActionError(f"{original.id} changed no {noun}")
    limit = blast_radius(ctx, targets)
    if limit:
        raise ActionError(limit)
    return str(spec["action"]), targets


def effective_action(proposal: Proposal) -> str:
    """The change a proposal makes: its action, or for `rollback_action` the reverse it names."""
    if proposal.action == ROLLBACK:
        return str(proposal.params["action"])
    return proposal.action


def propose_rollback(ctx: ToolContext, original: Proposal) -> ProposalDraft:
    """The reverse of `original` as a `rollback_action` draft (ActionError when there is none)."""
    action = effective_action(original)
    builder = _REVERSES.get(action)
    if builder is None:
        known = ", ".join(sorted(_REVERSES)) or "none"
        raise ActionError(
            f"{original.id} is a {action} proposal; rollback_action reverses {known} "
            "(tag pushes: rollback_tag_resources)"
        )
    spec = (original.result or {}).get("rollback")
    if original.status != "done" or not isinstance(spec, dict):
        raise ActionError(f"{original.id} is {original.status} and changed no resource")
    draft = builder(ctx, original)
    if draft.action != ROLLBACK or draft.params.get("rollback_of") != original.id:
        raise ValueError(f"reverse builder of {action} must return a {ROLLBACK} draft")
    if draft.params.get("action") not in REGISTRY.actions:
        raise ValueError(f"reverse of {action} names unregistered action {draft.params['action']}")
    return draft


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=("finops:rollback",),
    example={"proposal_id": "p-1a2b3c4d5e6f"},
)
def rollback_action(ctx: ToolContext, args: RollbackActionArgs) -> ProposalDraft:
    """Propose the exact reverse of an executed action (start what a stop stopped, resize back,
    scale a deployment back to its recorded replicas, ...), only on what it changed. Runs only
    after approval, and refuses if a target changed since. Example:
    {"proposal_id": "p-1a2b3c4d5e6f"}.
    """
    return propose_rollback(ctx, ctx.ledger.get(args.proposal_id))


def _inner(proposal: Proposal) -> ActionSpec:
    action = effective_action(proposal)
    spec = REGISTRY.actions.get(action)
    if spec is None or action == ROLLBACK:
        raise ActionError(f"rollback names unknown action {action!r}")
    return spec


def _precheck(ctx: ToolContext, proposal: Proposal) -> str | None:
    try:
        spec = _inner(proposal)
    except ActionError as exc:
        return str(exc)
    return spec.precheck(ctx, proposal)


def _execute(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    return _inner(proposal).execute(ctx, proposal)


REGISTRY.action(
    ActionSpec(
        name=ROLLBACK,
        precheck=_precheck,
        execute=_execute,
        permissions=("finops:rollback",),
    )
)
