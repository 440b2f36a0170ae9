"""`restore_ebs_volume`: the approval-gated way back from `delete_ebs_volume`.

A deleted volume cannot come back, but `delete_ebs_volume` snapshots it first and records, per
volume, the snapshot and what the volume was (AZ, type, size, IOPS, throughput, tags).
`rollback_action {"proposal_id": <the delete>}` drafts (`restore_draft`) a `rollback_action`
proposal with `params.action = restore_ebs_volume`; once approved it re-validates (the snapshot
still exists, is `completed`, is the one taken of that volume; an EC2 `DryRun` of CreateVolume
succeeds; blast radius) and creates one new volume per snapshot in the same AZ with the same
type, size, IOPS / throughput and tags, plus `finops:restored-from=<snapshot>`. The new volume
has a new id and is not attached to anything. The snapshot is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import aws_ebs, aws_ec2
from tools.actions.base import Action, ActionError, make_draft, outcome, register, total
from tools.context import ToolContext
from tools.vtags.tagback_models import settings_for
from warehouse.format import money

__all__ = ["PERMISSIONS", "RESTORE", "SOURCE_TAG", "restore_draft"]

RESTORE = "restore_ebs_volume"
SOURCE_TAG = "finops:source-volume"
PERMISSIONS = ("ec2:DescribeSnapshots", "ec2:CreateVolume", "ec2:CreateTags")
_BY_NAME = {RESTORE: PERMISSIONS}


def _tags(v: Mapping[str, Any]) -> dict[str, str]:
    return {**aws_ebs.user_tags(v.get("tags") or {}), "finops:restored-from": v["snapshot_id"]}


def restore_draft(
    ctx: ToolContext, volumes: list[dict[str, Any]], evidence: Any, rollback_of: str
) -> ProposalDraft:
    """The `rollback_action` draft restoring the volumes an executed `delete_ebs_volume`
    (`rollback_of`) deleted."""
    cost = total(volumes, "monthly_cost")
    names = ", ".join(
        f"{v['snapshot_id']} → {v['volume_type']} {v['size_gib']} GiB in "
        f"{v['availability_zone']} (was {v['volume_id']})"
        for v in volumes
    )
    return make_draft(
        ctx,
        RESTORE,
        target="aws/ebs/" + ",".join(str(v["snapshot_id"]) for v in volumes),
        params={"provider": "AWS", "volumes": volumes},
        summary=f"restore {len(volumes)} EBS volume(s) from the snapshot(s) taken before "
        f"deletion: {names}; billed again about "
        f"{money(cost, ctx.config.reporting_currency)}/month",
        evidence={"volumes": evidence},
        rollback_of=rollback_of,
        expected_monthly_saving=Decimal(0),
        risk="low",
        rollback="The restored volume is a new, unattached volume (new id); attach it yourself. "
        "To remove it again, propose delete_ebs_volume on it (snapshot first, approved again). "
        "The snapshot is kept either way.",
    )


def _refusal(ec2: Any, v: Mapping[str, Any]) -> str | None:
    """Why the volume cannot be restored from its snapshot now, or None."""
    snap_id = str(v["snapshot_id"])
    snap = aws_ebs.describe_snapshots(ec2, [snap_id]).get(snap_id)
    if snap is None:
        return f"snapshot {snap_id} no longer exists; nothing to restore from"
    if snap.state != "completed":
        return f"snapshot {snap_id} is {snap.state}, not completed"
    if snap.tags.get(SOURCE_TAG) != v["volume_id"]:
        return f"snapshot {snap_id} is not tagged {SOURCE_TAG}={v['volume_id']}"
    return aws_ec2.dry_run(ec2, "create_volume", **aws_ebs.create_volume_args(v, _tags(v)))


class Restore(Action):
    """Create a volume from the snapshot `delete_ebs_volume` took (proposed only as its
    rollback; undone by proposing `delete_ebs_volume` on the new volume)."""

    names = (RESTORE,)
    permissions = _BY_NAME
    key, noun = "volumes", "volume"
    errors = (ActionError, BotoCoreError, ClientError)

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        s = settings_for(ctx)
        for v in proposal.params["volumes"]:
            why = _refusal(aws_ec2.ec2_client(str(v["region"]), s), v)
            if why:
                return why
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        s = settings_for(ctx)
        changed: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        for v in proposal.params["volumes"]:
            ec2 = aws_ec2.ec2_client(str(v["region"]), s)
            try:
                new = aws_ebs.restore_volume(ec2, aws_ebs.create_volume_args(v, _tags(v)))
            except (ActionError, BotoCoreError, ClientError) as exc:
                failed.append({"snapshot_id": str(v["snapshot_id"]), "error": str(exc)})
                continue
            changed.append({**v, "restored_volume_id": new, "state": "available"})
        return outcome(
            "AWS",
            changed,
            failed,
            ident="snapshot_id",
            nothing="nothing restored",
            how_to_undo="propose delete_ebs_volume on the restored volume(s): "
            + ", ".join(c["restored_volume_id"] for c in changed),
        )


register(Restore())
