"""EC2 calls of the optimization actions: read live state, dry-run, stop / start / modify.

Every change is dry-run first (`DryRun=True`: AWS answers `DryRunOperation` when the call would
succeed, `UnauthorizedOperation` when it is not allowed). State changes wait with boto3's waiters,
whose first poll is immediate (no sleep when the instance is already there). Clients come from
`warehouse.cloud.aws_client` (one per endpoint, region and service; calls go to
`AWS_ENDPOINT_URL` when set).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from tools.actions.base import ActionError
from warehouse.cloud import CloudSettings, aws_client

__all__ = [
    "Live",
    "by_region",
    "describe",
    "describe_by_region",
    "dry_run",
    "ec2_client",
    "modify_type",
    "offered",
    "start",
    "stop",
]

GONE = ("shutting-down", "terminated")
T = TypeVar("T")


@dataclass(frozen=True)
class Live:
    """An instance as EC2 reports it now."""

    instance_id: str
    state: str
    instance_type: str
    tags: dict[str, str] = field(default_factory=dict)


def by_region(targets: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Targets grouped by their `region` (one client per region), regions in order."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for t in targets:
        groups[str(t["region"])].append(t)
    return dict(sorted(groups.items()))


def ec2_client(region: str, settings: CloudSettings) -> Any:
    """The shared EC2 client of the endpoint and region."""
    return aws_client("ec2", region, settings)


def describe_by_region(
    service: str,
    settings: CloudSettings,
    targets: Iterable[Mapping[str, Any]],
    key: str,
    describe: Callable[[Any, list[str]], Mapping[str, T]],
) -> dict[str, T]:
    """Live state of the targets' `key` ids, one `describe` call per region."""
    out: dict[str, T] = {}
    for region, group in by_region(targets).items():
        out |= describe(aws_client(service, region, settings), [str(t[key]) for t in group])
    return out


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe(ec2: Any, ids: Sequence[str]) -> dict[str, Live]:
    """Live instances by id; a missing or terminated instance is absent."""
    out: dict[str, Live] = {}
    try:
        resp = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": list(ids)}])
    except (BotoCoreError, ClientError) as exc:
        raise ActionError(f"EC2 DescribeInstances failed: {exc}") from None
    for res in resp.get("Reservations", []):
        for inst in res.get("Instances", []):
            state = str(inst.get("State", {}).get("Name", ""))
            if state in GONE:
                continue
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", []) or []}
            out[inst["InstanceId"]] = Live(
                inst["InstanceId"], state, str(inst.get("InstanceType", "")), tags
            )
    return out


def dry_run(ec2: Any, operation: str, **kwargs: Any) -> str | None:
    """Why `operation` would fail (None: AWS says it would succeed)."""
    try:
        getattr(ec2, operation)(DryRun=True, **kwargs)
    except ClientError as exc:
        if _code(exc) == "DryRunOperation":
            return None
        return f"dry run of {operation} refused: {_code(exc)}: {exc}"
    except BotoCoreError as exc:
        return f"dry run of {operation} failed: {exc}"
    return f"dry run of {operation} did not answer DryRunOperation"


def offered(ec2: Any, instance_type: str) -> bool:
    """Whether the region offers `instance_type`."""
    resp = ec2.describe_instance_type_offerings(
        LocationType="region", Filters=[{"Name": "instance-type", "Values": [instance_type]}]
    )
    found = resp.get("InstanceTypeOfferings", [])
    return any(o.get("InstanceType") == instance_type for o in found)


def _wait(ec2: Any, waiter: str, ids: Sequence[str]) -> None:
    try:
        ec2.get_waiter(waiter).wait(
            InstanceIds=list(ids), WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except WaiterError as exc:
        raise ActionError(f"{waiter} not reached for {', '.join(ids)}: {exc}") from None


def stop(ec2: Any, ids: Sequence[str]) -> dict[str, str]:
    """Stop the instances and wait until stopped; id → state reported by StopInstances."""
    resp = ec2.stop_instances(InstanceIds=list(ids))
    _wait(ec2, "instance_stopped", ids)
    return _states(resp.get("StoppingInstances", []))


def start(ec2: Any, ids: Sequence[str]) -> dict[str, str]:
    """Start the instances and wait until running."""
    resp = ec2.start_instances(InstanceIds=list(ids))
    _wait(ec2, "instance_running", ids)
    return _states(resp.get("StartingInstances", []))


def modify_type(ec2: Any, instance_id: str, instance_type: str) -> None:
    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})


def _states(items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {str(i["InstanceId"]): str(i["PreviousState"]["Name"]) for i in items}
