"""RDS optimization actions: `stop_rds_instance` and its reverse `start_rds_instance`, proposed by
the tools of `tools.actions.agent_tools`; they run once after approval.

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

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import aws_rds, base, findings
from tools.actions.aws_ec2 import describe_by_region
from tools.actions.aws_rds import DbLive, db_id
from tools.actions.base import ActionError, FindingsOrIds, Planned, TargetAction, Targets
from tools.actions.limits import protected, run_rates
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.models import Finding
from tools.vtags.tagback_models import settings_for
from warehouse.format import money

__all__ = ["DB_INSTANCES", "PERMISSIONS", "START", "STOP", "RdsStartArgs", "RdsStopArgs"]

STOP, START = "stop_rds_instance", "start_rds_instance"
IDLE_ACTION = "stop_db_instance"
AUTO_RESTART_DAYS = 7
PERMISSIONS = {
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


class RdsStopArgs(FindingsOrIds):
    ids = "db_instance_ids"
    finding_ids: list[str] = Field(
        default_factory=list, max_length=200, description="rds_idle findings (finops recommend)."
    )
    db_instance_ids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="DB instance identifiers or DB instance ARNs.",
    )
    region: str | None = Field(default=None, description="Region of identifiers (ARNs say it).")


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
    current = findings.current_findings(ctx)
    targets: dict[str, dict[str, Any]] = {}
    for fid in finding_ids:
        f = findings.pick_finding(current, fid, IDLE_ACTION, _is_rds, "an RDS DB instance")
        ref = str(f.resource_id or f.resource_name)
        name = db_id(ref)
        targets[name] = {"db": name, "region": f.region or _region_of(ref, default), "finding": f}
    by_db = {
        db_id(str(f.resource_id or f.resource_name)): f
        for f in current.values()
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


def _live(ctx: ToolContext, targets: Sequence[Mapping[str, Any]], key: str) -> dict[str, DbLive]:
    return describe_by_region("rds", settings_for(ctx), targets, key, aws_rds.describe_dbs)


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
) -> tuple[Targets, Targets]:
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
        cost = findings.monthly_cost(f, rates, now.arn, name)
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
                "finding": findings.finding_evidence(f),
            }
        )
    base.admit(ctx, targets, problems)
    return targets, evidence


def _draft(ctx: ToolContext, planned: Planned) -> ProposalDraft:
    action, targets, evidence, rollback_of = planned
    stop, cur = action == STOP, ctx.config.reporting_currency
    names = ", ".join(
        f"{t['db_instance_id']} ({t['instance_class']}, {t['engine']})" for t in targets
    )
    regions = ", ".join(sorted({str(t["region"]) for t in targets}))
    verb = "Stop" if stop else "Start"
    summary = f"{verb} {len(targets)} RDS DB instance(s) in {regions}: {names}"
    saving = base.total(targets, "saving", "monthly_cost") if stop else Decimal(0)
    if stop:
        week = saving * AUTO_RESTART_DAYS * 24 / 730
        summary += (
            f"; saves about {money(saving, cur)}/month while stopped (finding, else billed run "
            f"rate; storage and backups stay billed). AWS starts it again after "
            f"{AUTO_RESTART_DAYS} days, so one stop saves at most about {money(week, cur)}"
        )
    else:
        cost = base.total(targets, "monthly_cost")
        summary += f"; resumes about {money(cost, cur)}/month of billed DB cost"
    return base.make_draft(
        ctx,
        action,
        target="aws/rds/" + ",".join(str(t["db_instance_id"]) for t in targets),
        params={"provider": "AWS", "db_instances": targets},
        summary=summary,
        evidence={
            "db_instances": evidence,
            "dry_run": "RDS has no DryRun: DescribeDBInstances and the StopDBInstance "
            "limitations were checked instead",
        },
        limits=True,
        rollback_of=rollback_of,
        expected_monthly_saving=saving,
        risk="medium" if stop else "low",
        rollback=_UNDO[action],
    )


# -- re-validation and execution ----------------------------------------------------------------


def _drift(ctx: ToolContext, t: Mapping[str, Any], now: DbLive | None, stop: bool) -> str | None:
    name = str(t["db_instance_id"])
    if now is None:
        return f"{name} no longer exists (deleted or not found)"
    seen = ("", now.status, t["state"]), ("class", now.instance_class, t["instance_class"])
    why = base.drifted(name, protected(now.tags, settings(ctx.config)), *seen)
    cannot = aws_rds.stop_refusal(now) if stop else None
    return why or (f"{name} {cannot}" if cannot else None)


class DbInstances(TargetAction[Targets]):
    """Stop or start RDS DB instances. RDS has no `DryRun`: the re-described instance and the
    limitations of `StopDBInstance` are the dry run (`drift`)."""

    names = (STOP, START)
    permissions = PERMISSIONS
    key, noun = "db_instances", "DB instance"
    errors = (ActionError, BotoCoreError, ClientError)

    def resolve(self, ctx: ToolContext, name: str, args: Any) -> Targets:
        if name == START:
            return [
                {**t, "finding": None} for t in _resolve(ctx, [], args.db_instance_ids, args.region)
            ]
        return _resolve(ctx, args.finding_ids, args.db_instance_ids, args.region)

    def plan(self, ctx: ToolContext, name: str, resolved: Targets) -> tuple[Targets, Targets]:
        return _plan(ctx, resolved, name)

    def draft(self, ctx: ToolContext, planned: Planned) -> ProposalDraft:
        return _draft(ctx, planned)

    def reverse_evidence(self, targets: Targets) -> Targets:
        return [
            {"db_instance_id": t["db_instance_id"], "status_after_original": t["state"]}
            for t in targets
        ]

    def drift(self, ctx: ToolContext, proposal: Proposal) -> list[str]:
        targets: list[Mapping[str, Any]] = proposal.params["db_instances"]
        stop = base.effective_action(proposal) == STOP
        live = _live(ctx, targets, "db_instance_id")
        problems = [
            p for t in targets if (p := _drift(ctx, t, live.get(str(t["db_instance_id"])), stop))
        ]
        return problems or findings.stale_findings(ctx, targets, "db_instance_id")

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        action = base.effective_action(proposal)
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
        reverse = START if action == STOP else STOP
        note = f"; AWS starts it by itself after {AUTO_RESTART_DAYS} days" if action == STOP else ""
        how = f"{reverse} on the {len(changed)} DB instance(s){note}"
        rollback = base.undo(proposal, reverse, "db_instances", changed, how, drop=("before",))
        return base.outcome("AWS", changed, failed, ident="db_instance_id", rollback=rollback)


DB_INSTANCES = base.register(DbInstances())
