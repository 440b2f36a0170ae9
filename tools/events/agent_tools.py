"""Agent tools over runaway detection, and the `disable_api_key` action.

- `runaway_flags` (read): the runaway flags the event pipeline raised, with their evidence.
- `disable_api_key` (write): proposes disabling one provider API key; it never acts itself.
- action `disable_api_key`: after approval, the precheck confirms through the provider's admin API
  that the key is still active, then the executor disables it (Anthropic: status inactive;
  OpenAI: delete the project key) once, and records how to undo it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.context import ToolContext
from tools.events.config import RunawayConfig
from tools.events.flags import list_flags
from tools.events.keys import AdminKeys, KeyApiError, KeyRef, disable_key_draft
from tools.registry import REGISTRY, ActionSpec

__all__ = ["DisableKeyArgs", "RunawayFlagsArgs", "check_key_active", "disable_key"]

_PERMS = ("anthropic:organization.api_keys:update", "openai:organization.projects.api_keys:delete")


class RunawayFlagsArgs(BaseModel):
    status: Literal["open", "resolved", "all"] = Field(
        default="open", description="open (still running away), resolved, or all."
    )
    agent_id: str | None = Field(default=None, description="Only this agent, e.g. triage-bot.")
    limit: int = Field(default=10, ge=1, le=50)


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("state:read",),
    example={"status": "open"},
)
def runaway_flags(ctx: ToolContext, args: RunawayFlagsArgs) -> dict[str, Any]:
    """Runaway AI agents flagged in real time from usage events, with evidence and proposals.

    Each flag names the agent, the rule (spike: spend rate far above the agent's hourly norm;
    task_cost: one task far above the agent's usual task cost), the window spend, the norm, the
    ratio, the top tasks, the keys and models, and the ids of disable_api_key proposals.
    Use for "is any agent running away?", "why was triage-bot flagged?".
    Example: {"status": "open"} or {"agent_id": "ticket-triage-agent", "status": "all"}.
    """
    flags = list_flags(ctx.store, None if args.status == "all" else args.status, 1000)
    chosen = [f for f in flags if args.agent_id in (None, f.agent_id)][: args.limit]
    return {"flags": [f.model_dump(mode="json") for f in chosen]}


class DisableKeyArgs(BaseModel):
    provider: Literal["anthropic", "openai"]
    api_key_id: str = Field(description="The provider's key id, e.g. apikey_01Rj2N8S.")
    project_id: str | None = Field(default=None, description="OpenAI project id (OpenAI only).")
    agent_id: str = Field(min_length=1, max_length=256, description="The agent using the key.")
    reason: str = Field(min_length=3, max_length=500, description="Why, with the evidence.")
    owner: str | None = Field(default=None, description="Team that owns the agent.")
    burn_rate_usd_per_hour: Decimal = Field(default=Decimal(0), ge=0)

    @model_validator(mode="after")
    def _valid_key(self) -> DisableKeyArgs:
        try:
            KeyRef(provider=self.provider, api_key_id=self.api_key_id, project_id=self.project_id)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from None
        return self


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS,
    example={
        "provider": "anthropic",
        "api_key_id": "apikey_triage01",
        "agent_id": "ticket-triage-agent",
        "reason": "runaway flag rf-1a2b3c: 40x its hourly norm",
    },
)
def disable_api_key(ctx: ToolContext, args: DisableKeyArgs) -> ProposalDraft:
    """Propose disabling a provider API key used by a runaway agent (only after approval).

    Anthropic keys become inactive (re-enable to undo); OpenAI project keys are deleted (a new key
    must be issued to undo), so OpenAI needs project_id. Use when a runaway flag or the user asks
    to stop an agent's spend. Example: {"provider": "anthropic", "api_key_id":
    "apikey_triage01", "agent_id": "ticket-triage-agent", "reason": "runaway flag rf-1a2b3c:
    40x its hourly norm"}. Returns the proposal id; tell the user it awaits approval.
    """
    ref = KeyRef(provider=args.provider, api_key_id=args.api_key_id, project_id=args.project_id)
    return disable_key_draft(
        ref,
        config=ctx.config,
        agent_id=args.agent_id,
        team=args.owner,
        burn_rate_per_hour=args.burn_rate_usd_per_hour,
        horizon_hours=_horizon(ctx),
        evidence={"requested_by": ctx.actor, "run_id": ctx.run_id},
        reason=args.reason,
    )


def _horizon(ctx: ToolContext) -> Decimal:
    rules = getattr(ctx.config, "runaway", None)
    return rules.saving_horizon_hours if isinstance(rules, RunawayConfig) else Decimal(24)


def _ref(proposal: Proposal) -> KeyRef:
    p = proposal.params
    return KeyRef(provider=p["provider"], api_key_id=p["api_key_id"], project_id=p["project_id"])


def check_key_active(ctx: ToolContext, proposal: Proposal) -> str | None:
    """Precheck: the key must still be active (a disabled or deleted key needs nothing)."""
    try:
        ref = _ref(proposal)
    except (KeyError, ValidationError) as exc:
        return f"invalid key parameters: {exc}"
    keys = AdminKeys(ctx.config)
    try:
        state = keys.state(ref)
    except KeyApiError as exc:
        return f"cannot read the key's state: {exc}"
    finally:
        keys.close()
    return None if state == "active" else f"{ref.target} is already {state}"


def disable_key(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    """Execute: disable (Anthropic) or delete (OpenAI) the key once; return the rollback."""
    ref = _ref(proposal)
    keys = AdminKeys(ctx.config)
    try:
        confirmed = keys.disable(ref)
    finally:
        keys.close()
    return {**confirmed, "target": ref.target, "rollback": proposal.rollback}


REGISTRY.action(
    ActionSpec(
        name="disable_api_key",
        precheck=check_key_active,
        execute=disable_key,
        permissions=_PERMS,
    )
)
