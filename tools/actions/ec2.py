"""EC2 optimization actions: `stop_ec2_instances`, `start_ec2_instances`, `resize_ec2_instance`
and `rollback_action`. The tools only propose; the actions run once after approval.

A proposal names each instance with the state and type the proposer saw live (`state`,
`instance_type`), its billed monthly run rate and, when it comes from an optimization finding,
the finding id and its saving. All of that is in the parameters, so covered by the hash.

Right before acting, the action re-validates: blast radius (`actions:` limits, see
`tools.actions.config`), each instance still exists, is still in the state and of the type the
proposal saw, is not protected (`finops:protected=true`, the optimizer's `protect_keys`), the
finding still holds on the latest utilization in the warehouse (still idle; still oversized with
the same recommended type), the new type is offered in the region, and an EC2 dry run of the
change succeeds. Any drift fails the proposal with the reason; nothing is changed.

The result records exactly what changed and the reverse (`rollback`); `rollback_action
{"proposal_id": ...}` proposes that reverse as a `rollback_action` proposal whose parameters name
the reverse action (`params.action`: start for a stop, stop for a start, resize back for a
resize); it runs the same re-validation and executor, and policy can treat rollbacks apart
(`approvals.blocked_actions`, `two_person`, daily caps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, model_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import aws_ec2
from tools.actions.aws_ec2 import ActionError, Live
from tools.actions.config import actions_settings
from tools.actions.limits import blast_radius, protected
from tools.actions.limits import run_rates as _run_rates
from tools.actions.rollback import (
    ROLLBACK,
    effective_action,
    how_to_roll_back,
    register_reverse,
    reverse_targets,
)
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.engine import recommend
from tools.optimize.models import Finding
from tools.registry import REGISTRY, ActionSpec
from tools.vtags.tagback_models import settings_for

__all__ = [
    "RESIZE",
    "ROLLBACK",
    "START",
    "STOP",
    "InstancesArgs",
    "ResizeArgs",
    "StartArgs",
]

STOP, START, RESIZE = "stop_ec2_instances", "start_ec2_instances", "resize_ec2_instance"
_READ = ("ec2:DescribeInstances", "ec2:DescribeInstanceTypeOfferings")
_PERMS = {
    STOP: (*_READ, "ec2:StopInstances"),
    START: (*_READ, "ec2:StartInstances"),
    RESIZE: (*_READ, "ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute"),
}


class InstancesArgs(BaseModel):
    finding_ids: list[str] = Field(
        default_factory=list, max_length=200, description="Idle findings (finops recommend)."
    )
    instance_ids: list[str] = Field(
        default_factory=list, max_length=200, description="EC2 instance ids (i-...)."
    )
    region: str | None = Field(default=None, description="Region of instance_ids.")

    @model_validator(mode="after")
    def _some(self) -> InstancesArgs:
        if not self.finding_ids and not self.instance_ids:
            raise ValueError("give finding_ids or instance_ids")
        return self


class StartArgs(BaseModel):
    instance_ids: list[str] = Field(min_length=1, max_length=200)
    region: str | None = None


class ResizeArgs(BaseModel):
    finding_id: str | None = Field(default=None, description="A rightsizing finding.")
    instance_id: str | None = None
    instance_type: str | None = Field(default=None, description="New type (with instance_id).")
    region: str | None = None

    @model_validator(mode="after")
    def _some(self) -> ResizeArgs:
        if not self.finding_id and not (self.instance_id and self.instance_type):
            raise ValueError("give finding_id, or instance_id and instance_type")
        return self


# -- proposing ----------------------------------------------------------------------------------


def _findings(ctx: ToolContext) -> dict[str, Finding]:
    return {f.id: f for f in recommend(ctx).findings}


def _resolve(
    ctx: ToolContext,
    finding_ids: Sequence[str],
    instance_ids: Sequence[str],
    region: str | None,
    actions: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Targets (without live state) from finding ids and explicit ids, de-duplicated."""
    default_region = region or settings_for(ctx).aws_region
    targets: dict[str, dict[str, Any]] = {}
    findings = _findings(ctx) if finding_ids or instance_ids else {}
    for fid in finding_ids:
        f = findings.get(fid)
        if f is None:
            raise ActionError(f"no current optimization finding {fid!r} (run finops recommend)")
        rid = f.resource_id or ""
        aws = (f.provider or "").lower() == "aws"
        if f.action not in actions or not aws or not rid.startswith("i-"):
            raise ActionError(
                f"finding {fid} is {f.action} on {rid or f.resource_name}, not "
                f"{' / '.join(actions)} on an EC2 instance"
            )
        targets[rid] = {"instance_id": rid, "region": f.region or default_region, "finding": f}
    by_resource = {f.resource_id: f for f in findings.values() if f.action in actions}
    for rid in instance_ids:
        if not rid.startswith("i-"):
            raise ActionError(f"{rid!r} is not an EC2 instance id (i-...)")
        if rid not in targets:
            targets[rid] = {
                "instance_id": rid,
                "region": default_region,
                "finding": by_resource.get(rid),
            }
    return list(targets.values())


