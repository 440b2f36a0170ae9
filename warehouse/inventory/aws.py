"""`finops collect aws`: the inventory and CloudWatch utilization of every configured region.

For each region: EC2 instances, EBS volumes, Elastic IPs, RDS instances, load balancers (see
`aws_inventory`), then their metrics for the lookback window (see `aws_metrics`). The account is
the caller's (`sts:GetCallerIdentity`). Nothing is written until every region is read; then each
(account, region) snapshot is replaced and the samples upserted in one transaction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError

from warehouse.cloud import CloudSettings, aws_client, aws_session
from warehouse.inventory import aws_inventory as inv
from warehouse.inventory.aws_calls import AwsCaller
from warehouse.inventory.aws_metrics import MAX_QUERIES, fetch, memory_dimensions, plan
from warehouse.inventory.config import AwsCollectConfig
from warehouse.inventory.models import (
    CollectError,
    CollectResult,
    OnProgress,
    Resource,
    Sample,
    Scope,
    metrics_window,
    naive_utc,
)
from warehouse.inventory.store import write_collection

if TYPE_CHECKING:
    import boto3

__all__ = ["REQUIRED_PERMISSIONS", "collect_aws"]

REQUIRED_PERMISSIONS = (
    "sts:GetCallerIdentity",
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeAddresses",
    "rds:DescribeDBInstances",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
)
"""Read-only IAM actions `finops collect aws` calls (all covered by the ReadOnlyAccess policy)."""


def _clients(
    session: boto3.session.Session, region: str, settings: CloudSettings, config: AwsCollectConfig
) -> Callable[[str], Any]:
    boto_config = BotoConfig(
        retries={"mode": config.retry_mode, "total_max_attempts": config.max_attempts},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="finops-collect",
    )

    def make(service: str) -> Any:
        return aws_client(service, region, settings, session=session, config=boto_config)

    return make


def _session(session: boto3.session.Session | None) -> boto3.session.Session:
    """The boto3 session, refusing early when no credentials can be found."""
    try:
        session = session or aws_session()
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise CollectError(f"cannot load AWS credentials: {exc}") from None
    if credentials is None:
        raise CollectError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run with an instance / task role"
        )
    return session


def _account(caller: AwsCaller, make: Callable[[str], Any]) -> str:
    sts = make("sts")
    return str(caller.call(sts, "get_caller_identity")["Account"])


def _region(
    caller: AwsCaller,
    make: Callable[[str], Any],
    region: str,
    account: str,
    window: tuple[datetime, datetime, int],
    batch: int,
    progress: OnProgress,
) -> tuple[list[Resource], list[Sample], list[str]]:
    ec2, rds, elb, cw = make("ec2"), make("rds"), make("elbv2"), make("cloudwatch")
    steps: list[tuple[str, Callable[[], list[Resource]]]] = [
        ("EC2 instances", lambda: inv.instances(caller, ec2, region, account)),
        ("EBS volumes", lambda: inv.volumes(caller, ec2, region, account)),
        ("Elastic IPs", lambda: inv.addresses(caller, ec2, region, account)),
        ("RDS instances", lambda: inv.db_instances(caller, rds, region, account)),
        ("load balancers", lambda: inv.load_balancers(caller, elb, region, account)),
    ]
    resources: list[Resource] = []
    for label, step in steps:
        progress(f"{region}: {label}")
        resources += step()
    progress(f"{region}: CloudWatch agent memory metrics")
    queries = plan(resources, memory_dimensions(caller, cw))
    start, end, period = window
    samples, warnings = fetch(
        caller, cw, queries, start, end, period, batch=batch, on_progress=progress,
        label=f"{region}: ",
    )  # fmt: skip
    return resources, samples, warnings


def collect_aws(
    con: duckdb.DuckDBPyConnection,
    config: AwsCollectConfig,
    settings: CloudSettings,
    *,
    now: datetime,
    regions: Sequence[str] = (),
    session: boto3.session.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
    metric_batch: int = MAX_QUERIES,
    on_progress: OnProgress | None = None,
) -> CollectResult:
    """Collect the inventory and utilization of `regions` (default: the configured ones, else
    the settings' region) and replace their snapshot in the warehouse.

    Example: `collect_aws(con, AwsCollectConfig(regions=["us-east-1"]), CloudSettings(),
    now=datetime.now(UTC))` → CollectResult(resources={"ec2_instance": 12, …}, …).
    """
    started = time.monotonic()
    chosen = list(dict.fromkeys(regions or config.regions or [settings.aws_region]))
    progress = on_progress or (lambda _line: None)
    session = _session(session)
    caller = AwsCaller(
        sleep=sleep, retries=config.throttle_retries, jitter=jitter, page_size=config.page_size
    )
    collected_at = naive_utc(now)
    assert collected_at is not None
    start, end = metrics_window(now, config.lookback_days, config.metrics_period_seconds)
    progress(f"{chosen[0]}: caller identity")
    account = _account(caller, _clients(session, chosen[0], settings, config))
    resources: list[Resource] = []
    samples: list[Sample] = []
    warnings: list[str] = []
    for region in chosen:
        make = _clients(session, region, settings, config)
        window = (start, end, config.metrics_period_seconds)
        found, measured, notes = _region(
            caller, make, region, account, window, metric_batch, progress
        )
        resources += found
        samples += measured
        warnings += notes
    progress("writing the snapshot")
    scopes = [Scope(account, region) for region in chosen]
    written = write_collection(con, "aws", scopes, resources, samples, collected_at)
    return CollectResult.build(
        "aws", collected_at, scopes, written, (start, end), calls=caller.calls,
        retries=caller.retried, warnings=warnings, started=started,
    )  # fmt: skip
