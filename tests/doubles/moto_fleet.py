"""The optimizer's unseen fleet (tests/doubles/optimize_fleet.py) replayed into moto's server.

`build_fleet` plants the fleet straight into a scratch warehouse; here what it planted is read
back from the scratch tables (EC2 instances only: type, region, tags, hourly series, bills) and
seeded into moto through boto3 — one instance per planted instance with the same type, region and
tags, and the hourly series as CloudWatch datapoints — so that the real collector
(`warehouse.inventory.aws.collect_aws`) builds the warehouse the optimizer reads.

Round trip: the collector asks `Average` for CPUUtilization and mem_used_percent and `Sum` for
NetworkIn / NetworkOut, one period an hour, and stamps each sample with its period's start. One
datapoint is put per series and hour (5 minutes past it), so Average and Sum of a period are the
planted value exactly.

moto limits the shape of the seeding, not what is tested:
* The memory metric carries only the `InstanceId` dimension: moto's ListMetrics de-duplication
  compares every dimension with every other one, so with more than one dimension each datapoint
  becomes a metric of its own and the listing turns quadratic.
* moto's GetMetricData scans every datapoint of the window for every query and period, so the
  cost of one collection grows with the square of its window. `collect_daily` therefore runs the
  collector once a day with a one-day lookback, as a scheduled `finops collect aws` would; the
  utilization table is upserted and the history builds up run by run. For the same reason only
  the hours from `since` on are put (the test passes the optimizer's longest lookback).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import duckdb

from warehouse.cloud import CloudSettings
from warehouse.inventory.aws import collect_aws
from warehouse.inventory.config import AwsCollectConfig
from warehouse.inventory.models import CollectResult

__all__ = [
    "CLOUDWATCH",
    "MAX_DATUMS",
    "Planted",
    "collect_daily",
    "cost_rows",
    "launch",
    "put_history",
    "read_planted",
    "session",
    "unsupported",
]

MAX_DATUMS = 1000
"""PutMetricData's limit of datapoints a call."""
CLOUDWATCH = {
    "cpu_percent": ("AWS/EC2", "CPUUtilization"),
    "network_in_bytes": ("AWS/EC2", "NetworkIn"),
    "network_out_bytes": ("AWS/EC2", "NetworkOut"),
    "memory_percent": ("CWAgent", "mem_used_percent"),
}
"""`utilization.metric` → the CloudWatch (namespace, metric) the collector reads it from."""
_IMAGE = "ami-12c6146b"


@dataclass
class Planted:
    """One planted EC2 instance as the scratch warehouse holds it."""

    rid: str
    instance_type: str
    region: str
    tags: dict[str, str]
    series: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    bills: list[dict[str, Any]] = field(default_factory=list)


def read_planted(con: duckdb.DuckDBPyConnection) -> dict[str, Planted]:
    """Every planted EC2 instance with its hourly series (by metric, in time order) and bills."""
    out = {
        rid: Planted(rid, itype, region, json.loads(tags) if tags else {})
        for rid, itype, region, tags in con.execute(
            "SELECT resource_id, instance_type, region, CAST(tags AS VARCHAR) FROM resources "
            "WHERE kind = 'ec2_instance' ORDER BY resource_id"
        ).fetchall()
    }
    for rid, metric, ts, value in con.execute(
        "SELECT u.resource_id, u.metric, u.ts, u.value FROM utilization u JOIN resources r "
        "USING (resource_id) WHERE r.kind = 'ec2_instance' ORDER BY u.resource_id, u.metric, u.ts"
    ).fetchall():
        out[rid].series.setdefault(metric, []).append((ts, float(value)))
    for rid, day, cost, tags in con.execute(
        "SELECT ResourceId, CAST(ChargePeriodStart AS DATE), CAST(BilledCost AS VARCHAR), "
        "CAST(Tags AS VARCHAR) FROM costs WHERE ResourceId IN "
        "(SELECT resource_id FROM resources WHERE kind = 'ec2_instance') ORDER BY 1, 2"
    ).fetchall():
        out[rid].bills.append(
            {"day": day, "cost": cost, "tags": json.loads(tags) if tags else None}
        )
    return out


