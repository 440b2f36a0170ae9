"""RDS calls of the optimization actions: read live DB instances, stop / start and wait.

RDS has no `DryRun` parameter (unlike EC2), so nothing here can ask AWS "would this succeed?"
without doing it. The actions' dry-run equivalent is `DescribeDBInstances` plus the checks AWS
itself applies before `StopDBInstance` (state `available`; not a read replica, not the source of
one, not an Aurora cluster member, not Multi-AZ SQL Server: `stop_refusal`). A missing
`rds:StopDBInstance` permission therefore shows only when the action executes (and fails it,
with nothing changed). Clients come from `warehouse.cloud.aws_client` (calls go to
`AWS_ENDPOINT_URL` when set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from tools.actions.base import ActionError
from warehouse.cloud import CloudSettings, aws_client

__all__ = [
    "DbLive",
    "db_id",
    "describe_dbs",
    "rds_client",
    "start_db",
    "stop_db",
    "stop_refusal",
]

_WAIT = {"Delay": 30, "MaxAttempts": 60}
_STOPPED = WaiterModel(
    {
        "version": 2,
        "waiters": {
            "DBInstanceStopped": {
                "operation": "DescribeDBInstances",
                "delay": 30,
                "maxAttempts": 60,
                "acceptors": [
                    {
                        "expected": "stopped",
                        "matcher": "pathAll",
                        "state": "success",
                        "argument": "DBInstances[].DBInstanceStatus",
                    },
                ],
            }
        },
    }
)
"""boto3 has no `db_instance_stopped` waiter; this one polls DescribeDBInstances the same way
(first poll immediate)."""


@dataclass(frozen=True)
class DbLive:
    """A DB instance as RDS reports it now."""

    identifier: str
    arn: str
    status: str
    instance_class: str
    engine: str
    multi_az: bool = False
    replica_of: str | None = None
    replicas: tuple[str, ...] = ()
    cluster: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def rds_client(region: str, settings: CloudSettings) -> Any:
    """The shared RDS client of the endpoint and region."""
    return aws_client("rds", region, settings)


def db_id(value: str) -> str:
    """The DB instance identifier of an identifier or a DB instance ARN (`...:db:NAME`)."""
    return value.rsplit(":", 1)[-1] if value.startswith("arn:") else value


def _live(d: dict[str, Any]) -> DbLive:
    return DbLive(
        identifier=str(d["DBInstanceIdentifier"]),
        arn=str(d.get("DBInstanceArn") or ""),
        status=str(d.get("DBInstanceStatus") or ""),
        instance_class=str(d.get("DBInstanceClass") or ""),
        engine=str(d.get("Engine") or ""),
        multi_az=bool(d.get("MultiAZ")),
        replica_of=d.get("ReadReplicaSourceDBInstanceIdentifier") or None,
        replicas=tuple(d.get("ReadReplicaDBInstanceIdentifiers") or ()),
        cluster=d.get("DBClusterIdentifier") or None,
        tags={t["Key"]: t["Value"] for t in d.get("TagList") or []},
    )


def describe_dbs(rds: Any, ids: Sequence[str]) -> dict[str, DbLive]:
    """Live DB instances by identifier; a missing or deleting one is absent."""
    names = sorted({db_id(i) for i in ids})
    out: dict[str, DbLive] = {}
    try:
        pages = rds.get_paginator("describe_db_instances").paginate(
            Filters=[{"Name": "db-instance-id", "Values": names}]
        )
        for page in pages:
            for d in page.get("DBInstances", []):
                live = _live(d)
                if live.status not in ("deleting", "deleted") and live.identifier in names:
                    out[live.identifier] = live
    except (BotoCoreError, ClientError) as exc:
        raise ActionError(f"RDS DescribeDBInstances failed: {exc}") from None
    return out


def stop_refusal(db: DbLive) -> str | None:
    """Why AWS cannot stop this DB instance (RDS User Guide, 'Stopping an Amazon RDS DB instance
    temporarily', limitations), or None."""
    if db.replica_of:
        return f"is a read replica of {db.replica_of} (AWS cannot stop read replicas)"
    if db.replicas:
        return f"has read replica(s) {', '.join(db.replicas)} (AWS cannot stop a replica's source)"
    if db.cluster or db.engine.lower().startswith("aurora"):
        return f"belongs to Aurora cluster {db.cluster or '?'} (stop the cluster instead)"
    if db.multi_az and db.engine.lower().startswith("sqlserver"):
        return "is a Multi-AZ SQL Server instance (AWS cannot stop it)"
    return None


def stop_db(rds: Any, identifier: str) -> None:
    """Stop the DB instance and wait until `stopped`."""
    rds.stop_db_instance(DBInstanceIdentifier=identifier)
    waiter = create_waiter_with_client("DBInstanceStopped", _STOPPED, rds)
    try:
        waiter.wait(DBInstanceIdentifier=identifier, WaiterConfig=_WAIT)
    except WaiterError as exc:
        raise ActionError(f"{identifier} did not reach stopped: {exc}") from None


def start_db(rds: Any, identifier: str) -> None:
    """Start the DB instance and wait until `available`."""
    rds.start_db_instance(DBInstanceIdentifier=identifier)
    try:
        rds.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=identifier, WaiterConfig=_WAIT
        )
    except WaiterError as exc:
        raise ActionError(f"{identifier} did not become available: {exc}") from None
