"""`delete_ebs_volume`: snapshot, then delete unattached EBS volumes, once, after approval.

Only `available` (unattached) volumes, from `ebs_unattached` findings or explicit volume ids. A
proposal names each volume with what the proposer saw live (state, size, type, AZ, IOPS,
throughput), its billed monthly run rate (else the list price) and the finding; all of it is in
the parameters, so covered by the hash. Deletion is high risk and needs two distinct approvers
by default (`approvals.two_person` lists `delete_ebs_volume`; a config that sets the list
replaces that default).

Right before acting the action re-validates: blast radius (`actions:`), each volume still exists,
is still `available` and unattached, has the same size and type, is not protected
(`finops:protected=true`, the optimizer's `protect_keys`), the finding still holds, and EC2
`DryRun` of CreateSnapshot and DeleteVolume succeeds. Any drift fails the proposal with the
reason; nothing is changed.

Executing snapshots each volume (tagged `finops:source-volume`, `finops:proposal`), waits until
the snapshot is `completed` (boto3 `snapshot_completed`; nothing is deleted before), then deletes
the volume. The delete itself is irreversible; the result records each snapshot and how to
restore, and `rollback_action {"proposal_id": ...}` proposes `restore_ebs_volume`
(`tools.actions.ebs_restore`): a new volume from the snapshot, same AZ / type / size / tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, model_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import aws_ebs, aws_ec2
from tools.actions.aws_ebs import VolLive
from tools.actions.aws_ec2 import ActionError
from tools.actions.config import actions_settings
from tools.actions.ebs_restore import PERMISSIONS as RESTORE_PERMISSIONS
from tools.actions.ebs_restore import RESTORE, SOURCE_TAG, restore_draft
from tools.actions.findings import current_findings, finding_evidence, pick_finding, stale_findings
from tools.actions.limits import blast_radius, protected, run_rates
from tools.actions.rollback import register_reverse
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.idle import EBS_GB_MONTH
from tools.optimize.models import Finding
from tools.registry import REGISTRY, ActionSpec
from tools.vtags.tagback_models import settings_for

__all__ = ["DELETE", "SNAPSHOT_GB_MONTH", "VolumesArgs"]

DELETE = "delete_ebs_volume"
FINDING_ACTION = "snapshot_and_delete_volume"
SNAPSHOT_GB_MONTH = Decimal("0.05")
"""EBS snapshot list price per GB-month (us-east-1, standard tier): the upper bound of what the
safety snapshot costs while it is kept (snapshots hold only written blocks)."""
PERMISSIONS = (
    "ec2:DescribeVolumes",
    "ec2:CreateSnapshot",
    "ec2:CreateTags",
    "ec2:DescribeSnapshots",
    "ec2:DeleteVolume",
)


class VolumesArgs(BaseModel):
    finding_ids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="ebs_unattached findings (finops recommend).",
    )
    volume_ids: list[str] = Field(
        default_factory=list, max_length=200, description="EBS volume ids (vol-...)."
    )
    region: str | None = Field(default=None, description="Region of volume_ids.")

    @model_validator(mode="after")
    def _some(self) -> VolumesArgs:
        if not self.finding_ids and not self.volume_ids:
            raise ValueError("give finding_ids or volume_ids")
        return self


# -- proposing ----------------------------------------------------------------------------------


def _resolve(
    ctx: ToolContext, finding_ids: Sequence[str], ids: Sequence[str], region: str | None
) -> list[dict[str, Any]]:
    default = region or settings_for(ctx).aws_region
    findings = current_findings(ctx)
    targets: dict[str, dict[str, Any]] = {}
    for fid in finding_ids:
        f = pick_finding(
            findings,
            fid,
            FINDING_ACTION,
            lambda f: (f.resource_id or "").startswith("vol-"),
            "an EBS volume",
        )
        rid = str(f.resource_id)
        targets[rid] = {"volume_id": rid, "region": f.region or default, "finding": f}
    by_volume = {f.resource_id: f for f in findings.values() if f.action == FINDING_ACTION}
    for rid in ids:
        if not rid.startswith("vol-"):
            raise ActionError(f"{rid!r} is not an EBS volume id (vol-...)")
        targets.setdefault(
            rid, {"volume_id": rid, "region": default, "finding": by_volume.get(rid)}
        )
    return list(targets.values())


def _live(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> dict[str, VolLive]:
    s, out = settings_for(ctx), dict[str, VolLive]()
    for region, group in aws_ec2.by_region(targets).items():
        ids = [str(t["volume_id"]) for t in group]
        out |= aws_ebs.describe_volumes(aws_ec2.ec2_client(region, s), ids)
    return out


def _refusal(ctx: ToolContext, rid: str, now: VolLive | None) -> str | None:
    if now is None:
        return f"{rid}: not found (or deleted)"
    why = protected(now.tags, settings(ctx.config))
    if why:
        return f"{rid}: {why}; never changed by the agent"
    if now.state != "available" or now.attached_to:
        on = f" (attached to {', '.join(now.attached_to)})" if now.attached_to else ""
        return f"{rid}: is {now.state}{on}; only unattached (available) volumes are deleted"
    return None


def _cost(f: Finding | None, rates: Mapping[str, Decimal], now: VolLive) -> tuple[Decimal, str]:
    if f is not None and f.monthly_cost is not None:
        return f.monthly_cost, "finding (billed run rate)"
    if now.volume_id in rates:
        return rates[now.volume_id], "billed run rate"
    rate = EBS_GB_MONTH.get(now.volume_type, EBS_GB_MONTH["gp3"])
    return (rate * now.size_gib).quantize(Decimal("0.01")), "list price (no bills)"


def _target(r: Mapping[str, Any], now: VolLive, cost: Decimal) -> dict[str, Any]:
    f: Finding | None = r.get("finding")
    return {
        "volume_id": now.volume_id,
        "region": r["region"],
        "state": now.state,
        "size_gib": now.size_gib,
        "volume_type": now.volume_type,
        "availability_zone": now.availability_zone,
        "iops": now.iops,
        "throughput": now.throughput,
        "encrypted": now.encrypted,
        "monthly_cost": str(cost),
        "finding_id": f.id if f is not None else None,
        "saving": str(f.saving.monthly) if f is not None else str(cost),
    }


def _plan(
    ctx: ToolContext, resolved: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    live = _live(ctx, resolved)
    rates = run_rates(ctx, list(live))
    targets, evidence, problems = [], [], []
    for r in resolved:
        rid = str(r["volume_id"])
        now = live.get(rid)
        why = _refusal(ctx, rid, now)
        if why or now is None:
            problems.append(why or rid)
            continue
        cost, source = _cost(r.get("finding"), rates, now)
        targets.append(_target(r, now, cost))
        evidence.append(
            {
                "volume_id": rid,
                "live_state": now.state,
                "live_tags": now.tags,
                "monthly_cost": str(cost),
                "cost_source": source,
                "finding": finding_evidence(r.get("finding")),
            }
        )
    if problems:
        raise ActionError("; ".join(problems))
    limit = blast_radius(ctx, targets)
    if limit:
        raise ActionError(limit)
    return targets, evidence


def _draft(
    ctx: ToolContext, targets: list[dict[str, Any]], evidence: list[dict[str, Any]]
) -> ProposalDraft:
    cur = ctx.config.reporting_currency
    saving = sum((Decimal(str(t["saving"])) for t in targets), Decimal(0))
    gib = sum(int(t["size_gib"]) for t in targets)
    names = ", ".join(
        f"{t['volume_id']} ({t['volume_type']}, {t['size_gib']} GiB, {t['availability_zone']})"
        for t in targets
    )
    return ProposalDraft(
        action=DELETE,
        target="aws/ebs/" + ",".join(str(t["volume_id"]) for t in targets),
        params={"provider": "AWS", "volumes": targets},
        summary=f"Snapshot, then delete {len(targets)} unattached EBS volume(s): {names}; saves "
        f"about {cur} {saving:.2f}/month (finding, else billed run rate, else list price); the "
        f"kept snapshot(s) cost at most {cur} {SNAPSHOT_GB_MONTH * gib:.2f}/month "
        f"({gib} GiB × {cur} {SNAPSHOT_GB_MONTH}/GB-month list, us-east-1) until deleted",
        evidence={
            "volumes": evidence,
            "requested_by": ctx.actor,
            "blast_radius": actions_settings(ctx.config).model_dump(mode="json"),
        },
        expected_monthly_saving=saving,
        currency=cur,
        risk="high",
        rollback="Deleting a volume is irreversible; each is snapshotted first (tagged "
        f"{SOURCE_TAG}) and deleted only once the snapshot is completed. rollback_action with "
        "this proposal's id proposes restore_ebs_volume: a new volume from that snapshot in the "
        "same AZ with the same type, size and tags (new id, unattached; approved the same way).",
    )


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=PERMISSIONS,
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def delete_ebs_volume(ctx: ToolContext, args: VolumesArgs) -> ProposalDraft:
    """Propose deleting unattached EBS volumes, each snapshotted first (nothing changes until
    humans approve; two approvers by default). Give ebs_unattached finding ids from
    optimization_findings, or volume ids. Attached (in-use) and protected (finops:protected=true)
    volumes are refused. Example: {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"volume_ids":
    ["vol-0abc1234def567890"], "region": "us-east-1"}. Returns the proposal id; tell the user
    it awaits approval and that a restore from the snapshot is possible.
    """
    resolved = _resolve(ctx, args.finding_ids, args.volume_ids, args.region)
    targets, evidence = _plan(ctx, resolved)
    return _draft(ctx, targets, evidence)


# -- re-validation and execution ----------------------------------------------------------------


def _drift(t: Mapping[str, Any], now: VolLive | None, ctx: ToolContext) -> str | None:
    rid = str(t["volume_id"])
    if now is None:
        return f"{rid} no longer exists (deleted or not found)"
    why = protected(now.tags, settings(ctx.config))
    if why:
        return f"{rid} is now {why}"
    if now.state != "available" or now.attached_to:
        on = f", attached to {', '.join(now.attached_to)}" if now.attached_to else ""
        return f"{rid} is now {now.state}{on} (the proposal saw it available, unattached)"
    if (now.size_gib, now.volume_type) != (int(t["size_gib"]), str(t["volume_type"])):
        return (
            f"{rid} is now {now.volume_type} {now.size_gib} GiB, the proposal saw "
            f"{t['volume_type']} {t['size_gib']} GiB"
        )
    return None


def _precheck(ctx: ToolContext, proposal: Proposal) -> str | None:
    targets: list[Mapping[str, Any]] = proposal.params["volumes"]
    limit = blast_radius(ctx, targets)
    if limit:
        return limit
    try:
        live = _live(ctx, targets)
        problems = [p for t in targets if (p := _drift(t, live.get(str(t["volume_id"])), ctx))]
        problems += [] if problems else stale_findings(ctx, targets, "volume_id")
        if problems:
            return "; ".join(problems) + "; propose again"
        s = settings_for(ctx)
        for t in targets:
            ec2, rid = aws_ec2.ec2_client(str(t["region"]), s), str(t["volume_id"])
            why = aws_ec2.dry_run(ec2, "create_snapshot", VolumeId=rid) or aws_ec2.dry_run(
                ec2, "delete_volume", VolumeId=rid
            )
            if why:
                return f"{rid}: {why}"
    except (ActionError, BotoCoreError, ClientError) as exc:
        return str(exc)
    return None


def _delete_one(ec2: Any, proposal: Proposal, t: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot (wait until completed), then delete one volume; the volume's record."""
    rid = str(t["volume_id"])
    now = aws_ebs.describe_volumes(ec2, [rid]).get(rid)
    tags = aws_ebs.user_tags(now.tags if now else {})
    snap_tags = {**tags, SOURCE_TAG: rid, "finops:proposal": proposal.id}
    description = f"finops {proposal.id}: before deleting {rid}"
    snap = aws_ebs.snapshot_volume(ec2, rid, description, snap_tags)
    try:
        aws_ebs.delete_volume(ec2, rid)
    except (BotoCoreError, ClientError) as exc:
        raise ActionError(f"snapshot {snap} taken, but deleting failed: {exc}") from None
    return {**t, "tags": tags, "snapshot_id": snap, "state": "deleted"}


