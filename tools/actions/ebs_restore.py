"""`restore_ebs_volume`: the approval-gated way back from `delete_ebs_volume`.

A deleted volume cannot come back, but `delete_ebs_volume` snapshots it first and records, per
volume, the snapshot and what the volume was (AZ, type, size, IOPS, throughput, tags).
`rollback_action {"proposal_id": <the delete>}` builds (`restore_draft`) a `rollback_action`
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
from tools.actions.aws_ec2 import ActionError
from tools.actions.limits import blast_radius
from tools.actions.rollback import ROLLBACK, reverse_targets
from tools.context import ToolContext
from tools.registry import REGISTRY, ActionSpec
from tools.vtags.tagback_models import settings_for

__all__ = ["PERMISSIONS", "RESTORE", "SOURCE_TAG", "restore_draft"]

RESTORE = "restore_ebs_volume"
SOURCE_TAG = "finops:source-volume"
PERMISSIONS = ("ec2:DescribeSnapshots", "ec2:CreateVolume", "ec2:CreateTags")


def _tags(v: Mapping[str, Any]) -> dict[str, str]:
    return {**aws_ebs.user_tags(v.get("tags") or {}), "finops:restored-from": v["snapshot_id"]}


def restore_draft(ctx: ToolContext, original: Proposal) -> ProposalDraft:
    """The `rollback_action` draft restoring what an executed `delete_ebs_volume` deleted."""
    _, volumes = reverse_targets(ctx, original, "volumes", "volume")
    cur = ctx.config.reporting_currency
    cost = sum((Decimal(str(v.get("monthly_cost") or 0)) for v in volumes), Decimal(0))
    names = ", ".join(
        f"{v['snapshot_id']} → {v['volume_type']} {v['size_gib']} GiB in "
        f"{v['availability_zone']} (was {v['volume_id']})"
        for v in volumes
    )
    return ProposalDraft(
        action=ROLLBACK,
        target="aws/ebs/" + ",".join(str(v["snapshot_id"]) for v in volumes),
        params={
            "provider": "AWS",
            "volumes": volumes,
            "rollback_of": original.id,
            "action": RESTORE,
        },
        summary=f"Roll back {original.id}: restore {len(volumes)} EBS volume(s) from the "
        f"snapshot(s) taken before deletion: {names}; billed again about {cur} {cost:.2f}/month",
        evidence={
            "volumes": [
                {k: v.get(k) for k in ("volume_id", "snapshot_id", "tags")} for v in volumes
            ],
            "requested_by": ctx.actor,
        },
        expected_monthly_saving=Decimal(0),
        currency=cur,
        risk="low",
        rollback="The restored volume is a new, unattached volume (new id); attach it yourself. "
        "To remove it again, propose delete_ebs_volume on it (snapshot first, approved again). "
        "The snapshot is kept either way.",
    )


def _precheck(ctx: ToolContext, proposal: Proposal) -> str | None:
    volumes: list[Mapping[str, Any]] = proposal.params["volumes"]
    limit = blast_radius(ctx, volumes)
    if limit:
        return limit
    s = settings_for(ctx)
    try:
        for v in volumes:
            ec2 = aws_ec2.ec2_client(str(v["region"]), s)
            snap = aws_ebs.describe_snapshots(ec2, [str(v["snapshot_id"])]).get(
                str(v["snapshot_id"])
            )
            if snap is None:
                return f"snapshot {v['snapshot_id']} no longer exists; nothing to restore from"
            if snap.state != "completed":
                return f"snapshot {v['snapshot_id']} is {snap.state}, not completed"
            if snap.tags.get(SOURCE_TAG) != v["volume_id"]:
                return f"snapshot {v['snapshot_id']} is not tagged {SOURCE_TAG}={v['volume_id']}"
            args = aws_ebs.create_volume_args(v, _tags(v))
            why = aws_ec2.dry_run(ec2, "create_volume", **args)
            if why:
                return why
    except (ActionError, BotoCoreError, ClientError) as exc:
        return str(exc)
    return None


def _execute(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
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
    if failed and not changed:
        raise ActionError(
            "nothing restored: " + "; ".join(f"{f['snapshot_id']}: {f['error']}" for f in failed)
        )
    return {
        "provider": "AWS",
        "changed": changed,
        "failed": failed,
        "how_to_undo": "propose delete_ebs_volume on the restored volume(s): "
        + ", ".join(c["restored_volume_id"] for c in changed),
    }


REGISTRY.action(
    ActionSpec(name=RESTORE, precheck=_precheck, execute=_execute, permissions=PERMISSIONS)
)
