"""Push a virtual tag back as a real tag (AWS) or label (Kubernetes), only after approval.

`tag_resources` (the tool, in `tools.vtags.agent_tools`; `propose_push` here) reads from the
allocation which resources got which value of a virtual tag, reads each resource's current tags
from the provider, and proposes exactly the resources whose tag would change, with their current
tags, the new key and value, and the previous value of that key (so a rollback restores exactly
what was there). The change runs later, once, from the action workflow: the `tag_resources`
action (`TagPush`; AWS or Kubernetes by the proposal's `provider`) re-reads the live tags and
refuses when any resource is gone or its tag changed since the proposal (propose again), then
writes and reports each resource's outcome. `rollback_tag_resources` proposes the reverse of an
executed proposal (`TagPush.reverse`, not `rollback_action`); its action runs the same code, so
the same approval and re-validation apply, and policy can treat the two action types
differently (e.g. `approvals.two_person`).

Which values are pushed: those decided by an existing tag (under another key or spelling, or
normalized), a rule, or inference (shown with its confidence and reason). Never `default` (the
"unallocated" placeholder would look like an owner's word and, read back as a tag, hide the gap)
and never `shared` (a split resource belongs to several values; one tag would claim it for one).
A resource is judged on its latest month, so an owner change over time pushes the current owner;
one with two values in that month is skipped as a conflict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions.base import Action, register
from tools.context import ToolContext
from tools.vtags.definitions import VirtualTag
from tools.vtags.tagback_aws import AWS
from tools.vtags.tagback_k8s import KUBERNETES
from tools.vtags.tagback_models import (
    Backend,
    Candidate,
    Plan,
    Skip,
    TagBackError,
    settings_for,
)
from tools.vtags.tagback_plan import PUSHED, make_plan, select_candidates
from warehouse.errors import QueryError

__all__ = [
    "ACTION",
    "BACKENDS",
    "PERMISSIONS",
    "PUSH",
    "PUSHED",
    "ROLLBACK",
    "RollbackArgs",
    "TagBackArgs",
    "propose_push",
    "select_candidates",
]

BACKENDS: dict[str, Backend] = {AWS.provider: AWS, KUBERNETES.provider: KUBERNETES}
ACTION = "tag_resources"
ROLLBACK = "rollback_tag_resources"
_CLOUD_PERMS = (*AWS.permissions, *KUBERNETES.permissions)
PERMISSIONS = ("warehouse:read", *_CLOUD_PERMS)
"""What the tools need: the allocation, and the providers' tag reads and writes."""
_BY_NAME = dict.fromkeys((ACTION, ROLLBACK), _CLOUD_PERMS)
_SHOWN = 20


class TagBackArgs(BaseModel):
    vtag: str = Field(description="The virtual tag to push, e.g. team.")
    value: str | None = Field(default=None, description="Only resources with this value.")
    provider: Literal["AWS", "Kubernetes"] | None = Field(
        default=None, description="AWS (tags) or Kubernetes (labels); needed when both have some."
    )
    max_resources: int = Field(default=50, ge=1, le=500, description="At most this many.")
    key: str | None = Field(
        default=None, min_length=1, max_length=317, description="Key to write; default: vtag."
    )
    include_inferred: bool = Field(default=True, description="Also push inferred values.")

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: object) -> object:
        names = {"aws": "AWS", "kubernetes": "Kubernetes", "k8s": "Kubernetes"}
        return names.get(value.strip().lower(), value) if isinstance(value, str) else value


class RollbackArgs(BaseModel):
    proposal_id: str = Field(min_length=3, max_length=64, description="An executed tag proposal.")


def _summary(provider: str, key: str, plan: Plan) -> str:
    changes = plan.changes
    values = Counter(str(c.target["value"]) for c in changes)
    how = Counter(str(c.evidence["provenance"]) for c in changes)
    what = (
        f"{key}={next(iter(values))}"
        if len(values) == 1
        else (f"{key} (" + ", ".join(f"{v} ×{n}" for v, n in values.most_common()) + ")")
    )
    noun = "label" if provider == "Kubernetes" else "tag"
    text = f"{noun.capitalize()} {len(changes)} {provider} resource(s) with {what}; decided by "
    text += ", ".join(f"{p} ×{n}" for p, n in sorted(how.items()))
    overwrites = sum(1 for c in changes if c.target["previous"] is not None)
    if overwrites:
        text += f"; overwrites {overwrites} existing value(s)"
    if plan.not_examined:
        text += f"; {plan.not_examined} more not examined (max_resources)"
    return text


