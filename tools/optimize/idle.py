"""Idle rules: resources that cost money and do nothing. Each names the rule it follows.

* `ec2_low_utilization` (ec2_instance, vm_instance): daily mean CPU ≤ 10% and network in + out
  ≤ 5 MB on at least 4 of the last 14 days — Trusted Advisor check Qch7DwouX1;
* `ebs_unattached` (ebs_volume): not attached (attached = false or state `available`) —
  Trusted Advisor check DAvU99Dc4C;
* `eip_unassociated` (elastic_ip): not associated, or its instance is not running — Trusted
  Advisor check Z4AUBRNSmz;
* `lb_idle` (load_balancer): no registered targets (`properties.registered_targets` = 0), or
  fewer than 100 requests on every one of the last 7 days — Trusted Advisor check hjLMh88uM8;
* `rds_idle` (rds_instance): no DB connection on any of the last 7 days — Trusted Advisor check
  Ti39halfu8;
* `k8s_idle` (k8s_deployment, k8s_statefulset): CPU usage ≤ 5% of the request (daily maxima)
  and no requests served, on each of the last 7 days — this project's rule;
* `ebs_of_stopped_instance` (ebs_volume): attached to a stopped instance, still billed — EC2
  User Guide.

"No activity for N days" rules need samples on `min_coverage_percent` of the N days, so a gap in
collection is not mistaken for idleness. Savings: the resource's billed run rate (stopping saves
all of it); list prices only when the bills lack the resource.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from tools.optimize.common import (
    NETWORK_METRICS,
    Inputs,
    days_back,
    full_saving,
    make_finding,
    quiet_days,
    window_text,
)
from tools.optimize.kubernetes import SOURCES as K8S_SOURCES
from tools.optimize.kubernetes import k8s_idle
from tools.optimize.models import Evidence, Finding
from warehouse.inventory.models import Resource

__all__ = ["IDLE_RULES", "SOURCES", "idle_findings"]

SOURCES = {
    "k8s_idle": K8S_SOURCES["k8s_idle"],
    "ec2_low_utilization": "AWS Trusted Advisor 'Low Utilization Amazon EC2 Instances' (check "
    "Qch7DwouX1): daily average CPU utilization 10% or less and network I/O 5 MB or less on at "
    "least 4 of the previous 14 days",
    "ebs_unattached": "AWS Trusted Advisor 'Underutilized Amazon EBS Volumes' (check DAvU99Dc4C): "
    "a volume is unattached or had less than 1 IOPS per day for the past 7 days",
    "eip_unassociated": "AWS Trusted Advisor 'Unassociated Elastic IP Addresses' (check "
    "Z4AUBRNSmz): an Elastic IP address not associated with a running EC2 instance",
    "lb_idle": "AWS Trusted Advisor 'Idle Load Balancers' (check hjLMh88uM8): no active back-end "
    "instances, or less than 100 requests per day for the last 7 days",
    "rds_idle": "AWS Trusted Advisor 'Amazon RDS Idle DB Instances' (check Ti39halfu8): no "
    "connection in the last 7 days",
    "ebs_of_stopped_instance": "Amazon EC2 User Guide, 'Stop and start Amazon EC2 instances': "
    "a stopped instance's attached EBS volumes are still charged",
}
EBS_GB_MONTH = {
    "gp3": Decimal("0.08"),
    "gp2": Decimal("0.10"),
    "io1": Decimal("0.125"),
    "io2": Decimal("0.125"),
    "st1": Decimal("0.045"),
    "sc1": Decimal("0.015"),
    "standard": Decimal("0.05"),
}
"""us-east-1 list prices per GB-month (snapshot), used only when the bills lack a volume."""
EIP_HOUR = Decimal("0.005")
"""AWS public IPv4 address charge per hour (since 2024-02-01), only when the bills lack it."""
LB_HOUR = {
    "application": Decimal("0.0225"),
    "network": Decimal("0.0225"),
    "classic": Decimal("0.025"),
}
"""us-east-1 hourly load balancer charge (LCUs excluded), only when the bills lack it."""
_MB = 1_000_000
_INSTANCE_IDS = ("instance_id", "attached_to", "attachment_instance_id")


def _running(r: Resource) -> bool:
    return (r.state or "running").lower() in ("running", "available", "active", "in-use")


def _instance_hourly(inp: Inputs, r: Resource) -> Decimal | None:
    shape = inp.prices.lookup(r.provider, r.instance_type, r.region)
    return shape.price if shape else None


def _low_days(inp: Inputs, r: Resource, until: date) -> tuple[list[date], int, float, float]:
    cfg = inp.cfg.idle
    cpu = inp.day_series(r, "cpu_percent")
    nets = [inp.day_series(r, m) for m in NETWORK_METRICS]
    low, seen, max_cpu, max_net = [], 0, 0.0, 0.0
    for day in days_back(until, cfg.lookback_days):
        if day not in cpu or not any(day in n for n in nets):
            continue
        seen += 1
        net = sum(n[day].total for n in nets if day in n)
        if cpu[day].mean <= cfg.cpu_percent and net <= cfg.network_mb_per_day * _MB:
            low.append(day)
            max_cpu, max_net = max(max_cpu, cpu[day].mean), max(max_net, net)
    return low, seen, max_cpu, max_net


def ec2_low_utilization(inp: Inputs, r: Resource) -> Finding | None:
    cfg = inp.cfg.idle
    if r.kind not in cfg.instance_kinds or not _running(r) or inp.util_until is None:
        return None
    low, seen, max_cpu, max_net = _low_days(inp, r, inp.util_until)
    if len(low) < cfg.min_low_days:
        return None
    window = window_text(inp.util_until, cfg.lookback_days)
    evidence = [
        Evidence(
            metric="cpu_percent",
            statistic="daily mean, highest of the low days",
            window=window,
            value=round(max_cpu, 3),
            unit="%",
            threshold=f"≤ {cfg.cpu_percent:g}%",
        ),
        Evidence(
            metric="network_in_bytes + network_out_bytes",
            statistic="daily total, highest of the low days",
            window=window,
            value=round(max_net / _MB, 3),
            unit="MB/day",
            threshold=f"≤ {cfg.network_mb_per_day:g} MB/day",
        ),
        Evidence(
            metric="low days",
            statistic="count",
            window=window,
            value=len(low),
            unit="days",
            threshold=f"≥ {cfg.min_low_days}",
            detail=f"{len(low)} of {seen} days with data: {', '.join(map(str, low))}",
        ),
    ]
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="ec2_low_utilization",
        source=SOURCES["ec2_low_utilization"],
        action="stop_instance",
        summary=f"stop {r.label} ({r.instance_type}): low CPU and network on {len(low)} of the "
        f"last {cfg.lookback_days} days",
        saving=full_saving(inp, r, _instance_hourly(inp, r), "stopping"),
        evidence=evidence,
    )


def _age_ok(inp: Inputs, r: Resource) -> bool:
    """Older than the grace period when it was last seen (launch time unknown: old enough)."""
    grace = inp.cfg.idle.unattached_min_age_days
    seen = r.collected_at.date() if r.collected_at else inp.util_until or inp.bills_until
    if not grace or r.launched_at is None or seen is None:
        return True
    return (seen - r.launched_at.date()).days >= grace


def _inventory_evidence(r: Resource, what: str, value: str) -> Evidence:
    seen = f"{r.collected_at:%Y-%m-%d %H:%M}" if r.collected_at else "last collection"
    return Evidence(metric=what, statistic="inventory", window=seen, detail=value)


def _ebs_hourly(r: Resource) -> Decimal | None:
    """A volume's list price per hour from its size and type (None when either is unknown)."""
    size = r.properties.get("size_gib")
    rate = EBS_GB_MONTH.get(str(r.properties.get("volume_type", "gp3")))
    return Decimal(str(size)) * rate / 730 if size and rate else None