def session() -> boto3.session.Session:
    """Test credentials only (moto accepts any)."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def _client(endpoint: str, service: str, region: str) -> Any:
    return session().client(service, region_name=region, endpoint_url=endpoint)  # type: ignore[call-overload]


def unsupported(endpoint: str, planted: Iterable[Planted]) -> dict[str, str]:
    """Planted id → why moto cannot host it (region not listed by DescribeRegions, or instance
    type not offered there by DescribeInstanceTypeOfferings)."""
    fleet = list(planted)
    listed = _client(endpoint, "ec2", "us-east-1").describe_regions(AllRegions=True)["Regions"]
    regions = {r["RegionName"] for r in listed}
    out = {p.rid: f"region {p.region} not in moto" for p in fleet if p.region not in regions}
    for region in sorted({p.region for p in fleet} & regions):
        wanted = sorted({p.instance_type for p in fleet if p.region == region})
        offered = _client(endpoint, "ec2", region).describe_instance_type_offerings(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": wanted}]
        )["InstanceTypeOfferings"]
        known = {o["InstanceType"] for o in offered}
        out |= {
            p.rid: f"{p.instance_type} not offered by moto in {region}"
            for p in fleet
            if p.region == region and p.instance_type not in known
        }
    return out


def launch(endpoint: str, planted: Iterable[Planted]) -> dict[str, str]:
    """Run one instance per planted one (same type, region, tags); planted id → moto id."""
    ids: dict[str, str] = {}
    clients: dict[str, Any] = {}
    for p in planted:
        if p.region not in clients:
            clients[p.region] = _client(endpoint, "ec2", p.region)
        ec2 = clients[p.region]
        tags = [{"Key": k, "Value": v} for k, v in p.tags.items()]
        spec = [{"ResourceType": "instance", "Tags": tags}] if tags else []
        run = ec2.run_instances(
            ImageId=_IMAGE,
            MinCount=1,
            MaxCount=1,
            InstanceType=p.instance_type,
            TagSpecifications=spec,
        )
        ids[p.rid] = str(run["Instances"][0]["InstanceId"])
    return ids


def _datums(
    p: Planted, instance_id: str, namespace: str, since: datetime
) -> Iterator[dict[str, Any]]:
    for metric, (ns, name) in CLOUDWATCH.items():
        if ns != namespace:
            continue
        for ts, value in p.series.get(metric, []):
            if ts < since:
                continue
            yield {
                "MetricName": name,
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": ts.replace(tzinfo=UTC) + timedelta(minutes=5),
                "Value": value,
            }


def put_history(
    endpoint: str, planted: Iterable[Planted], ids: dict[str, str], since: datetime
) -> int:
    """Every planted series from `since` (naive UTC) on as CloudWatch datapoints, at most
    MAX_DATUMS a PutMetricData call; returns how many datapoints were put."""
    by_region: dict[str, list[Planted]] = {}
    for p in planted:
        by_region.setdefault(p.region, []).append(p)
    count = 0
    for region, group in sorted(by_region.items()):
        cw = _client(endpoint, "cloudwatch", region)
        for namespace in sorted({ns for ns, _ in CLOUDWATCH.values()}):
            data = [d for p in group for d in _datums(p, ids[p.rid], namespace, since)]
            for i in range(0, len(data), MAX_DATUMS):
                cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + MAX_DATUMS])
            count += len(data)
    return count


def cost_rows(planted: Iterable[Planted], ids: dict[str, str]) -> list[dict[str, Any]]:
    """The planted bills with moto's instance ids (and the instance's region), for `add_costs`."""
    return [
        {**bill, "ResourceId": ids[p.rid], "RegionId": p.region}
        for p in planted
        for bill in p.bills
    ]


def collect_daily(
    con: duckdb.DuckDBPyConnection,
    endpoint: str,
    regions: Sequence[str],
    first: date,
    last: date,
) -> tuple[list[CollectResult], list[float]]:
    """Run the collector once a day for `first`..`last` (each run at the next midnight UTC with
    a one-day lookback); also the backoff sleeps asked for (none expected: nothing throttles)."""
    config = AwsCollectConfig(regions=list(regions), lookback_days=1, max_attempts=1)
    settings = CloudSettings(aws_endpoint_url=endpoint)
    sleeps: list[float] = []
    results = []
    boto = session()  # one session: its loaded service models are reused run after run
    day = first
    while day <= last:
        now = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        results.append(
            collect_aws(
                con,
                config,
                settings,
                now=now,
                session=boto,
                sleep=sleeps.append,
                jitter=lambda: 1.0,
            )
        )
        day += timedelta(days=1)
    return results, sleeps