def _need(ctx: ToolContext, name: str) -> VirtualTag:
    vt = ctx.config.virtual_tags.get(name)
    if vt is None:
        defined = ", ".join(sorted(ctx.config.virtual_tags)) or "none"
        raise QueryError(f"unknown virtual tag {name!r}; defined: {defined}")
    return vt


def _provider(args: TagBackArgs, found: list[Candidate], skipped: list[Skip]) -> str:
    kinds = Counter(c.provider for c in found)
    if not found:
        what = f"{args.vtag}={args.value}" if args.value else args.vtag
        where = args.provider or "AWS or Kubernetes"
        why = "; ".join(f"{s.resource}: {s.reason}" for s in skipped[:3])
        raise QueryError(
            f"no {where} resource has a tag, rule or inferred value of {what}"
            + (f" (skipped: {why})" if why else "")
        )
    if len(kinds) > 1:
        counts = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        raise QueryError(
            f"the selection spans providers ({counts}): call again with provider AWS or Kubernetes"
        )
    return next(iter(kinds))


def _draft(
    ctx: ToolContext, backend: Backend, args: TagBackArgs, key: str, plan: Plan
) -> ProposalDraft:
    changes = plan.changes
    kept = sum(1 for c in changes if c.target["previous"] is not None)
    namespaces = any(c.target.get("kind") == "namespace" for c in changes)
    values = sorted({str(c.target["value"]) for c in changes})
    return ProposalDraft(
        action=ACTION,
        target=f"{backend.provider.lower()}/{key}",
        params={
            "vtag": args.vtag,
            "key": key,
            "provider": backend.provider,
            "resources": [c.target for c in changes],
        },
        summary=_summary(backend.provider, key, plan),
        evidence={
            "resources": [c.evidence for c in changes],
            "already_set": plan.already_set[:_SHOWN],
            "already_set_count": len(plan.already_set),
            "skipped": [s.model_dump() for s in plan.skipped[:_SHOWN]],
            "skipped_count": len(plan.skipped),
            "not_examined": plan.not_examined,
            "pushed_provenances": [p for p in PUSHED if args.include_inferred or p != "inferred"],
            "requested_by": ctx.actor,
        },
        currency=ctx.config.reporting_currency,
        risk="medium" if kept or namespaces else "low",
        rollback=f"rollback_tag_resources with this proposal's id proposes the reverse: remove "
        f"{key} from the {len(changes) - kept} resource(s) that had none and restore the "
        f"previous value on the {kept} that had one (each resource's `previous` is in the "
        "parameters; the execution result lists what actually changed).",
        owner=str(values[0]) if len(values) == 1 else "finops",
    )


def propose_push(ctx: ToolContext, args: TagBackArgs) -> ProposalDraft:
    """The `tag_resources` proposal: the resources whose tag would change (QueryError when
    none would)."""
    vt = _need(ctx, args.vtag)
    pushed = [p for p in PUSHED if args.include_inferred or p != "inferred"]
    found, skipped = select_candidates(
        ctx.warehouse(), args.vtag, vt, value=args.value, provider=args.provider, pushed=pushed
    )
    backend = BACKENDS[_provider(args, found, skipped)]
    key = args.key or args.vtag
    backend.check_key(key)
    settings = settings_for(ctx)
    plan = make_plan(
        backend, found, key, settings,
        limit=args.max_resources, currency=ctx.config.reporting_currency,
    )  # fmt: skip
    plan.skipped[:0] = skipped
    if not plan.changes:
        done = len(plan.already_set)
        why = "; ".join(f"{s.resource}: {s.reason}" for s in plan.skipped[:3])
        raise QueryError(
            f"nothing to change: {done} resource(s) already have it" + (f"; {why}" if why else "")
        )
    return _draft(ctx, backend, args, key, plan)