def ebs_unattached(inp: Inputs, r: Resource) -> Finding | None:
    detached = r.attached is False or (r.state or "").lower() == "available"
    if r.kind != "ebs_volume" or not detached or not _age_ok(inp, r):
        return None
    size = r.properties.get("size_gib")
    hourly = _ebs_hourly(r)
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="ebs_unattached",
        source=SOURCES["ebs_unattached"],
        action="snapshot_and_delete_volume",
        summary=f"delete unattached volume {r.label} (snapshot first if its data matters)",
        saving=full_saving(inp, r, hourly, "deleting"),
        evidence=[_inventory_evidence(r, "attached", f"attached={r.attached}, state={r.state}")],
        current=f"{r.properties.get('volume_type', '?')} {size or '?'} GiB",
    )


def _instance_of(inp: Inputs, r: Resource) -> Resource | None:
    """The inventoried instance a volume or address is attached to (`properties.instance_id`,
    or `properties.attachments[].instance_id` as `finops collect aws` writes volumes)."""
    ids = [r.properties.get(key) for key in _INSTANCE_IDS]
    attachments = r.properties.get("attachments")
    if isinstance(attachments, list):
        ids += [a.get("instance_id") for a in attachments if isinstance(a, dict)]
    for value in ids:
        if value and str(value) in inp.by_id:
            return inp.by_id[str(value)]
    return None


