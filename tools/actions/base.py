"""The one base of every approval-gated action, and the one way an action is registered.

Pattern: Cloud Custodian's registered action classes. An `Action` names the action types it
executes (`names`) with the permissions each needs, and implements the hooks of one change:

- `precheck`, right before executing (template): the blast radius (`actions:` limits, on
  `params[key]`) is checked again unless the action opts out (`limited = False`: it has no
  resources to count, or delegates to an action that counts them), then `recheck`: by default
  `drift` (the live state re-described and compared with what the proposal saw; any problem
  fails the proposal with "...; propose again") and then `dry_run` (the provider's own check).
  The action's expected errors (`errors`) become the reason the proposal fails.
- `execute`: the change, once; the result records what changed and how to roll it back.
- `reverse`: the draft of the exact reverse of an executed proposal, which `rollback_action`
  proposes (`reversible` actions only).
- `observe`: after the executor died mid-execution (its lease lapsed), what the targets show
  now compared with the plan (`Observed`); the ledger records it instead of "outcome unknown".
  By default an action cannot tell (None); a `TargetAction` re-reads each target through its own
  `drift`, and an action that knows its after-state says whether the change was applied (see
  `tools.actions.recovery`).

`TargetAction` adds the proposing side of an action on a list of resources: `resolve` (what the
tool's arguments name, without live state), `plan` (the targets with the live state the
proposer saw, and the evidence), `draft` (the proposal); `propose` chains them and `reverse`
re-drafts the targets an execution recorded.

`register(action)` puts one `ActionSpec` per action type on the registry. The approval gate,
execute-at-most-once, dry-run mode and the audit live in the action workflow and the approvals
ledger: an action only re-validates and acts. Helpers shared by the concrete actions:
`FindingsOrIds` (tool arguments), `admit` (refusals and limits of a plan), `total` (amounts),
`make_draft` (a proposal, or the same change as a `rollback_action`), `drifted` (live state
against what the proposal saw), `outcome` and `undo` (an execution's result and its rollback).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar

from pydantic import BaseModel, model_validator

from guardrails.approvals import Observed, Proposal, ProposalDraft
from tools.actions.config import actions_settings
from tools.actions.limits import blast_radius
from tools.context import ToolContext
from tools.registry import REGISTRY, ActionSpec
from warehouse.errors import QueryError

__all__ = [
    "ROLLBACK",
    "Action",
    "ActionError",
    "FindingsOrIds",
    "Planned",
    "TargetAction",
    "Targets",
    "admit",
    "drifted",
    "effective_action",
    "how_to_roll_back",
    "make_draft",
    "outcome",
    "register",
    "registered",
    "reverse_targets",
    "reversible_names",
    "target_name",
    "total",
    "undo",
]

ROLLBACK = "rollback_action"
"""The action type of every reverse proposal; `params.action` names the change it makes."""

R = TypeVar("R")
A = TypeVar("A", bound="Action")
Targets = list[dict[str, Any]]


class ActionError(QueryError):
    """A cloud action could not be proposed, re-validated or executed; the message says why."""


class Planned(NamedTuple):
    """A change ready to be drafted: the action, its targets with the live state seen when
    proposing, what the approver sees of them, and the proposal it reverses (if any)."""

    name: str
    targets: Targets
    evidence: Any
    rollback_of: str | None = None


class FindingsOrIds(BaseModel):
    """Tool arguments naming resources by finding ids or by their own ids (the field `ids`)."""

    ids: ClassVar[str]

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not any(getattr(self, name) for name in ("finding_ids", self.ids)):
            raise ValueError(f"give finding_ids or {self.ids}")
        return self


class Action(ABC):
    """What approved proposals of `names` do: re-validate, execute once, and reverse."""

    names: ClassVar[tuple[str, ...]]
    permissions: ClassVar[Mapping[str, tuple[str, ...]]]
    """Permissions each action type needs (the registry's `ActionSpec.permissions`)."""
    key: ClassVar[str] = ""
    """The parameter holding the proposal's resources (e.g. `instances`)."""
    noun: ClassVar[str] = "resource"
    limited: ClassVar[bool] = True
    """Whether the `actions:` limits apply to `params[key]` (checked again before executing)."""
    reversible: ClassVar[bool] = False
    """Whether `rollback_action` proposes the reverse of an executed proposal (`reverse`)."""
    errors: ClassVar[tuple[type[Exception], ...]] = (ActionError,)
    """Errors of re-validation that fail the proposal with their message."""

    def precheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        """Why the approved proposal must not execute now, or None."""
        try:
            if self.limited:
                limit = blast_radius(ctx, proposal.params[self.key])
                if limit:
                    return limit
            return self.recheck(ctx, proposal)
        except self.errors as exc:
            return str(exc)

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        """After the limits: drift from what the proposal saw, then the dry run."""
        problems = self.drift(ctx, proposal)
        if problems:
            return "; ".join(problems) + "; propose again"
        return self.dry_run(ctx, proposal)

    def drift(self, ctx: ToolContext, proposal: Proposal) -> list[str]:
        """One problem per target whose live state differs from what the proposal saw."""
        return []

    def dry_run(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        """Why the provider would refuse the change (its dry run), or None."""
        return None

    @abstractmethod
    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        """Perform the change once; the result, with how to roll it back."""

    def reverse(self, ctx: ToolContext, original: Proposal) -> ProposalDraft:
        """The `rollback_action` draft reversing the executed `original`."""
        raise ActionError(f"{original.action} has no reverse")

    def observe(self, ctx: ToolContext, proposal: Proposal) -> Observed | None:
        """What the targets of `proposal` show now, its executor having died mid-execution;
        None when this action cannot re-read them (the outcome stays unknown)."""
        return None


class TargetAction(Action, Generic[R]):
    """An action on a list of resources: proposed from a tool's arguments, reversed from the
    targets its execution recorded (`result["rollback"][key]`)."""

    reversible = True

    def propose(self, ctx: ToolContext, name: str, args: BaseModel) -> ProposalDraft:
        """The proposal of `name` for a tool's arguments (nothing changes)."""
        targets, evidence = self.plan(ctx, name, self.resolve(ctx, name, args))
        return self.draft(ctx, Planned(name, targets, evidence))

    @abstractmethod
    def resolve(self, ctx: ToolContext, name: str, args: Any) -> R:
        """The resources the arguments name (findings, ids), without live state."""

    @abstractmethod
    def plan(self, ctx: ToolContext, name: str, resolved: R) -> tuple[Targets, Any]:
        """(targets with the live state seen now, evidence); ActionError when refused."""

    @abstractmethod
    def draft(self, ctx: ToolContext, planned: Planned) -> ProposalDraft:
        """The proposal of the planned change (with `rollback_of`: as a `rollback_action`)."""

    def reverse_evidence(self, targets: Targets) -> Any:
        """What the approver of a reverse sees of its targets."""
        return [dict(t) for t in targets]

    def reverse(self, ctx: ToolContext, original: Proposal) -> ProposalDraft:
        action, targets = reverse_targets(ctx, original, self.key, self.noun)
        return self.draft(
            ctx, Planned(action, targets, self.reverse_evidence(targets), original.id)
        )

    def observe(self, ctx: ToolContext, proposal: Proposal) -> Observed | None:
        """Each target re-read through `drift` (the check run right before executing): how it
        differs from the plan. Whether a difference is this execution's doing, or whether
        `drift` covers what the action changes, is not known here: the outcome stays unknown
        (`applied` None), with what was found recorded."""
        changes = []
        for t in proposal.params.get(self.key) or []:
            alone = proposal.model_copy(update={"params": {**proposal.params, self.key: [t]}})
            problems = self.drift(ctx, alone)
            same = f"{target_name(t)} shows no difference from the plan"
            changes.append("; ".join(problems) if problems else same)
        return Observed(applied=None, changes=changes)


def target_name(target: Mapping[str, Any]) -> str:
    """How a target is named in messages: its first `*_id` / `name` value."""
    for key, value in target.items():
        if value and (key.endswith("_id") or key == "name") and key != "finding_id":
            return str(value)
    return str(dict(target))


_ACTIONS: dict[str, Action] = {}


def register(action: A) -> A:
    """Register every action type of `action` on the registry (one `ActionSpec` each)."""
    for name in action.names:
        REGISTRY.action(
            ActionSpec(
                name=name,
                precheck=action.precheck,
                execute=action.execute,
                permissions=action.permissions[name],
            )
        )
        _ACTIONS[name] = action
    return action


def registered(name: str) -> Action | None:
    """The action executing `name`, if one is registered."""
    return _ACTIONS.get(name)


def reversible_names() -> list[str]:
    """The action types `rollback_action` can reverse."""
    return sorted(name for name, action in _ACTIONS.items() if action.reversible)


def effective_action(proposal: Proposal) -> str:
    """The change a proposal makes: its action, or for `rollback_action` the reverse it names."""
    if proposal.action == ROLLBACK:
        return str(proposal.params["action"])
    return proposal.action


def how_to_roll_back(proposal_id: str) -> str:
    """The call an executed action's result names as its rollback."""
    return f'rollback_action {{"proposal_id": "{proposal_id}"}}'


def reverse_targets(
    ctx: ToolContext, original: Proposal, key: str, noun: str
) -> tuple[str, Targets]:
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


def admit(ctx: ToolContext, targets: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> None:
    """Refuse a plan: every problem found, else targets beyond the `actions:` limits."""
    if problems:
        raise ActionError("; ".join(problems))
    limit = blast_radius(ctx, targets)
    if limit:
        raise ActionError(limit)


def drifted(rid: str, protection: str | None, *seen: tuple[str, object, object]) -> str | None:
    """Why a live target no longer matches what its proposal saw: it is now protected, or one
    `(what, now, saw)` differs ("i-0ab type is now m5.large, the proposal saw m5.xlarge")."""
    if protection:
        return f"{rid} is now {protection}"
    for what, now, saw in seen:
        if now != saw:
            return f"{f'{rid} {what}'.rstrip()} is now {now}, the proposal saw {saw}"
    return None


def total(targets: Iterable[Mapping[str, Any]], *keys: str) -> Decimal:
    """The sum over targets of the first of `keys` each has (a target with none counts 0)."""
    amount = Decimal(0)
    for t in targets:
        value = next((t[k] for k in keys if t.get(k)), None)
        amount += Decimal(str(value)) if value else Decimal(0)
    return amount


def make_draft(
    ctx: ToolContext,
    action: str,
    *,
    target: str,
    params: dict[str, Any],
    summary: str,
    evidence: dict[str, Any],
    rollback_of: str | None = None,
    limits: bool = False,
    **fields: Any,
) -> ProposalDraft:
    """The proposal of `action`; with `rollback_of`, the same change as a `rollback_action`
    proposal (`params.action` names it, `params.rollback_of` the proposal it reverses). The
    evidence names who asked, and with `limits` the `actions:` limits it was checked against."""
    if rollback_of:
        params = {**params, "rollback_of": rollback_of, "action": action}
        summary = f"Roll back {rollback_of}: {summary}"
    if limits:
        evidence = {
            **evidence,
            "blast_radius": actions_settings(ctx.config).model_dump(mode="json"),
        }
    return ProposalDraft(
        action=ROLLBACK if rollback_of else action,
        target=target,
        params=params,
        summary=summary,
        evidence={**evidence, "requested_by": ctx.actor},
        currency=ctx.config.reporting_currency,
        **fields,
    )


def outcome(
    provider: str,
    changed: list[dict[str, Any]],
    failed: list[dict[str, str]],
    *,
    ident: str | None,
    nothing: str = "nothing changed",
    **extra: Any,
) -> dict[str, Any]:
    """An execution's result; ActionError (the proposal fails) when every target failed. A
    failure is `{ident: ..., "error": ...}` (`ident` None: the error names its target)."""
    if failed and not changed:
        reasons = (f"{f[ident]}: {f['error']}" if ident else f["error"] for f in failed)
        raise ActionError(f"{nothing}: " + "; ".join(reasons))
    return {"provider": provider, "changed": changed, "failed": failed, **extra}


def undo(
    proposal: Proposal,
    action: str,
    key: str,
    targets: Iterable[Mapping[str, Any]],
    how: str,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An execution's `rollback`: the reverse `action` on `targets` (without their `drop` keys,
    and without a finding: the reverse is nobody's saving), proposed by `rollback_action` with
    the proposal's id."""
    return {
        "action": action,
        key: [
            {**{k: v for k, v in t.items() if k not in drop}, "finding_id": None, "saving": None}
            for t in targets
        ],
        "how": f"{how_to_roll_back(proposal.id)} proposes {how}",
    }