def _execute(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    s = settings_for(ctx)
    changed: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for t in proposal.params["volumes"]:
        try:
            changed.append(_delete_one(aws_ec2.ec2_client(str(t["region"]), s), proposal, t))
        except (ActionError, BotoCoreError, ClientError) as exc:
            failed.append({"volume_id": str(t["volume_id"]), "error": str(exc)})
    if failed and not changed:
        raise ActionError(
            "no volume deleted: " + "; ".join(f"{f['volume_id']}: {f['error']}" for f in failed)
        )
    how = f'rollback_action {{"proposal_id": "{proposal.id}"}}'
    return {
        "provider": "AWS",
        "changed": changed,
        "failed": failed,
        "snapshots": {c["volume_id"]: c["snapshot_id"] for c in changed},
        "rollback": {
            "action": RESTORE,
            "volumes": [
                {**{k: v for k, v in c.items() if k != "state"}, "finding_id": None, "saving": None}
                for c in changed
            ],
            "how": f"{how} proposes {RESTORE}: create_volume from each snapshot in the same AZ "
            "with the same type, size and tags",
        },
    }


REGISTRY.action(
    ActionSpec(name=DELETE, precheck=_precheck, execute=_execute, permissions=PERMISSIONS)
)
register_reverse(DELETE, restore_draft, RESTORE_PERMISSIONS)