def _classify(
    backend: Backend, key: str, targets: Sequence[Mapping[str, Any]], live: Mapping[str, Any]
) -> tuple[list[Mapping[str, Any]], list[str], list[dict[str, str]]]:
    """(still to change, already as proposed, problems) against the live tags."""
    pending: list[Mapping[str, Any]] = []
    unchanged: list[str] = []
    problems: list[dict[str, str]] = []
    for t in targets:
        ref = backend.ref(t)
        tags = live.get(ref)
        if tags is None:
            problems.append({"resource": ref, "error": "no longer exists"})
        elif tags.get(key) == t["value"]:
            unchanged.append(ref)
        elif tags.get(key) != t["previous"]:
            now, saw = tags.get(key), t["previous"]
            error = f"{key} is now {now!r}, the proposal saw {saw!r}"
            problems.append({"resource": ref, "error": error})
        else:
            pending.append(t)
    return pending, unchanged, problems


def _joined(problems: Sequence[Mapping[str, str]]) -> str:
    shown = "; ".join(f"{p['resource']}: {p['error']}" for p in problems[:5])
    return shown + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")


def _backend(proposal: Proposal) -> Backend:
    provider = str(proposal.params.get("provider"))
    if provider not in BACKENDS:
        raise TagBackError(f"unknown provider {provider!r} in {proposal.id}")
    return BACKENDS[provider]


class TagPush(Action):
    """Write (or restore) one tag / label key on the proposal's resources. No `actions:` limits
    (a push is bounded by `max_resources`, and changes no spend); reversed by its own tool,
    `rollback_tag_resources`, not by `rollback_action`."""

    names = (ACTION, ROLLBACK)
    permissions = _BY_NAME
    key = "resources"
    limited = False
    errors = (TagBackError,)

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        key, targets = str(proposal.params["key"]), proposal.params["resources"]
        backend = _backend(proposal)
        live = backend.read(targets, settings_for(ctx))
        pending, _unchanged, problems = _classify(backend, key, targets, live)
        if problems:
            return f"{_joined(problems)}; propose again"
        if not pending:
            return "every resource already has the proposed value; nothing to change"
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        key, targets = str(proposal.params["key"]), proposal.params["resources"]
        backend = _backend(proposal)
        settings = settings_for(ctx)
        pending, unchanged, problems = _classify(
            backend, key, targets, backend.read(targets, settings)
        )
        changed, failed = backend.apply(key, pending, settings)
        failed = [*problems, *failed]
        if failed and not changed:
            raise TagBackError(f"nothing changed: {_joined(failed)}")
        return {
            "provider": backend.provider,
            "key": key,
            "changed": changed,
            "unchanged": unchanged,
            "failed": failed,
            "rollback": f'rollback_tag_resources {{"proposal_id": "{proposal.id}"}} proposes '
            f"restoring the previous value of {key} on the {len(changed)} changed resource(s)",
        }

    def reverse(self, ctx: ToolContext, original: Proposal) -> ProposalDraft:
        """The `rollback_tag_resources` proposal undoing an executed push, only on what it
        changed."""
        backend = BACKENDS.get(str(original.params.get("provider")))
        if original.action not in (ACTION, ROLLBACK) or backend is None:
            raise QueryError(f"{original.id} is a {original.action} proposal, not a tag push")
        changed = (original.result or {}).get("changed") or []
        if original.status != "done" or not changed:
            raise QueryError(f"{original.id} is {original.status} and changed no resource")
        key = str(original.params["key"])
        targets = [{**t, "value": t["previous"], "previous": t["value"]} for t in changed]
        removed = sum(1 for t in targets if t["value"] is None)
        return ProposalDraft(
            action=ROLLBACK,
            target=f"{backend.provider.lower()}/{key}",
            params={**original.params, "resources": targets, "rollback_of": original.id},
            summary=f"Roll back {original.id}: remove {key} from {removed} {backend.provider} "
            f"resource(s), restore the previous value on {len(targets) - removed}",
            evidence={
                "rollback_of": original.id,
                "original_summary": original.summary,
                "resources": [
                    {"resource": backend.ref(t), "now": t["previous"], "restore": t["value"]}
                    for t in targets
                ],
                "requested_by": ctx.actor,
            },
            currency=ctx.config.reporting_currency,
            risk="low",
            rollback=f"Re-propose the original change with tag_resources (vtag "
            f"{original.params['vtag']}, key {key}).",
            owner=original.owner,
        )


PUSH = register(TagPush())
