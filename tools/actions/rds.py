"""RDS optimization actions: `stop_rds_instance` and its reverse `start_rds_instance`. The tools
only propose; the actions run once after approval.

A proposal names each DB instance with the status and class the proposer saw live, its engine,
its billed monthly run rate (bills by DB instance ARN) and, when it comes from an `rds_idle`
finding (no connection in the last days), the finding id and its saving; all of it is in the
parameters, so covered by the hash.

RDS has no `DryRun` parameter. The dry-run equivalent, run when proposing and again right before
acting, is `DescribeDBInstances` and the checks AWS applies to `StopDBInstance` (see
`tools.actions.aws_rds`): the instance exists, is still in the status and of the class the
proposal saw, is not protected (`finops:protected=true`, the optimizer's `protect_keys`), is not
a read replica / a replica's source / an Aurora member / Multi-AZ SQL Server, the finding still
holds, and the blast radius (`actions:`) is respected. Any drift fails the proposal with the
reason; nothing is changed. Permission to stop is only proven by the stop itself.

AWS starts a stopped DB instance again by itself after 7 days (billed again from then on): a
stop saves at most 7 days unless repeated. The result records the reverse (`rollback`);
`rollback_action {"proposal_id": ...}` proposes `start_rds_instance` on exactly what was stopped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, model_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import aws_rds
from tools.actions.aws_ec2 import ActionError
from tools.actions.aws_rds import DbLive, db_id
from tools.actions.config import actions_settings
from tools.actions.findings import current_findings, finding_evidence, pick_finding, stale_findings
from tools.actions.limits import blast_radius, protected, run_rates
from tools.actions.rollback import ROLLBACK, effective_action, register_reverse, reverse_targets
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.models import Finding
from tools.registry import REGISTRY, ActionSpec
from tools.vtags.tagback_models import settings_for

__all__ = ["START", "STOP", "RdsStartArgs", "RdsStopArgs"]

STOP, START = "stop_rds_instance", "start_rds_instance"
IDLE_ACTION = "stop_db_instance"
AUTO_RESTART_DAYS = 7
_PERMS = {
    STOP: ("rds:DescribeDBInstances", "rds:StopDBInstance"),
    START: ("rds:DescribeDBInstances", "rds:StartDBInstance"),
}

_UNDO = {
    STOP: "rollback_action with this proposal's id proposes starting exactly the DB instances "
    f"this stopped (approved the same way). AWS itself starts a stopped DB instance after "
    f"{AUTO_RESTART_DAYS} days (billed again from then on). While stopped, connections fail; "
    "endpoint, parameter and option groups are kept.",
    START: "rollback_action with this proposal's id proposes stopping exactly the DB instances "
    "this started (approved the same way).",
}


class RdsStopArgs(BaseModel):
    finding_ids: list[str] = Field(
        default_factory=list, max_length=200, description="rds_idle findings (finops recommend)."
    )
    db_instance_ids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="DB instance identifiers or DB instance ARNs.",
    )
    region: str | None = Field(default=None, description="Region of identifiers (ARNs say it).")

    @model_validator(mode="after")
    def _some(self) -> RdsStopArgs:
        if not self.finding_ids and not self.db_instance_ids:
            raise ValueError("give finding_ids or db_instance_ids")
        return self


class RdsStartArgs(BaseModel):
    db_instance_ids: list[str] = Field(min_length=1, max_length=200)
    region: str | None = None


# -- proposing ----------------------------------------------------------------------------------


def _region_of(value: str, default: str) -> str:
    parts = value.split(":")
    return parts[3] if value.startswith("arn:") and len(parts) > 3 and parts[3] else default


def _is_rds(f: Finding) -> bool:
    return f.resource_kind == "rds_instance" and bool(f.resource_id or f.resource_name)


def _resolve(
    ctx: ToolContext, finding_ids: Sequence[str], ids: Sequence[str], region: str | None
) -> list[dict[str, Any]]:
    """Targets (identifier, region, finding) from finding ids and explicit ids, de-duplicated."""
    default = region or settings_for(ctx).aws_region
    findings = current_findings(ctx)
    targets: dict[str, dict[str, Any]] = {}
    for fid in finding_ids:
        f = pick_finding(findings, fid, IDLE_ACTION, _is_rds, "an RDS DB instance")
        ref = str(f.resource_id or f.resource_name)
        name = db_id(ref)
        targets[name] = {"db": name, "region": f.region or _region_of(ref, default), "finding": f}
    by_db = {
        db_id(str(f.resource_id or f.resource_name)): f
        for f in findings.values()
        if f.action == IDLE_ACTION and _is_rds(f)
    }
    for ref in ids:
        name = db_id(ref.strip())
        if not name or name.startswith(("i-", "vol-")):
            raise ActionError(f"{ref!r} is not an RDS DB instance identifier or ARN")
        targets.setdefault(
            name, {"db": name, "region": _region_of(ref, default), "finding": by_db.get(name)}
        )
    return list(targets.values())


def _by_region(targets: Sequence[Mapping[str, Any]], key: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for t in targets:
        groups[str(t["region"])].append(str(t[key]))
    return dict(sorted(groups.items()))


def _live(ctx: ToolContext, targets: Sequence[Mapping[str, Any]], key: str) -> dict[str, DbLive]:
    s, out = settings_for(ctx), dict[str, DbLive]()
    for region, names in _by_region(targets, key).items():
        out |= aws_rds.describe_dbs(aws_rds.rds_client(region, s), names)
    return out


def _problem(ctx: ToolContext, name: str, now: DbLive | None, state: str, stop: bool) -> str | None:
    if now is None:
        return f"{name}: not found (or being deleted)"
    why = protected(now.tags, settings(ctx.config))
    if why:
        return f"{name}: {why}; never changed by the agent"
    if now.status != state:
        return f"{name}: is {now.status}, must be {state}"
    cannot = aws_rds.stop_refusal(now) if stop else None
    return f"{name}: {cannot}" if cannot else None


def _plan(
    ctx: ToolContext, resolved: Sequence[Mapping[str, Any]], action: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(targets with live state, evidence), or ActionError naming every refused instance."""
    state = "available" if action == STOP else "stopped"
    live = _live(ctx, resolved, "db")
    rates = run_rates(ctx, [live[n].arn for n in live] + list(live))
    targets, evidence, problems = [], [], []
    for r in resolved:
        name, f = str(r["db"]), r.get("finding")
        now = live.get(name)
        why = _problem(ctx, name, now, state, action == STOP)
        if why or now is None:
            problems.append(why or name)
            continue
        cost = f.monthly_cost if f is not None and f.monthly_cost is not None else None
        cost = cost if cost is not None else rates.get(now.arn, rates.get(name))
        targets.append(
            {
                "db_instance_id": name,
                "arn": now.arn,
                "region": r["region"],
                "state": now.status,
                "instance_class": now.instance_class,
                "engine": now.engine,
                "monthly_cost": None if cost is None else str(cost),
                "finding_id": f.id if f is not None else None,
                "saving": None if f is None else str(f.saving.monthly),
            }
        )
        evidence.append(
            {
                "db_instance_id": name,
                "live_status": now.status,
                "live_class": now.instance_class,
                "engine": now.engine,
                "multi_az": now.multi_az,
                "live_tags": now.tags,
                "monthly_cost": None if cost is None else str(cost),
                "cost_known": cost is not None,
                "finding": finding_evidence(f),
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


def _sum(targets: Sequence[Mapping[str, Any]], *keys: str) -> Decimal:
    total = Decimal(0)
    for t in targets:
        value = next((t[k] for k in keys if t.get(k)), None)
        total += Decimal(str(value)) if value else Decimal(0)
    return total


def _draft(
    ctx: ToolContext,
    action: str,
    targets: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    rollback_of: str | None = None,
) -> ProposalDraft:
    stop = action == STOP
    names = ", ".join(
        f"{t['db_instance_id']} ({t['instance_class']}, {t['engine']})" for t in targets
    )
    regions = ", ".join(sorted({str(t["region"]) for t in targets}))
    verb = "Stop" if stop else "Start"
    summary = f"{verb} {len(targets)} RDS DB instance(s) in {regions}: {names}"
    saving = _sum(targets, "saving", "monthly_cost") if stop else Decimal(0)
    if stop:
        week = saving * AUTO_RESTART_DAYS * 24 / 730
        summary += (
            f"; saves about {_money(ctx, saving)}/month while stopped (finding, else billed run "
            f"rate; storage and backups stay billed). AWS starts it again after "
            f"{AUTO_RESTART_DAYS} days, so one stop saves at most about {_money(ctx, week)}"
        )
    else:
        cost = _sum(targets, "monthly_cost")
        summary += f"; resumes about {_money(ctx, cost)}/month of billed DB cost"
    params: dict[str, Any] = {"provider": "AWS", "db_instances": targets}
    if rollback_of:
        params |= {"rollback_of": rollback_of, "action": action}
        summary = f"Roll back {rollback_of}: {summary}"
    return ProposalDraft(
        action=ROLLBACK if rollback_of else action,
        target="aws/rds/" + ",".join(str(t["db_instance_id"]) for t in targets),
        params=params,
        summary=summary,
        evidence={
            "db_instances": evidence,
            "requested_by": ctx.actor,
            "dry_run": "RDS has no DryRun: DescribeDBInstances and the StopDBInstance "
            "limitations were checked instead",
            "blast_radius": actions_settings(ctx.config).model_dump(mode="json"),
        },
        expected_monthly_saving=saving,
        currency=ctx.config.reporting_currency,
        risk="medium" if stop else "low",
        rollback=_UNDO[action],
    )


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS[STOP],
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def stop_rds_instance(ctx: ToolContext, args: RdsStopArgs) -> ProposalDraft:
    """Propose stopping idle RDS DB instances (nothing changes until a human approves). Give
    rds_idle finding ids from optimization_findings, or DB instance identifiers / ARNs. Refused:
    protected (finops:protected=true), not `available`, read replicas and their sources, Aurora
    members, Multi-AZ SQL Server. RDS has no dry run: the instance is described and checked
    instead. AWS restarts a stopped DB instance after 7 days. Example:
    {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"db_instance_ids": ["reports-db"], "region":
    "us-east-1"}. Returns the proposal id; tell the user it awaits approval.
    """
    resolved = _resolve(ctx, args.finding_ids, args.db_instance_ids, args.region)
    targets, evidence = _plan(ctx, resolved, STOP)
    return _draft(ctx, STOP, targets, evidence)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=_PERMS[START],
    example={"db_instance_ids": ["reports-db"], "region": "us-east-1"},
)
def start_rds_instance(ctx: ToolContext, args: RdsStartArgs) -> ProposalDraft:
    """Propose starting stopped RDS DB instances (after a human approves). Example:
    {"db_instance_ids": ["reports-db"], "region": "us-east-1"}.
    """
    resolved = [
        {**t, "finding": None} for t in _resolve(ctx, [], args.db_instance_ids, args.region)
    ]
    targets, evidence = _plan(ctx, resolved, START)
    return _draft(ctx, START, targets, evidence)


# -- re-validation, execution, rollback ---------------------------------------------------------


def _precheck(ctx: ToolContext, proposal: Proposal) -> str | None:
    targets: list[Mapping[str, Any]] = proposal.params["db_instances"]
    try:
        stop = effective_action(proposal) == STOP
        limit = blast_radius(ctx, targets)
        if limit:
            return limit
        live = _live(ctx, targets, "db_instance_id")
        problems = []
        for t in targets:
            name = str(t["db_instance_id"])
            now = live.get(name)
            if now is None:
                problems.append(f"{name} no longer exists (deleted or not found)")
            elif protected(now.tags, settings(ctx.config)):
                problems.append(f"{name} is now {protected(now.tags, settings(ctx.config))}")
            elif now.status != t["state"]:
                problems.append(f"{name} is now {now.status}, the proposal saw {t['state']}")
            elif now.instance_class != t["instance_class"]:
                problems.append(
                    f"{name} class is now {now.instance_class}, the proposal saw "
                    f"{t['instance_class']}"
                )
            elif stop and aws_rds.stop_refusal(now):
                problems.append(f"{name} {aws_rds.stop_refusal(now)}")
        problems += [] if problems else stale_findings(ctx, targets, "db_instance_id")
    except (ActionError, BotoCoreError, ClientError) as exc:
        return str(exc)
    return "; ".join(problems) + "; propose again" if problems else None


def _execute(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    action = effective_action(proposal)
    call = aws_rds.stop_db if action == STOP else aws_rds.start_db
    s = settings_for(ctx)
    changed: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for t in proposal.params["db_instances"]:
        name = str(t["db_instance_id"])
        rds = aws_rds.rds_client(str(t["region"]), s)
        try:
            call(rds, name)
            now = aws_rds.describe_dbs(rds, [name]).get(name)
        except (ActionError, BotoCoreError, ClientError) as exc:
            failed.append({"db_instance_id": name, "error": str(exc)})
            continue
        changed.append({**t, "before": t["state"], "state": now.status if now else "unknown"})
    if failed and not changed:
        raise ActionError(
            "nothing changed: " + "; ".join(f"{f['db_instance_id']}: {f['error']}" for f in failed)
        )
    reverse = START if action == STOP else STOP
    how = f'rollback_action {{"proposal_id": "{proposal.id}"}} proposes {reverse}'
    note = f"; AWS starts it by itself after {AUTO_RESTART_DAYS} days" if action == STOP else ""
    return {
        "provider": "AWS",
        "changed": changed,
        "failed": failed,
        "rollback": {
            "action": reverse,
            "db_instances": [
                {
                    **{k: v for k, v in t.items() if k != "before"},
                    "finding_id": None,
                    "saving": None,
                }
                for t in changed
            ],
            "how": f"{how} on the {len(changed)} DB instance(s){note}",
        },
    }


def _reverse(ctx: ToolContext, original: Proposal) -> ProposalDraft:
    """The reverse of an executed stop / start (see `tools.actions.rollback`)."""
    action, targets = reverse_targets(ctx, original, "db_instances", "DB instance")
    evidence = [
        {"db_instance_id": t["db_instance_id"], "status_after_original": t["state"]}
        for t in targets
    ]
    return _draft(ctx, action, targets, evidence, rollback_of=original.id)


for _name in (STOP, START):
    REGISTRY.action(
        ActionSpec(name=_name, precheck=_precheck, execute=_execute, permissions=_PERMS[_name])
    )
    register_reverse(_name, _reverse, _PERMS[_name])
