"""EC2 optimization actions: `stop_ec2_instances`, `start_ec2_instances` and
`resize_ec2_instance` (proposed by the tools of `tools.actions.agent_tools`; they run once after
approval).

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
from tools.actions import aws_ec2, base
from tools.actions.aws_ec2 import Live
from tools.actions.base import ActionError, FindingsOrIds, Planned, TargetAction, Targets
from tools.actions.findings import (
    ResourceIds,
    finding_evidence,
    monthly_cost,
    resolve_ids,
    stale_findings,
)
from tools.actions.limits import protected, run_rates
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.models import Finding
from tools.vtags.tagback_models import settings_for
from warehouse.format import money

__all__ = [
    "INSTANCES",
    "PERMISSIONS",
    "RESIZE",
    "START",
    "STOP",
    "InstancesArgs",
    "ResizeArgs",
    "StartArgs",
]

STOP, START, RESIZE = "stop_ec2_instances", "start_ec2_instances", "resize_ec2_instance"
_INSTANCE = ResourceIds("instance_id", "i-", "an EC2 instance")
_READ = ("ec2:DescribeInstances", "ec2:DescribeInstanceTypeOfferings")
PERMISSIONS = {
    STOP: (*_READ, "ec2:StopInstances"),
    START: (*_READ, "ec2:StartInstances"),
    RESIZE: (*_READ, "ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute"),
}


class InstancesArgs(FindingsOrIds):
    ids = "instance_ids"
    finding_ids: list[str] = Field(
        default_factory=list, max_length=200, description="Idle findings (finops recommend)."
    )
    instance_ids: list[str] = Field(
        default_factory=list, max_length=200, description="EC2 instance ids (i-...)."
    )
    region: str | None = Field(default=None, description="Region of instance_ids.")


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


def _live(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    return aws_ec2.describe_by_region(
        "ec2", settings_for(ctx), targets, "instance_id", aws_ec2.describe
    )


def _plan(
    ctx: ToolContext, resolved: Sequence[dict[str, Any]], expected_state: str
) -> tuple[Targets, Targets]:
    """(targets with live state, evidence) or ActionError when one cannot be proposed."""
    live = _live(ctx, resolved)
    cfg = settings(ctx.config)
    rates = run_rates(ctx, [str(t["instance_id"]) for t in resolved])
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
        cost = monthly_cost(f, rates, rid)
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
                "finding": finding_evidence(f, "recommended"),
            }
        )
    base.admit(ctx, targets, problems)
    return targets, evidence


def _names(targets: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{t['instance_id']} ({t['instance_type']})" for t in targets)


def _power_draft(ctx: ToolContext, planned: Planned) -> ProposalDraft:
    action, targets, evidence, rollback_of = planned
    stop, cur = action == STOP, ctx.config.reporting_currency
    saving = base.total(targets, "saving", "monthly_cost") if stop else Decimal(0)
    regions = ", ".join(sorted({str(t["region"]) for t in targets}))
    verb = "Stop" if stop else "Start"
    summary = f"{verb} {len(targets)} EC2 instance(s) in {regions}: {_names(targets)}"
    if stop:
        summary += f"; saves about {money(saving, cur)}/month (findings, else billed run rate)"
    else:
        cost = base.total(targets, "monthly_cost")
        summary += f"; resumes about {money(cost, cur)}/month of billed compute"
    return base.make_draft(
        ctx,
        action,
        target="aws/ec2/" + ",".join(str(t["instance_id"]) for t in targets),
        params={"provider": "AWS", "instances": targets},
        summary=summary,
        evidence={"instances": evidence},
        limits=True,
        rollback_of=rollback_of,
        expected_monthly_saving=saving,
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


def _resize_draft(ctx: ToolContext, planned: Planned) -> ProposalDraft:
    target, evidence, rollback_of = planned.targets[0], planned.evidence, planned.rollback_of
    saving = Decimal(target["saving"]) if target.get("saving") else Decimal(0)
    old, new, rid = target["instance_type"], target["to_type"], target["instance_id"]
    how = "stop, change the type, start again" if target["state"] == "running" else "change type"
    summary = f"Resize EC2 {rid} in {target['region']} from {old} to {new} ({how})"
    if saving:
        summary += f"; saves about {money(saving, ctx.config.reporting_currency)}/month (finding)"
    return base.make_draft(
        ctx,
        RESIZE,
        target=f"aws/ec2/{rid}",
        params={"provider": "AWS", "instances": [target]},
        summary=summary,
        evidence={"instances": evidence},
        rollback_of=rollback_of,
        expected_monthly_saving=saving,
        risk="medium",
        rollback=f"rollback_action with this proposal's id proposes resizing {rid} back to {old} "
        "(same stop / modify / start, approved the same way). The instance is down for the "
        "change; instance-store data and a non-Elastic public IP are lost.",
    )


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


def _drift(t: Mapping[str, Any], now: Live | None, ctx: ToolContext) -> str | None:
    rid = str(t["instance_id"])
    if now is None:
        return f"{rid} no longer exists (terminated or not found)"
    seen = ("", now.state, t["state"]), ("type", now.instance_type, t["instance_type"])
    return base.drifted(rid, protected(now.tags, settings(ctx.config)), *seen)


def _same_size(t: Mapping[str, Any], f: Finding) -> str | None:
    if f.recommended != t["to_type"]:
        return f"the finding now recommends {f.recommended}, not {t['to_type']}"
    return None


class Instances(TargetAction[Targets]):
    """Stop, start or resize EC2 instances."""

    names = (STOP, START, RESIZE)
    permissions = PERMISSIONS
    key, noun = "instances", "instance"
    errors = (ActionError, BotoCoreError, ClientError)

    def resolve(self, ctx: ToolContext, name: str, args: Any) -> Targets:
        if name == START:
            return resolve_ids(ctx, _INSTANCE, [], args.instance_ids, args.region, None)
        if name == STOP:
            ids, region = args.instance_ids, args.region
            return resolve_ids(ctx, _INSTANCE, args.finding_ids, ids, region, "stop_instance")
        ids = [args.finding_id] if args.finding_id else []
        explicit = [args.instance_id] if args.instance_id else []
        resolved = resolve_ids(ctx, _INSTANCE, ids, explicit, args.region, "resize_instance")
        if len(resolved) != 1:
            raise ActionError("resize one instance per proposal")
        f: Finding | None = resolved[0].get("finding")
        new = args.instance_type or (f.recommended if f is not None else None)
        if not new:
            raise ActionError("no new instance type: give instance_type")
        # a different size than the finding's is not that finding's saving
        other = f is not None and args.instance_type and args.instance_type != f.recommended
        return [{**resolved[0], "to_type": new, "other_size": bool(other)}]

    def plan(self, ctx: ToolContext, name: str, resolved: Targets) -> tuple[Targets, Targets]:
        if name != RESIZE:
            return _plan(ctx, resolved, "running" if name == STOP else "stopped")
        [r] = resolved
        live = _live(ctx, resolved).get(str(r["instance_id"]))
        state = (
            live.state if live is not None and live.state in ("running", "stopped") else "running"
        )
        targets, evidence = _plan(ctx, resolved, state)
        target = {**targets[0], "to_type": r["to_type"]}
        if target["instance_type"] == r["to_type"]:
            raise ActionError(f"{target['instance_id']} is already {r['to_type']}")
        if r["other_size"]:
            target["finding_id"], target["saving"] = None, None
        ec2 = aws_ec2.ec2_client(str(target["region"]), settings_for(ctx))
        if not aws_ec2.offered(ec2, r["to_type"]):
            raise ActionError(f"{r['to_type']} is not offered in {target['region']}")
        return [target], evidence

    def draft(self, ctx: ToolContext, planned: Planned) -> ProposalDraft:
        return (_resize_draft if planned.name == RESIZE else _power_draft)(ctx, planned)

    def reverse_evidence(self, targets: Targets) -> Targets:
        return [
            {
                "instance_id": t["instance_id"],
                "state_after_original": t["state"],
                "type_after_original": t["instance_type"],
            }
            for t in targets
        ]

    def drift(self, ctx: ToolContext, proposal: Proposal) -> list[str]:
        targets: list[Mapping[str, Any]] = proposal.params["instances"]
        live = _live(ctx, targets)
        problems = [p for t in targets if (p := _drift(t, live.get(str(t["instance_id"])), ctx))]
        if problems:
            return problems
        resize = base.effective_action(proposal) == RESIZE
        basis = "utilization and bills"
        return stale_findings(ctx, targets, "instance_id", basis, _same_size if resize else None)

    def dry_run(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        action = base.effective_action(proposal)
        s = settings_for(ctx)
        for region, group in aws_ec2.by_region(proposal.params["instances"]).items():
            ec2 = aws_ec2.ec2_client(region, s)
            if action == RESIZE:
                for t in group:
                    if not aws_ec2.offered(ec2, str(t["to_type"])):
                        return f"{t['to_type']} is not offered in {region}"
            why = _dry_runs(ec2, action, group)
            if why:
                return why
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        if base.effective_action(proposal) == RESIZE:
            return _execute_resize(ctx, proposal)
        return _execute_power(ctx, proposal)


def _execute_power(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    action = base.effective_action(proposal)
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
    reverse = START if action == STOP else STOP
    how = f"{reverse} on the {len(changed)} instance(s)"
    rollback = base.undo(proposal, reverse, "instances", changed, how, drop=("before",))
    return base.outcome("AWS", changed, failed, ident="instance_id", rollback=rollback)


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
    changed = [{**after, "from_type": old, "to_type": new, "before": t["state"]}]
    how = f"resizing {rid} back from {new} to {old}"
    back = [{**after, "to_type": old}]
    rollback = base.undo(proposal, RESIZE, "instances", back, how)
    return base.outcome("AWS", changed, [], ident=None, rollback=rollback)


INSTANCES = base.register(Instances())