def _live(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    out: dict[str, Live] = {}
    s = settings_for(ctx)
    for region, group in aws_ec2.by_region(targets).items():
        out |= aws_ec2.describe(
            aws_ec2.ec2_client(region, s), [str(t["instance_id"]) for t in group]
        )
    return out


def _plan(
    ctx: ToolContext, resolved: Sequence[dict[str, Any]], expected_state: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(targets with live state, evidence) or ActionError when one cannot be proposed."""
    live = _live(ctx, resolved)
    cfg = settings(ctx.config)
    rates = _run_rates(ctx, [str(t["instance_id"]) for t in resolved])
    targets, evidence, problems = [], [], []
    for r in resolved:
        rid, f = str(r["instance_id"]), r.get("finding")
        now = live.get(rid)
        if now is None:
            problems.append(f"{rid}: not found in {r['region']} (or terminated)")
            continue
        why = protected(now.tags, cfg)
        if why:
            problems.append(f"{rid}: {why}; never changed by the agent")
            continue
        if now.state != expected_state:
            problems.append(f"{rid}: is {now.state}, must be {expected_state}")
            continue
        cost = f.monthly_cost if f is not None and f.monthly_cost is not None else rates.get(rid)
        saving = f.saving.monthly if f is not None else None
        targets.append(
            {
                "instance_id": rid,
                "region": r["region"],
                "state": now.state,
                "instance_type": now.instance_type,
                "monthly_cost": None if cost is None else str(cost),
                "finding_id": f.id if f is not None else None,
                "saving": None if saving is None else str(saving),
            }
        )
        evidence.append(
            {
                "instance_id": rid,
                "live_state": now.state,
                "live_type": now.instance_type,
                "live_tags": now.tags,
                "monthly_cost": None if cost is None else str(cost),
                "cost_known": cost is not None,
                "finding": None
                if f is None
                else {
                    "id": f.id,
                    "rule": f.rule,
                    "summary": f.summary,
                    "source": f.source,
                    "saving": f.saving.model_dump(mode="json"),
                    "recommended": f.recommended,
                    "evidence": [e.model_dump(mode="json") for e in f.evidence],
                },
            }
        )
    if problems:
        raise ActionError("; ".join(problems))
    limit = blast_radius(ctx, targets)
    if limit:
        raise ActionError(limit)
    return targets, evidence


def _money(ctx: ToolContext, amount: Decimal) -> str:
    return f"{ctx.config.reporting_currency} {amount:.2f}"


def _names(targets: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{t['instance_id']} ({t['instance_type']})" for t in targets)


def _power_draft(
    ctx: ToolContext,
    action: str,
    targets: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    rollback_of: str | None = None,
) -> ProposalDraft:
    stop = action == STOP
    saving = (
        sum((Decimal(t.get("saving") or t.get("monthly_cost") or 0) for t in targets), Decimal(0))
        if stop
        else Decimal(0)
    )
    regions = ", ".join(sorted({str(t["region"]) for t in targets}))
    verb = "Stop" if stop else "Start"
    summary = f"{verb} {len(targets)} EC2 instance(s) in {regions}: {_names(targets)}"
    if stop:
        summary += f"; saves about {_money(ctx, saving)}/month (findings, else billed run rate)"
    else:
        cost = sum((Decimal(t.get("monthly_cost") or 0) for t in targets), Decimal(0))
        summary += f"; resumes about {_money(ctx, cost)}/month of billed compute"
    params: dict[str, Any] = {"provider": "AWS", "instances": targets}
    if rollback_of:
        params |= {"rollback_of": rollback_of, "action": action}
        summary = f"Roll back {rollback_of}: {summary}"
    return ProposalDraft(
        action=ROLLBACK if rollback_of else action,
        target="aws/ec2/" + ",".join(str(t["instance_id"]) for t in targets),
        params=params,
        summary=summary,
        evidence={
            "instances": evidence,
            "requested_by": ctx.actor,
            "blast_radius": actions_settings(ctx.config).model_dump(mode="json"),
        },
        expected_monthly_saving=saving,
        currency=ctx.config.reporting_currency,
        risk="medium" if stop else "low",
        rollback=(
            "rollback_action with this proposal's id proposes starting exactly the instances "
            "this stopped (approved the same way). Stopping loses instance-store data and a "
            "non-Elastic public IP; EBS volumes are kept (and still billed)."
            if stop
            else "rollback_action with this proposal's id proposes stopping exactly the instances "
            "this started (approved the same way)."
        ),
        owner=None,
    )


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS[STOP],
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def stop_ec2_instances(ctx: ToolContext, args: InstancesArgs) -> ProposalDraft:
    """Propose stopping idle EC2 instances (nothing changes until a human approves). Give idle
    finding ids from optimization_findings, or instance ids. Protected instances
    (finops:protected=true) and ones not running are refused. Example:
    {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"instance_ids": ["i-0abc..."], "region":
    "us-east-1"}. Returns the proposal id; tell the user it awaits approval.
    """
    resolved = _resolve(ctx, args.finding_ids, args.instance_ids, args.region, ("stop_instance",))
    targets, evidence = _plan(ctx, resolved, "running")
    return _power_draft(ctx, STOP, targets, evidence)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS[START],
    example={"instance_ids": ["i-0abc1234def567890"], "region": "us-east-1"},
)
def start_ec2_instances(ctx: ToolContext, args: StartArgs) -> ProposalDraft:
    """Propose starting stopped EC2 instances (after a human approves). Example:
    {"instance_ids": ["i-0abc1234def567890"], "region": "us-east-1"}.
    """
    resolved = _resolve(ctx, [], args.instance_ids, args.region, ())
    targets, evidence = _plan(ctx, resolved, "stopped")
    return _power_draft(ctx, START, targets, evidence)


def _resize_draft(
    ctx: ToolContext,
    target: dict[str, Any],
    evidence: list[dict[str, Any]],
    rollback_of: str | None = None,
) -> ProposalDraft:
    saving = Decimal(target["saving"]) if target.get("saving") else Decimal(0)
    old, new, rid = target["instance_type"], target["to_type"], target["instance_id"]
    how = "stop, change the type, start again" if target["state"] == "running" else "change type"
    summary = f"Resize EC2 {rid} in {target['region']} from {old} to {new} ({how})"
    if saving:
        summary += f"; saves about {_money(ctx, saving)}/month (finding)"
    params: dict[str, Any] = {"provider": "AWS", "instances": [target]}
    if rollback_of:
        params |= {"rollback_of": rollback_of, "action": RESIZE}
        summary = f"Roll back {rollback_of}: {summary}"
    return ProposalDraft(
        action=ROLLBACK if rollback_of else RESIZE,
        target=f"aws/ec2/{rid}",
        params=params,
        summary=summary,
        evidence={"instances": evidence, "requested_by": ctx.actor},
        expected_monthly_saving=saving,
        currency=ctx.config.reporting_currency,
        risk="medium",
        rollback=f"rollback_action with this proposal's id proposes resizing {rid} back to {old} "
        "(same stop / modify / start, approved the same way). The instance is down for the "
        "change; instance-store data and a non-Elastic public IP are lost.",
    )


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS[RESIZE],
    example={"finding_id": "opt-1a2b3c4d5e6f"},
)
def resize_ec2_instance(ctx: ToolContext, args: ResizeArgs) -> ProposalDraft:
    """Propose resizing one EC2 instance (stop, change type, start) after a human approves.
    Give a rightsizing finding id, or instance_id and the new instance_type. Example:
    {"finding_id": "opt-1a2b3c4d5e6f"}.
    """
    ids = [args.finding_id] if args.finding_id else []
    resolved = _resolve(
        ctx, ids, [args.instance_id] if args.instance_id else [], args.region, ("resize_instance",)
    )
    if len(resolved) != 1:
        raise ActionError("resize one instance per proposal")
    f: Finding | None = resolved[0].get("finding")
    new = args.instance_type or (f.recommended if f is not None else None)
    if not new:
        raise ActionError("no new instance type: give instance_type")
    live = _live(ctx, resolved).get(str(resolved[0]["instance_id"]))
    state = live.state if live is not None and live.state in ("running", "stopped") else "running"
    targets, evidence = _plan(ctx, resolved, state)
    target = {**targets[0], "to_type": new}
    if target["instance_type"] == new:
        raise ActionError(f"{target['instance_id']} is already {new}")
    if f is not None and args.instance_type and args.instance_type != f.recommended:
        target["finding_id"], target["saving"] = None, None  # a different size than the finding's
    ec2 = aws_ec2.ec2_client(str(target["region"]), settings_for(ctx))
    if not aws_ec2.offered(ec2, new):
        raise ActionError(f"{new} is not offered in {target['region']}")
    return _resize_draft(ctx, target, evidence)


# -- re-validation and execution ----------------------------------------------------------------


def _dry_runs(ec2: Any, action: str, group: Sequence[Mapping[str, Any]]) -> str | None:
    ids = [str(t["instance_id"]) for t in group]
    if action == STOP:
        return aws_ec2.dry_run(ec2, "stop_instances", InstanceIds=ids)
    if action == START:
        return aws_ec2.dry_run(ec2, "start_instances", InstanceIds=ids)
    for t in group:
        if t["state"] == "running":
            why = aws_ec2.dry_run(ec2, "stop_instances", InstanceIds=[t["instance_id"]])
            if why:
                return why
        why = aws_ec2.dry_run(
            ec2,
            "modify_instance_attribute",
            InstanceId=t["instance_id"],
            InstanceType={"Value": t["to_type"]},
        )
        if why and "IncorrectInstanceState" not in why:  # a running instance: stopped first
            return why
    return None


def _precheck(ctx: ToolContext, proposal: Proposal) -> str | None:
    targets: list[Mapping[str, Any]] = proposal.params["instances"]
    try:
        action = effective_action(proposal)
        limit = blast_radius(ctx, targets)
        if limit:
            return limit
        live = _live(ctx, targets)
        cfg = settings(ctx.config)
        problems = []
        for t in targets:
            rid, now = str(t["instance_id"]), live.get(str(t["instance_id"]))
            if now is None:
                problems.append(f"{rid} no longer exists (terminated or not found)")
            elif protected(now.tags, cfg):
                problems.append(f"{rid} is now {protected(now.tags, cfg)}")
            elif now.state != t["state"]:
                problems.append(f"{rid} is now {now.state}, the proposal saw {t['state']}")
            elif now.instance_type != t["instance_type"]:
                problems.append(
                    f"{rid} type is now {now.instance_type}, the proposal saw {t['instance_type']}"
                )
        if not problems and any(t.get("finding_id") for t in targets):
            current = _findings(ctx)
            for t in targets:
                fid = t.get("finding_id")
                if not fid:
                    continue
                f = current.get(str(fid))
                if f is None:
                    problems.append(
                        f"{t['instance_id']}: finding {fid} no longer holds on the "
                        "latest utilization and bills"
                    )
                elif action == RESIZE and f.recommended != t["to_type"]:
                    problems.append(
                        f"{t['instance_id']}: the finding now recommends "
                        f"{f.recommended}, not {t['to_type']}"
                    )
        if problems:
            return "; ".join(problems) + "; propose again"
        s = settings_for(ctx)
        for region, group in aws_ec2.by_region(targets).items():
            ec2 = aws_ec2.ec2_client(region, s)
            if action == RESIZE:
                for t in group:
                    if not aws_ec2.offered(ec2, str(t["to_type"])):
                        return f"{t['to_type']} is not offered in {region}"
            why = _dry_runs(ec2, action, group)
            if why:
                return why
    except (ActionError, BotoCoreError, ClientError) as exc:
        return str(exc)
    return None


def _execute_power(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    action = effective_action(proposal)
    s = settings_for(ctx)
    changed: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for region, group in aws_ec2.by_region(proposal.params["instances"]).items():
        ec2 = aws_ec2.ec2_client(region, s)
        ids = [str(t["instance_id"]) for t in group]
        try:
            before = (aws_ec2.stop if action == STOP else aws_ec2.start)(ec2, ids)
            now = aws_ec2.describe(ec2, ids)
        except (ActionError, BotoCoreError, ClientError) as exc:
            failed.extend({"instance_id": i, "error": str(exc)} for i in ids)
            continue
        for t in group:
            rid = str(t["instance_id"])
            after = now[rid].state if rid in now else "unknown"
            changed.append({**t, "before": before.get(rid, t["state"]), "state": after})
    if failed and not changed:
        raise ActionError(
            "nothing changed: " + "; ".join(f"{f['instance_id']}: {f['error']}" for f in failed)
        )
    reverse = START if action == STOP else STOP
    return {
        "provider": "AWS",
        "changed": changed,
        "failed": failed,
        "rollback": {
            "action": reverse,
            "instances": [
                {
                    **{k: v for k, v in t.items() if k != "before"},
                    "finding_id": None,
                    "saving": None,
                }
                for t in changed
            ],
            "how": f"{how_to_roll_back(proposal.id)} proposes {reverse} on the "
            f"{len(changed)} instance(s)",
        },
    }


def _execute(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    if effective_action(proposal) == RESIZE:
        return _execute_resize(ctx, proposal)
    return _execute_power(ctx, proposal)


def _execute_resize(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    t = proposal.params["instances"][0]
    rid, old, new = str(t["instance_id"]), str(t["instance_type"]), str(t["to_type"])
    ec2 = aws_ec2.ec2_client(str(t["region"]), settings_for(ctx))
    was_running = t["state"] == "running"
    if was_running:
        aws_ec2.stop(ec2, [rid])
    try:
        aws_ec2.modify_type(ec2, rid, new)
    except (BotoCoreError, ClientError) as exc:
        if was_running:
            aws_ec2.start(ec2, [rid])
        left = "restarted" if was_running else "still stopped"
        raise ActionError(
            f"{rid}: changing the type failed, type unchanged ({left}): {exc}"
        ) from None
    if was_running:
        aws_ec2.start(ec2, [rid])
    now = aws_ec2.describe(ec2, [rid]).get(rid)
    state = now.state if now else "unknown"
    after = {**t, "instance_type": now.instance_type if now else new, "state": state}
    return {
        "provider": "AWS",
        "changed": [{**after, "from_type": old, "to_type": new, "before": t["state"]}],
        "failed": [],
        "rollback": {
            "action": RESIZE,
            "instances": [{**after, "to_type": old, "finding_id": None, "saving": None}],
            "how": f"{how_to_roll_back(proposal.id)} proposes resizing {rid} back from {new} "
            f"to {old}",
        },
    }


# -- rollback -----------------------------------------------------------------------------------


def _reverse(ctx: ToolContext, original: Proposal) -> ProposalDraft:
    """The reverse of an executed stop / start / resize (see `tools.actions.rollback`)."""
    action, targets = reverse_targets(ctx, original, "instances", "instance")
    evidence = [
        {
            "instance_id": t["instance_id"],
            "state_after_original": t["state"],
            "type_after_original": t["instance_type"],
        }
        for t in targets
    ]
    if action == RESIZE:
        return _resize_draft(ctx, targets[0], evidence, rollback_of=original.id)
    return _power_draft(ctx, action, targets, evidence, rollback_of=original.id)


for _name in (STOP, START, RESIZE):
    REGISTRY.action(
        ActionSpec(name=_name, precheck=_precheck, execute=_execute, permissions=_PERMS[_name])
    )
    register_reverse(_name, _reverse, _PERMS[_name])
