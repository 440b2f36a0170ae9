"""CloudWatch utilization for the AWS inventory: one `GetMetricData` query per resource and metric,
up to 500 queries a call, every page (`NextToken`) merged per query.

| resource | CloudWatch metric (namespace, statistic) | `utilization.metric` |
|---|---|---|
| EC2 instance | CPUUtilization (AWS/EC2, Average) | cpu_percent |
| EC2 instance | NetworkIn (AWS/EC2, Sum per period) | network_in_bytes |
| EC2 instance | NetworkOut (AWS/EC2, Sum per period) | network_out_bytes |
| EC2 instance | mem_used_percent (CWAgent, Average) where the agent runs | memory_percent |
| RDS instance | CPUUtilization (AWS/RDS, Average) | cpu_percent |
| RDS instance | DatabaseConnections (AWS/RDS, Average) | db_connections |
| Application load balancer | RequestCount (AWS/ApplicationELB, Sum per period) | request_count |

Memory exists only where the CloudWatch agent runs: `ListMetrics` (CWAgent) finds the instances
that publish it and the exact dimensions they use (the agent may append ImageId, InstanceType…);
the set with the fewest dimensions is queried. Each sample's `ts` is the start of its period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warehouse.inventory.aws_calls import AwsCaller
from warehouse.inventory.models import OnProgress, Resource, Sample, naive_utc

__all__ = ["MAX_QUERIES", "MetricQuery", "fetch", "memory_dimensions", "merge_pages", "plan"]

MAX_QUERIES = 500
"""GetMetricData's limit of queries per call."""
_SOURCE = "cloudwatch"
_MEMORY = (("CWAgent", "mem_used_percent"), ("CWAgent", "Memory % Committed Bytes In Use"))

Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MetricQuery:
    """One series to fetch: which resource and `utilization.metric` it fills, and from where."""

    resource_id: str
    metric: str
    namespace: str
    name: str
    dimensions: Dimensions
    stat: str

    def request(self, qid: str, period: int) -> dict[str, Any]:
        dims = [{"Name": k, "Value": v} for k, v in self.dimensions]
        metric = {"Namespace": self.namespace, "MetricName": self.name, "Dimensions": dims}
        stat = {"Metric": metric, "Period": period, "Stat": self.stat}
        return {"Id": qid, "MetricStat": stat, "ReturnData": True}


def memory_dimensions(caller: AwsCaller, cloudwatch: Any) -> dict[str, tuple[str, Dimensions]]:
    """InstanceId → (metric name, dimensions) of the CloudWatch agent's memory metric."""
    found: dict[str, tuple[str, Dimensions]] = {}
    for namespace, name in _MEMORY:
        pages = caller.pages(cloudwatch, "list_metrics", Namespace=namespace, MetricName=name)
        for page in pages:
            for m in page.get("Metrics", []):
                dims = tuple((str(d["Name"]), str(d["Value"])) for d in m.get("Dimensions", []))
                instance = dict(dims).get("InstanceId")
                if instance is None:
                    continue
                best = found.get(instance)
                if best is None or len(dims) < len(best[1]):
                    found[instance] = (name, dims)
    return found


def _lb_dimension(arn: str) -> str | None:
    """`…:loadbalancer/app/web/50dc…` → `app/web/50dc…` (ALBs only: NLBs have no RequestCount)."""
    _, sep, suffix = arn.partition(":loadbalancer/")
    return suffix if sep and suffix.startswith("app/") else None


def plan(
    resources: Iterable[Resource], memory: dict[str, tuple[str, Dimensions]]
) -> list[MetricQuery]:
    """The queries for a region's resources."""
    out: list[MetricQuery] = []
    for r in resources:
        rid = r.resource_id
        if r.kind == "ec2_instance":
            dims: Dimensions = (("InstanceId", rid),)
            out += [
                MetricQuery(rid, "cpu_percent", "AWS/EC2", "CPUUtilization", dims, "Average"),
                MetricQuery(rid, "network_in_bytes", "AWS/EC2", "NetworkIn", dims, "Sum"),
                MetricQuery(rid, "network_out_bytes", "AWS/EC2", "NetworkOut", dims, "Sum"),
            ]
            if rid in memory:
                name, mem_dims = memory[rid]
                out.append(MetricQuery(rid, "memory_percent", "CWAgent", name, mem_dims, "Average"))
        elif r.kind == "rds_instance" and r.name:
            dims = (("DBInstanceIdentifier", r.name),)
            out += [
                MetricQuery(rid, "cpu_percent", "AWS/RDS", "CPUUtilization", dims, "Average"),
                MetricQuery(
                    rid, "db_connections", "AWS/RDS", "DatabaseConnections", dims, "Average"
                ),
            ]
        elif r.kind == "load_balancer" and (lb := _lb_dimension(rid)):
            dims = (("LoadBalancer", lb),)
            out.append(
                MetricQuery(rid, "request_count", "AWS/ApplicationELB", "RequestCount", dims, "Sum")
            )
    return out


def merge_pages(
    pages: Iterable[dict[str, Any]],
) -> tuple[dict[str, list[tuple[datetime, float]]], list[str]]:
    """Join the partial results of every page by query id; also the messages CloudWatch sent."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    messages: list[str] = []
    for page in pages:
        for m in page.get("Messages") or []:
            messages.append(f"{m.get('Code')}: {m.get('Value')}")
        for result in page.get("MetricDataResults") or []:
            points = series.setdefault(str(result["Id"]), [])
            for ts, value in zip(
                result.get("Timestamps", []), result.get("Values", []), strict=False
            ):
                stamp = naive_utc(ts)
                assert stamp is not None
                points.append((stamp, float(value)))
            for m in result.get("Messages") or []:
                messages.append(f"{result['Id']} {m.get('Code')}: {m.get('Value')}")
    return series, messages


def fetch(
    caller: AwsCaller,
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    start: datetime,
    end: datetime,
    period: int,
    *,
    batch: int = MAX_QUERIES,
    on_progress: OnProgress | None = None,
    label: str = "",
) -> tuple[list[Sample], list[str]]:
    """Every query's datapoints in [start, end), `batch` queries per GetMetricData call."""
    size = max(1, min(MAX_QUERIES, batch))
    samples: list[Sample] = []
    warnings: list[str] = []
    chunks = [queries[i : i + size] for i in range(0, len(queries), size)]
    for n, chunk in enumerate(chunks, 1):
        if on_progress:
            on_progress(f"{label}CloudWatch batch {n}/{len(chunks)} ({len(chunk)} series)")
        requests = [q.request(f"q{i}", period) for i, q in enumerate(chunk)]
        pages = caller.pages(
            cloudwatch,
            "get_metric_data",
            MetricDataQueries=requests,
            StartTime=start,
            EndTime=end,
            ScanBy="TimestampAscending",
        )
        series, messages = merge_pages(pages)
        warnings += [f"{label}GetMetricData: {m}" for m in messages]
        for i, q in enumerate(chunk):
            for ts, value in series.get(f"q{i}", []):
                samples.append(Sample(q.resource_id, q.metric, ts, value, _SOURCE))
    return samples, warnings