def eip_unassociated(inp: Inputs, r: Resource) -> Finding | None:
    if r.kind != "elastic_ip" or not _age_ok(inp, r):
        return None
    if r.attached is False:
        why = "not associated"
    else:
        target = _instance_of(inp, r)
        if target is None or _running(target):
            return None
        why = f"its instance {target.label} is {target.state}"
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="eip_unassociated",
        source=SOURCES["eip_unassociated"],
        action="release_address",
        summary=f"release Elastic IP {r.label}: {why}",
        saving=full_saving(inp, r, EIP_HOUR, "releasing"),
        evidence=[_inventory_evidence(r, "association", why)],
    )


def lb_idle(inp: Inputs, r: Resource) -> Finding | None:
    cfg = inp.cfg.idle
    if r.kind != "load_balancer" or inp.util_until is None:
        return None
    targets = r.properties.get("registered_targets", r.properties.get("target_count"))
    limit = cfg.lb_max_requests_per_day
    quiet, seen, worst = quiet_days(
        inp, r, "request_count", cfg.lb_days, lambda v: v < limit, peak=False
    )
    if targets != 0 and not quiet:
        return None
    window = window_text(inp.util_until, cfg.lb_days)
    evidence = [
        Evidence(
            metric="request_count",
            statistic="daily total, highest day",
            window=window,
            value=worst,
            unit="requests/day",
            threshold=f"< {limit:g} every day",
            detail=f"{seen} days with data",
        )
    ]
    if targets == 0:
        evidence.append(_inventory_evidence(r, "registered_targets", "no registered targets"))
    kind = str(r.properties.get("type", "application")).lower()
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="lb_idle",
        source=SOURCES["lb_idle"],
        action="delete_load_balancer",
        summary=f"delete idle load balancer {r.label}: "
        + ("no registered targets" if targets == 0 else f"< {limit:g} requests/day"),
        saving=full_saving(inp, r, LB_HOUR.get(kind), "deleting"),
        evidence=evidence,
    )


def rds_idle(inp: Inputs, r: Resource) -> Finding | None:
    cfg = inp.cfg.idle
    if r.kind != "rds_instance" or not _running(r) or inp.util_until is None:
        return None
    quiet, seen, worst = quiet_days(
        inp, r, "db_connections", cfg.rds_days, lambda v: v <= 0, peak=True
    )
    if not quiet:
        return None
    window = window_text(inp.util_until, cfg.rds_days)
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="rds_idle",
        source=SOURCES["rds_idle"],
        action="stop_db_instance",
        summary=f"stop or delete {r.label} ({r.instance_type}): no connection in "
        f"{cfg.rds_days} days (snapshot first)",
        saving=full_saving(inp, r, None, "stopping"),
        evidence=[
            Evidence(
                metric="db_connections",
                statistic="daily maximum",
                window=window,
                value=worst,
                unit="connections",
                threshold="0 every day",
                detail=f"{seen} days with data",
            )
        ],
    )


def ebs_of_stopped_instance(inp: Inputs, r: Resource) -> Finding | None:
    if r.kind != "ebs_volume" or r.attached is False:
        return None
    target = _instance_of(inp, r)
    if target is None or (target.state or "").lower() != "stopped":
        return None
    hourly = _ebs_hourly(r)
    return make_finding(
        inp,
        r,
        kind="idle",
        rule="ebs_of_stopped_instance",
        source=SOURCES["ebs_of_stopped_instance"],
        action="snapshot_and_delete_volume",
        summary=f"volume {r.label} of stopped instance {target.label} is still billed: "
        "snapshot and delete it, or terminate the instance",
        saving=full_saving(inp, r, hourly, "deleting"),
        evidence=[_inventory_evidence(target, "instance state", f"{target.label} is stopped")],
    )


IDLE_RULES: tuple[Callable[[Inputs, Resource], Finding | None], ...] = (
    ec2_low_utilization,
    ebs_unattached,
    eip_unassociated,
    lb_idle,
    rds_idle,
    k8s_idle,
    ebs_of_stopped_instance,
)


def idle_findings(inp: Inputs, r: Resource) -> list[Finding]:
    """Every idle rule's finding for one resource (a resource may match more than one)."""
    return [f for rule in IDLE_RULES if (f := rule(inp, r)) is not None]
