"""EBS calls of the volume actions: read live volumes and snapshots, snapshot, delete, restore.

Uses the EC2 client of `tools.actions.aws_ec2` (same endpoint, same `dry_run`). Waits use boto3's
waiters (`snapshot_completed`, `volume_available`), whose first poll is immediate. A snapshot
that is not `completed` within `SNAPSHOT_WAIT` raises before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from tools.actions.base import ActionError

__all__ = [
    "SNAPSHOT_WAIT",
    "SnapLive",
    "VolLive",
    "create_volume_args",
    "delete_volume",
    "describe_snapshots",
    "describe_volumes",
    "restore_volume",
    "snapshot_volume",
    "user_tags",
]

SNAPSHOT_WAIT = {"Delay": 15, "MaxAttempts": 40}
"""At most 10 minutes, inside the default execution lease (15 minutes)."""
_IOPS_TYPES = ("io1", "io2", "gp3")


@dataclass(frozen=True)
class VolLive:
    """A volume as EC2 reports it now."""

    volume_id: str
    state: str
    size_gib: int
    volume_type: str
    availability_zone: str
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    attached_to: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapLive:
    """A snapshot as EC2 reports it now."""

    snapshot_id: str
    state: str
    volume_size: int
    tags: dict[str, str] = field(default_factory=dict)


def _tags(items: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags a caller may set again (keys starting with `aws:` are reserved to AWS)."""
    return {k: v for k, v in tags.items() if not k.lower().startswith("aws:")}


def describe_volumes(ec2: Any, ids: Sequence[str]) -> dict[str, VolLive]:
    """Live volumes by id; a missing or deleted one is absent."""
    out: dict[str, VolLive] = {}
    try:
        pages = ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "volume-id", "Values": list(ids)}]
        )
        for page in pages:
            for v in page.get("Volumes", []):
                if v.get("State") in ("deleting", "deleted"):
                    continue
                out[v["VolumeId"]] = VolLive(
                    volume_id=str(v["VolumeId"]),
                    state=str(v.get("State") or ""),
                    size_gib=int(v.get("Size") or 0),
                    volume_type=str(v.get("VolumeType") or ""),
                    availability_zone=str(v.get("AvailabilityZone") or ""),
                    iops=v.get("Iops"),
                    throughput=v.get("Throughput"),
                    encrypted=bool(v.get("Encrypted")),
                    attached_to=tuple(str(a.get("InstanceId")) for a in v.get("Attachments") or []),
                    tags=_tags(v.get("Tags")),
                )
    except (BotoCoreError, ClientError) as exc:
        raise ActionError(f"EC2 DescribeVolumes failed: {exc}") from None
    return out


def describe_snapshots(ec2: Any, ids: Sequence[str]) -> dict[str, SnapLive]:
    """Live snapshots by id (own account); a missing one is absent."""
    out: dict[str, SnapLive] = {}
    try:
        resp = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "snapshot-id", "Values": list(ids)}]
        )
    except (BotoCoreError, ClientError) as exc:
        raise ActionError(f"EC2 DescribeSnapshots failed: {exc}") from None
    for s in resp.get("Snapshots", []):
        out[s["SnapshotId"]] = SnapLive(
            str(s["SnapshotId"]),
            str(s.get("State") or ""),
            int(s.get("VolumeSize") or 0),
            _tags(s.get("Tags")),
        )
    return out


def snapshot_volume(ec2: Any, volume_id: str, description: str, tags: Mapping[str, str]) -> str:
    """Snapshot the volume and wait until `completed`; the snapshot id."""
    resp = ec2.create_snapshot(
        VolumeId=volume_id,
        Description=description[:255],
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ],
    )
    snap = str(resp["SnapshotId"])
    try:
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=SNAPSHOT_WAIT)
    except WaiterError as exc:
        raise ActionError(
            f"snapshot {snap} of {volume_id} not completed yet ({exc}); the volume was NOT "
            "deleted, the snapshot is kept"
        ) from None
    return snap


def delete_volume(ec2: Any, volume_id: str) -> None:
    ec2.delete_volume(VolumeId=volume_id)


def create_volume_args(spec: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    """CreateVolume arguments restoring `spec` (snapshot, AZ, type, size, IOPS, throughput)."""
    kind = str(spec["volume_type"])
    args: dict[str, Any] = {
        "SnapshotId": str(spec["snapshot_id"]),
        "AvailabilityZone": str(spec["availability_zone"]),
        "VolumeType": kind,
        "Size": int(spec["size_gib"]),
    }
    if kind in _IOPS_TYPES and spec.get("iops"):
        args["Iops"] = int(spec["iops"])
    if kind == "gp3" and spec.get("throughput"):
        args["Throughput"] = int(spec["throughput"])
    if tags:
        args["TagSpecifications"] = [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return args


def restore_volume(ec2: Any, args: Mapping[str, Any]) -> str:
    """Create the volume (`create_volume_args`) and wait until `available`; its id."""
    volume = str(ec2.create_volume(**args)["VolumeId"])
    try:
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume], WaiterConfig=SNAPSHOT_WAIT)
    except WaiterError as exc:
        raise ActionError(f"restored volume {volume} not available yet: {exc}") from None
    return volume
