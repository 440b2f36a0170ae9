"""The agent's virtual-tag tools: coverage, explain and candidates (read); proposing a new rule
(write: a proposal with the exact `finops.yaml` diff, applied by the `add_tag_rule` action
below only after approval); pushing a virtual tag back onto the resources and undoing a push
(write: proposals whose action is `tools.vtags.tagback`'s)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions.base import Action, register
from tools.context import ToolContext
from tools.registry import REGISTRY
from tools.vtags import tagback
from tools.vtags.config_edit import add_rule_text, apply_text, sha256_text, unified_diff
from tools.vtags.definitions import Rule
from tools.vtags.report import (
    CandidatesResult,
    CoverageResult,
    ExplainResult,
    candidates,
    coverage,
    explain,
)
from tools.vtags.sql import filter_sql
from tools.vtags.tagback import RollbackArgs, TagBackArgs
from warehouse.errors import QueryError

__all__ = ["CandidatesArgs", "CoverageArgs", "ExplainArgs", "RuleArgs", "rule_yaml"]

_READ = ("warehouse:read",)
_CONFIG = ("config:write",)
ADD_RULE = "add_tag_rule"
_BY_NAME = {ADD_RULE: _CONFIG}


def _need_tags(ctx: ToolContext) -> None:
    if not ctx.config.virtual_tags:
        raise QueryError("no virtual tags are defined in finops.yaml (`virtual_tags:`)")


class CoverageArgs(BaseModel):
    since: date | None = Field(default=None, description="First month, YYYY-MM-01.")
    until: date | None = Field(default=None, description="Last day of the last month.")


@REGISTRY.tool(effect="read", reversible=True, permissions=_READ, example={})
def tags_coverage(ctx: ToolContext, args: CoverageArgs) -> CoverageResult:
    """Share of spend each virtual tag (team, environment, …) allocates, by provenance: tag,
    rule, inferred, shared split, default (unallocated). Use for "how much is allocated /
    untagged". Example: {} (all history) or {"since": "2026-10-01", "until": "2026-10-31"}.
    """
    _need_tags(ctx)
    return coverage(ctx.warehouse(), ctx.config, since=args.since, until=args.until)


class ExplainArgs(BaseModel):
    resource_id: str = Field(min_length=1, max_length=2048, description="ResourceId or name.")


@REGISTRY.tool(
    effect="read", reversible=True, permissions=_READ, example={"resource_id": "i-0abc123"}
)
def tags_explain(ctx: ToolContext, args: ExplainArgs) -> ExplainResult:
    """Why a resource has its virtual tag values: which tag key, rule id, inference reason or
    shared split decided each one. Example: {"resource_id": "i-0bd7360295ff65eca"}.
    """
    _need_tags(ctx)
    return explain(ctx.warehouse(), ctx.config, args.resource_id)


class CandidatesArgs(BaseModel):
    vtag: str = Field(default="team", description="The virtual tag.")
    top: int = Field(default=10, ge=1, le=100)


@REGISTRY.tool(effect="read", reversible=True, permissions=_READ, example={"vtag": "team"})
def tags_candidates(ctx: ToolContext, args: CandidatesArgs) -> CandidatesResult:
    """The largest unallocated spend of a virtual tag, with the best guessed value and why the
    guess was below the confidence threshold. Use before proposing a rule.
    Example: {"vtag": "team", "top": 10}.
    """
    _need_tags(ctx)
    return candidates(ctx.warehouse(), ctx.config, args.vtag, top=args.top)


class RuleArgs(BaseModel):
    vtag: str = Field(description="The virtual tag the rule belongs to, e.g. team.")
    rule: Rule
    position: int | None = Field(
        default=None,
        ge=0,
        description="Index among the tag's rules (first match wins); default last.",
    )


def rule_yaml(rule: Rule) -> dict[str, Any]:
    """The rule as it reads best in YAML: single values as plain strings."""
    when: dict[str, Any] = {}
    for col, m in rule.matches().items():
        if m.equals is not None:
            when[col] = m.equals[0] if len(m.equals) == 1 else list(m.equals)
        else:
            when[col] = m.model_dump(exclude_none=True)
    out: dict[str, Any] = {"id": rule.id}
    if rule.description:
        out["description"] = rule.description
    if when:
        out["when"] = when
    if rule.resource is not None:
        out["resource"] = rule.resource
    out["value"] = rule.value
    return out


def _impact(ctx: ToolContext, vtag: str, rule: Rule) -> dict[str, str]:
    rows = (
        ctx.warehouse()
        .execute(
            f"SELECT a.provenance, CAST(sum(t.cost) AS DECIMAL(38,2)), count(*) "
            f"FROM (SELECT k, cost FROM vtag_attrs WHERE {filter_sql(rule)}) AS t "
            f"JOIN (SELECT DISTINCT k, provenance FROM vtag_alloc WHERE vtag = ?) AS a USING (k) "
            f"GROUP BY 1 ORDER BY 1",
            [vtag],
        )
        .fetchall()
    )
    return {str(p): f"{ctx.config.reporting_currency} {c} over {n} keys" for p, c, n in rows}


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_CONFIG,
    example={
        "vtag": "team",
        "rule": {"id": "ml-dev-account", "when": {"SubAccountName": "ml-dev"}, "value": "ml"},
    },
)
def add_tag_rule(ctx: ToolContext, args: RuleArgs) -> ProposalDraft:
    """Propose adding a rule to a virtual tag in finops.yaml (applied only after a human
    approves; the approval card shows the exact diff). Rules apply after tag sources, first
    match wins. Example: {"vtag": "team", "rule": {"id": "ml-dev-account",
    "when": {"SubAccountName": "ml-dev"}, "value": "ml-platform"}}.
    """
    _need_tags(ctx)
    path = ctx.config_path
    if path is None or not path.exists():
        raise QueryError("there is no finops.yaml to change")
    old = path.read_text(encoding="utf-8")
    entry = rule_yaml(args.rule)
    new = add_rule_text(
        old, args.vtag, entry, schema=type(ctx.config), position=args.position, source=str(path)
    )
    where = "last" if args.position is None else f"at position {args.position}"
    return ProposalDraft(
        action=ADD_RULE,
        target=f"{path}#virtual_tags.{args.vtag}.rules",
        params={
            "vtag": args.vtag,
            "rule": entry,
            "position": args.position,
            "base_sha256": sha256_text(old),
            "new_sha256": sha256_text(new),
        },
        summary=f"Add rule {args.rule.id} ({where}) to virtual tag {args.vtag}: "
        f"matching spend → {args.rule.value}",
        evidence={
            "diff": unified_diff(old, new, path.name),
            "spend_matched_now_by_provenance": _impact(ctx, args.vtag, args.rule),
            "requested_by": ctx.actor,
        },
        currency=ctx.config.reporting_currency,
        risk="low",
        rollback=f"Restore the previous {path.name} from the .bak file written beside it; "
        "allocation is recomputed on the next query.",
        owner="finops",
    )


def _new_text(ctx: ToolContext, proposal: Proposal) -> tuple[str, str]:
    if ctx.config_path is None:
        raise QueryError("no config path in this context")
    old = ctx.config_path.read_text(encoding="utf-8")
    p = proposal.params
    # the ledger stores params with sorted keys: rebuild the rule in its reviewed key order
    rule = rule_yaml(Rule.model_validate(p["rule"]))
    new = add_rule_text(old, p["vtag"], rule, schema=type(ctx.config), position=p["position"])
    return old, new


class AddRule(Action):
    """Apply a reviewed rule edit to finops.yaml (a backup is written beside it). Nothing to
    count against the `actions:` limits; refused when the file or the edit changed since."""

    names = (ADD_RULE,)
    permissions = _BY_NAME
    limited = False
    errors = (QueryError, ValueError)

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        if ctx.config_path is None or not ctx.config_path.exists():
            return "finops.yaml no longer exists"
        old = ctx.config_path.read_text(encoding="utf-8")
        if sha256_text(old) != proposal.params["base_sha256"]:
            return "finops.yaml changed since this proposal was made; propose the rule again"
        _, new = _new_text(ctx, proposal)
        if sha256_text(new) != proposal.params["new_sha256"]:
            return "the edit no longer produces the reviewed diff"
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        assert ctx.config_path is not None
        _, new = _new_text(ctx, proposal)
        backup = apply_text(
            ctx.config_path, proposal.params["base_sha256"], new, ctx.clock(), type(ctx.config)
        )
        return {
            "config": str(ctx.config_path),
            "backup": str(backup),
            "rollback": f"cp {backup} {ctx.config_path}",
        }


register(AddRule())


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=tagback.PERMISSIONS,
    example={"vtag": "team", "value": "payments", "provider": "AWS"},
)
def tag_resources(ctx: ToolContext, args: TagBackArgs) -> ProposalDraft:
    """Propose writing a virtual tag's values back onto the real resources: AWS tags (Resource
    Groups Tagging API) or Kubernetes labels (deployments, statefulsets, daemonsets,
    namespaces). Nothing changes until a human approves. Only values decided by an existing
    tag, a rule or inference are pushed, never the default or shared splits; resources that
    already carry the value are left out. Use when asked to "tag / label the resources with
    their team". Example: {"vtag": "team", "value": "payments", "provider": "AWS",
    "max_resources": 50}. Returns the proposal id; tell the user it awaits approval.
    """
    return tagback.propose_push(ctx, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=tagback.PERMISSIONS,
    example={"proposal_id": "p-1a2b3c4d5e6f"},
)
def rollback_tag_resources(ctx: ToolContext, args: RollbackArgs) -> ProposalDraft:
    """Propose undoing an executed tag_resources proposal: remove the tag / label it added and
    restore the previous value where it replaced one, only on resources it actually changed.
    Runs only after approval, and refuses if a resource changed since.
    Example: {"proposal_id": "p-1a2b3c4d5e6f"}.
    """
    return tagback.PUSH.reverse(ctx, ctx.ledger.get(args.proposal_id))
