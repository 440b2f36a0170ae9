"""`delete_ebs_volume`: snapshot, then delete unattached EBS volumes, once, after approval (the
tool: `tools.actions.agent_tools`).

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
from pydantic import Field

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import aws_ebs, aws_ec2, base
from tools.actions.aws_ebs import VolLive
from tools.actions.base import ActionError, FindingsOrIds, Planned, TargetAction, Targets
from tools.actions.ebs_restore import RESTORE, SOURCE_TAG, restore_draft
from tools.actions.findings import ResourceIds, finding_evidence, resolve_ids, stale_findings
from tools.actions.limits import protected, run_rates
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.idle import EBS_GB_MONTH
from tools.optimize.models import Finding
from tools.vtags.tagback_models import settings_for
from warehouse.format import money

__all__ = ["DELETE", "PERMISSIONS", "SNAPSHOT_GB_MONTH", "VOLUMES", "VolumesArgs"]

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
_BY_NAME = {DELETE: PERMISSIONS}
_VOLUME = ResourceIds("volume_id", "vol-", "an EBS volume")


class VolumesArgs(FindingsOrIds):
    ids = "volume_ids"
    finding_ids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="ebs_unattached findings (finops recommend).",
    )
    volume_ids: list[str] = Field(
        default_factory=list, max_length=200, description="EBS volume ids (vol-...)."
    )
    region: str | None = Field(default=None, description="Region of volume_ids.")


# -- proposing ----------------------------------------------------------------------------------


def _live(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> dict[str, VolLive]:
    return aws_ec2.describe_by_region(
        "ec2", settings_for(ctx), targets, "volume_id", aws_ebs.describe_volumes
    )


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


def _plan(ctx: ToolContext, resolved: Sequence[Mapping[str, Any]]) -> tuple[Targets, Targets]:
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
    base.admit(ctx, targets, problems)
    return targets, evidence


def _draft(ctx: ToolContext, targets: Targets, evidence: Targets) -> ProposalDraft:
    cur = ctx.config.reporting_currency
    saving = base.total(targets, "saving")
    gib = sum(int(t["size_gib"]) for t in targets)
    names = ", ".join(
        f"{t['volume_id']} ({t['volume_type']}, {t['size_gib']} GiB, {t['availability_zone']})"
        for t in targets
    )
    return base.make_draft(
        ctx,
        DELETE,
        target="aws/ebs/" + ",".join(str(t["volume_id"]) for t in targets),
        params={"provider": "AWS", "volumes": targets},
        summary=f"Snapshot, then delete {len(targets)} unattached EBS volume(s): {names}; saves "
        f"about {money(saving, cur)}/month (finding, else billed run rate, else list price); the "
        f"kept snapshot(s) cost at most {money(SNAPSHOT_GB_MONTH * gib, cur)}/month "
        f"({gib} GiB × {money(SNAPSHOT_GB_MONTH, cur)}/GB-month list, us-east-1) until deleted",
        evidence={"volumes": evidence},
        limits=True,
        expected_monthly_saving=saving,
        risk="high",
        rollback="Deleting a volume is irreversible; each is snapshotted first (tagged "
        f"{SOURCE_TAG}) and deleted only once the snapshot is completed. rollback_action with "
        "this proposal's id proposes restore_ebs_volume: a new volume from that snapshot in the "
        "same AZ with the same type, size and tags (new id, unattached; approved the same way).",
    )


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


class Volumes(TargetAction[Targets]):
    """Snapshot, then delete unattached EBS volumes; reversed by `restore_ebs_volume`."""

    names = (DELETE,)
    permissions = _BY_NAME
    key, noun = "volumes", "volume"
    errors = (ActionError, BotoCoreError, ClientError)

    def resolve(self, ctx: ToolContext, name: str, args: Any) -> Targets:
        ids, region = args.volume_ids, args.region
        return resolve_ids(ctx, _VOLUME, args.finding_ids, ids, region, FINDING_ACTION)

    def plan(self, ctx: ToolContext, name: str, resolved: Targets) -> tuple[Targets, Targets]:
        return _plan(ctx, resolved)

    def draft(self, ctx: ToolContext, planned: Planned) -> ProposalDraft:
        name, targets, evidence, rollback_of = planned
        if name == RESTORE and rollback_of:
            return restore_draft(ctx, targets, evidence, rollback_of)
        return _draft(ctx, targets, evidence)

    def reverse_evidence(self, targets: Targets) -> Targets:
        return [{k: v.get(k) for k in ("volume_id", "snapshot_id", "tags")} for v in targets]

    def drift(self, ctx: ToolContext, proposal: Proposal) -> list[str]:
        targets: list[Mapping[str, Any]] = proposal.params["volumes"]
        live = _live(ctx, targets)
        problems = [p for t in targets if (p := _drift(t, live.get(str(t["volume_id"])), ctx))]
        return problems or stale_findings(ctx, targets, "volume_id")

    def dry_run(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        s = settings_for(ctx)
        for t in proposal.params["volumes"]:
            ec2, rid = aws_ec2.ec2_client(str(t["region"]), s), str(t["volume_id"])
            why = aws_ec2.dry_run(ec2, "create_snapshot", VolumeId=rid) or aws_ec2.dry_run(
                ec2, "delete_volume", VolumeId=rid
            )
            if why:
                return f"{rid}: {why}"
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        s = settings_for(ctx)
        changed: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        for t in proposal.params["volumes"]:
            try:
                changed.append(_delete_one(aws_ec2.ec2_client(str(t["region"]), s), proposal, t))
            except (ActionError, BotoCoreError, ClientError) as exc:
                failed.append({"volume_id": str(t["volume_id"]), "error": str(exc)})
        how = (
            f"{RESTORE}: create_volume from each snapshot in the same AZ with the same type, "
            "size and tags"
        )
        return base.outcome(
            "AWS",
            changed,
            failed,
            ident="volume_id",
            nothing="no volume deleted",
            snapshots={c["volume_id"]: c["snapshot_id"] for c in changed},
            rollback=base.undo(proposal, RESTORE, "volumes", changed, how, drop=("state",)),
        )


VOLUMES = base.register(Volumes())
