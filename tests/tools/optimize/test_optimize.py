"""Optimization findings: idle rules, rightsizing, Kubernetes requests, commitments, protection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from tests.helpers.optimize import (
    END,
    add_costs,
    add_resource,
    add_util,
    daily_bill,
    hourly,
    only,
    run,
)
from tests.helpers.vtags import allocate, config_of
from tools.optimize.config import OptimizeConfig, load_optimize_config, settings
from tools.optimize.prices import price_table
from warehouse.errors import ConfigError, QueryError

MB = 1_000_000
GIB = 2**30


def _ec2(
    con: duckdb.DuckDBPyConnection,
    rid: str,
    cpu: Sequence[float],
    net: Sequence[float] | None,
    *,
    instance_type: str = "m5.xlarge",
    bill: float | None = 4.608,
    tags: dict[str, str] | None = None,
) -> None:
    """An instance with one daily CPU mean and one daily network total per day (to END)."""
    add_resource(con, rid, instance_type=instance_type, tags=tags)
    add_util(con, rid, "cpu_percent", hourly(cpu))
    if net is not None:
        add_util(con, rid, "network_in_bytes", hourly([[n] + [0.0] * 23 for n in net]))
    if bill is not None:
        add_costs(con, daily_bill(rid, bill))


# -- idle: EC2 (Trusted Advisor Qch7DwouX1) --------------------------------------------------


def test_idle_instance_found_with_evidence_and_billed_saving(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _ec2(con, "i-idle", [2.0] * 14, [1 * MB] * 14)
    _ec2(con, "i-busy", [45.0] * 14, [800 * MB] * 14)
    found = only(run(con, kind="idle"), "ec2_low_utilization")
    assert set(found) == {"i-idle"}
    f = found["i-idle"]
    assert f.action == "stop_instance" and "Qch7DwouX1" in f.source
    assert f.saving.source == "bills"
    assert f.saving.monthly == Decimal("140.16")  # 4.608/day × 730 / 24
    low = next(e for e in f.evidence if e.metric == "low days")
    assert low.value == 14 and "14 of 14" in (low.detail or "")


def test_idle_exactly_at_thresholds_on_exactly_four_days(con: duckdb.DuckDBPyConnection) -> None:
    busy_cpu, busy_net = 40.0, 900 * MB
    _ec2(con, "i-edge", [busy_cpu] * 10 + [10.0] * 4, [busy_net] * 10 + [5 * MB] * 4)
    assert "i-edge" in only(run(con, kind="idle"), "ec2_low_utilization")


@pytest.mark.parametrize(
    ("cpu", "net", "low_days"),
    [(10.01, 5 * MB, 4), (10.0, 5 * MB + 1, 4), (10.0, 5 * MB, 3)],
    ids=["cpu-just-above", "network-just-above", "three-days"],
)
def test_not_idle_just_past_a_threshold(
    con: duckdb.DuckDBPyConnection, cpu: float, net: float, low_days: int
) -> None:
    busy = 14 - low_days
    _ec2(con, "i-near", [40.0] * busy + [cpu] * low_days, [900 * MB] * busy + [net] * low_days)
    assert only(run(con, kind="idle"), "ec2_low_utilization") == {}


def test_idle_counts_only_the_last_14_days(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-old", [1.0] * 6 + [40.0] * 14, [MB] * 6 + [900 * MB] * 14)
    assert only(run(con, kind="idle"), "ec2_low_utilization") == {}


def test_idle_needs_network_data(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-nonet", [1.0] * 14, None)
    assert only(run(con, kind="idle"), "ec2_low_utilization") == {}


def test_idle_rule_is_configurable(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-chatty", [1.0] * 14, [12 * MB] * 14)
    assert only(run(con, kind="idle"), "ec2_low_utilization") == {}
    cfg = load_optimize_config({"idle": {"network_mb_per_day": 20}})
    assert "i-chatty" in only(run(con, cfg, kind="idle"), "ec2_low_utilization")


def test_idle_instance_without_bills_uses_list_price(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-unbilled", [1.0] * 14, [MB] * 14, bill=None)
    f = only(run(con, kind="idle"), "ec2_low_utilization")["i-unbilled"]
    assert f.saving.source == "list_price" and f.monthly_cost is None
    assert f.saving.monthly == Decimal("140.16")  # m5.xlarge 0.192/h × 730


# -- idle: volumes, addresses, load balancers, databases, Kubernetes ----------------------------


def test_unattached_volumes(con: duckdb.DuckDBPyConnection) -> None:
    add_resource(con, "vol-free", "ebs_volume", attached=False, properties={"size_gib": 100})
    add_resource(con, "vol-avail", "ebs_volume", state="available")
    add_resource(con, "vol-used", "ebs_volume", attached=True, state="in-use")
    add_costs(con, daily_bill("vol-avail", "0.40"))
    found = only(run(con, kind="idle"), "ebs_unattached")
    assert set(found) == {"vol-free", "vol-avail"}
    assert found["vol-avail"].saving.source == "bills"
    assert found["vol-free"].saving.source == "list_price"
    assert found["vol-free"].saving.monthly == Decimal("8.00")  # 100 GiB gp3 × 0.08


def test_unattached_grace_period(con: duckdb.DuckDBPyConnection) -> None:
    new = datetime(END.year, END.month, END.day) - timedelta(days=2)
    add_resource(con, "vol-new", "ebs_volume", attached=False, launched_at=new)
    cfg = load_optimize_config({"idle": {"unattached_min_age_days": 7}})
    assert only(run(con, cfg, kind="idle"), "ebs_unattached") == {}
    assert "vol-new" in only(run(con, kind="idle"), "ebs_unattached")


def test_elastic_ips(con: duckdb.DuckDBPyConnection) -> None:
    add_resource(con, "i-run", instance_type="m5.large", state="running")
    add_resource(con, "i-stop", instance_type="m5.large", state="stopped")
    add_resource(con, "eip-free", "elastic_ip", attached=False)
    add_resource(con, "eip-stop", "elastic_ip", attached=True, properties={"instance_id": "i-stop"})
    add_resource(con, "eip-run", "elastic_ip", attached=True, properties={"instance_id": "i-run"})
    found = only(run(con, kind="idle"), "eip_unassociated")
    assert set(found) == {"eip-free", "eip-stop"}
    assert found["eip-free"].saving.monthly == Decimal("3.65")  # 0.005/h × 730, list price
    assert "stopped" in found["eip-stop"].summary


@pytest.mark.parametrize(
    ("requests", "days", "idle"),
    [(99.0, 7, True), (100.0, 7, False), (0.0, 5, False), (0.0, 6, True)],
    ids=["99-per-day", "exactly-100", "too-few-days", "enough-days"],
)
def test_idle_load_balancers(
    con: duckdb.DuckDBPyConnection, requests: float, days: int, idle: bool
) -> None:
    add_resource(con, "lb-1", "load_balancer", properties={"type": "application"})
    add_util(con, "lb-1", "request_count", hourly([[requests] + [0.0] * 23] * days))
    assert ("lb-1" in only(run(con, kind="idle"), "lb_idle")) is idle


def test_load_balancer_without_targets(con: duckdb.DuckDBPyConnection) -> None:
    add_resource(con, "lb-empty", "load_balancer", properties={"registered_targets": 0})
    add_util(con, "lb-empty", "request_count", hourly([5000.0] * 7))
    f = only(run(con, kind="idle"), "lb_idle")["lb-empty"]
    assert "no registered targets" in f.summary


@pytest.mark.parametrize(
    ("connections", "idle"),
    [([0.0] * 7, True), ([0.0] * 6 + [1.0], False), ([0.0] * 5, False)],
    ids=["none-for-7-days", "one-connection", "only-5-days-of-data"],
)
def test_idle_databases(
    con: duckdb.DuckDBPyConnection, connections: list[float], idle: bool
) -> None:
    add_resource(con, "db-1", "rds_instance", instance_type="db.m5.large", state="available")
    add_util(con, "db-1", "db_connections", hourly(connections))
    add_costs(con, daily_bill("db-1", "4.104", ServiceName="Amazon Relational Database Service"))
    found = only(run(con, kind="idle"), "rds_idle")
    assert ("db-1" in found) is idle
    if idle:
        assert found["db-1"].saving.source == "bills" and "Ti39halfu8" in found["db-1"].source


@pytest.mark.parametrize(
    ("usage", "served", "idle"),
    [
        (0.2, None, True),
        (0.4, None, True),
        (0.41, None, False),
        (0.1, 3.0, False),
        (0.1, 0.0, True),
    ],
    ids=["2.5pct", "exactly-5pct", "above-5pct", "serves-requests", "zero-requests"],
)
def test_idle_kubernetes_workloads(
    con: duckdb.DuckDBPyConnection, usage: float, served: float | None, idle: bool
) -> None:
    rid = "prod/search/deployment/ranker"
    add_resource(con, rid, "k8s_deployment", provider="kubernetes", region=None)
    add_util(con, rid, "cpu_request_cores", hourly([8.0] * 7), provider="kubernetes")
    add_util(con, rid, "cpu_usage_cores", hourly([usage] * 7), provider="kubernetes")
    if served is not None:
        add_util(con, rid, "request_count", hourly([served] * 7), provider="kubernetes")
    assert (rid in only(run(con, kind="idle"), "k8s_idle")) is idle


def test_volumes_of_stopped_instances(con: duckdb.DuckDBPyConnection) -> None:
    add_resource(con, "i-stopped", instance_type="m5.large", state="stopped")
    add_resource(con, "i-running", instance_type="m5.large", state="running")
    add_resource(con, "vol-a", "ebs_volume", attached=True, properties={"instance_id": "i-stopped"})
    add_resource(con, "vol-b", "ebs_volume", attached=True, properties={"instance_id": "i-running"})
    add_costs(con, daily_bill("vol-a", "1.00", ServiceName="Amazon Elastic Block Store"))
    found = only(run(con, kind="idle"), "ebs_of_stopped_instance")
    assert set(found) == {"vol-a"}
    assert found["vol-a"].saving.monthly == Decimal("30.42")


# -- rightsizing -------------------------------------------------------------------------------


def _sized(
    con: duckdb.DuckDBPyConnection,
    rid: str,
    instance_type: str,
    cpu: np.ndarray,
    memory: np.ndarray | None,
    *,
    bill: float | None = None,
    region: str = "us-east-1",
) -> None:
    add_resource(con, rid, instance_type=instance_type, region=region)
    start = datetime(END.year, END.month, END.day) - timedelta(hours=len(cpu) - 24)
    add_util(con, rid, "cpu_percent", cpu, start=start)
    add_util(con, rid, "network_in_bytes", np.full(len(cpu), 5e8), start=start)
    if memory is not None:
        add_util(con, rid, "memory_percent", memory, start=start)
    if bill is not None:
        add_costs(con, daily_bill(rid, bill))


def _profile(level: float, spread: float, hours: int = 14 * 24, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + rng.normal(0, spread, hours), 0.1, 100)


def test_rightsize_fits_peak_with_headroom_and_is_cheapest(con: duckdb.DuckDBPyConnection) -> None:
    cpu, mem = _profile(15, 2), _profile(10, 1, seed=2)
    _sized(con, "i-big", "m5.4xlarge", cpu, mem, bill=18.432)
    f = only(run(con, kind="rightsize"), "instance_rightsize")["i-big"]
    current = price_table().lookup("aws", "m5.4xlarge", "us-east-1")
    assert current is not None
    shapes = {s.name: s for s in price_table().family(current)}
    need_cpu = np.percentile(cpu, 99.5) / 100 * 16 * 1.2
    need_mem = mem.max() / 100 * 64 * 1.2
    new = shapes[f.recommended or ""]
    assert new.vcpu >= need_cpu and new.memory_gib >= need_mem
    fitting = [s for s in shapes.values() if s.vcpu >= need_cpu and s.memory_gib >= need_mem]
    assert new.price == min(s.price for s in fitting)
    assert f.recommended == "m5.xlarge"
    assert f.details["vcpu_needed"] == pytest.approx(need_cpu)


def test_rightsize_respects_memory(con: duckdb.DuckDBPyConnection) -> None:
    _sized(con, "i-mem", "m5.4xlarge", _profile(15, 2), _profile(38, 1, seed=3), bill=18.432)
    f = only(run(con, kind="rightsize"), "instance_rightsize")["i-mem"]
    assert f.recommended == "m5.2xlarge"  # 8 vCPU fit CPU with room; memory needs > 16 GiB


def test_rightsize_never_same_or_bigger(con: duckdb.DuckDBPyConnection) -> None:
    _sized(con, "i-hot", "m5.xlarge", _profile(70, 5), _profile(50, 2), bill=4.608)
    _sized(con, "i-small", "r5.large", _profile(2, 0.5), _profile(5, 0.5), bill=3.024)
    assert only(run(con, kind="rightsize"), "instance_rightsize") == {}


def test_rightsize_picks_cheapest_not_next_size(con: duckdb.DuckDBPyConnection) -> None:
    cpu = _profile(15, 1.5)  # of 48 vCPU: ~8.6 with headroom → c5.4xlarge (16), not c5.9xlarge
    _sized(con, "i-c5", "c5.12xlarge", cpu, _profile(10, 1), bill=48.96)
    assert (
        only(run(con, kind="rightsize"), "instance_rightsize")["i-c5"].recommended == "c5.4xlarge"
    )


def test_rightsize_exact_fit_is_accepted(con: duckdb.DuckDBPyConnection) -> None:
    flat = np.full(14 * 24, 100 * 4 / 1.2 / 16)  # needs exactly 4 vCPU of 16 with 20% headroom
    _sized(con, "i-exact", "m5.4xlarge", flat, np.full(14 * 24, 10.0), bill=18.432)
    f = only(run(con, kind="rightsize"), "instance_rightsize")["i-exact"]
    assert f.recommended == "m5.xlarge"


def test_rightsize_burstable_baseline(con: duckdb.DuckDBPyConnection) -> None:
    _sized(con, "i-t3", "t3.xlarge", _profile(30, 1), _profile(10, 1), bill=3.9936)
    assert only(run(con, kind="rightsize"), "instance_rightsize") == {}  # t3.large baseline 30%


def test_rightsize_saving_from_bills_or_list(con: duckdb.DuckDBPyConnection) -> None:
    cpu, mem = _profile(15, 2), _profile(10, 1, seed=2)
    _sized(con, "i-billed", "m5.4xlarge", cpu, mem, bill=16.5888)  # 10% below list
    _sized(con, "i-unbilled", "m5.4xlarge", cpu, mem)
    found = only(run(con, kind="rightsize"), "instance_rightsize")
    billed, unbilled = found["i-billed"], found["i-unbilled"]
    assert billed.saving.source == "bills"
    assert billed.saving.monthly == Decimal("378.43")  # 504.58 run rate × (1 − 0.192/0.768)
    assert unbilled.saving.source == "list_price"
    assert unbilled.saving.monthly == Decimal("420.48")  # (0.768 − 0.192) × 730


def test_rightsize_without_memory_metric(con: duckdb.DuckDBPyConnection) -> None:
    _sized(con, "i-nomem", "m5.4xlarge", _profile(15, 2), None, bill=18.432)
    f = only(run(con, kind="rightsize"), "instance_rightsize")["i-nomem"]
    assert f.details["memory_known"] is False
    assert any(e.statistic == "not collected" for e in f.evidence)
    assert any("sized by CPU only" in n for n in run(con).notes)
    cfg = load_optimize_config({"rightsize": {"require_memory": True}})
    assert only(run(con, cfg, kind="rightsize"), "instance_rightsize") == {}


def test_rightsize_region_outside_table_uses_reference_ratio(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _sized(
        con, "i-ap", "m5.4xlarge", _profile(15, 2), _profile(10, 1), bill=20.0, region="ap-south-1"
    )
    f = only(run(con, kind="rightsize"), "instance_rightsize")["i-ap"]
    assert f.details["price_region"] == "us-east-1" and f.saving.source == "bills"


def test_idle_instance_is_not_also_rightsized(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-idle", [1.0] * 14, [MB] * 14, instance_type="m5.4xlarge", bill=18.432)
    add_util(con, "i-idle", "memory_percent", hourly([5.0] * 14))
    rules = [f.rule for f in run(con).findings if f.resource_id == "i-idle"]
    assert rules == ["ec2_low_utilization"]


# -- Kubernetes requests -----------------------------------------------------------------------


def _container(
    con: duckdb.DuckDBPyConnection,
    rid: str,
    cpu_req: float,
    cpu_use: np.ndarray,
    mem_req: float,
    mem_use: np.ndarray,
) -> None:
    add_resource(con, rid, "k8s_container", provider="kubernetes", region=None)
    start = datetime(END.year, END.month, END.day) - timedelta(hours=len(cpu_use) - 24)
    n = len(cpu_use)
    for metric, values in (
        ("cpu_request_cores", np.full(n, cpu_req)),
        ("cpu_usage_cores", cpu_use),
        ("memory_request_bytes", np.full(n, mem_req)),
        ("memory_usage_bytes", mem_use),
    ):
        add_util(con, rid, metric, values, provider="kubernetes", start=start)


def test_k8s_requests_from_usage_percentiles(con: duckdb.DuckDBPyConnection) -> None:
    cpu, mem = _profile(0.5, 0.05), _profile(1.0, 0.05) * GIB
    _container(con, "c/api", 2.0, cpu, 4 * GIB, mem)
    f = only(run(con, kind="rightsize"), "k8s_requests")["c/api"]
    assert f.details["recommended_cpu_cores"] == pytest.approx(np.percentile(cpu, 90) * 1.15)
    assert f.details["recommended_memory_bytes"] == pytest.approx(np.percentile(mem, 95) * 1.15)
    assert f.saving.source == "list_price"  # no bill rows for a container


def test_k8s_requests_floor_and_never_raise(con: duckdb.DuckDBPyConnection) -> None:
    tiny = np.full(14 * 24, 0.001)
    _container(con, "c/tiny", 1.0, tiny, 2 * GIB, tiny * GIB)
    _container(con, "c/hot", 1.0, np.full(14 * 24, 1.5), 2 * GIB, np.full(14 * 24, 3.0 * GIB))
    cfg = load_optimize_config({"kubernetes": {"min_monthly_saving": 0}})
    found = only(run(con, cfg, kind="rightsize"), "k8s_requests")
    assert set(found) == {"c/tiny"}
    assert found["c/tiny"].details["recommended_cpu_cores"] == pytest.approx(0.025)
    assert found["c/tiny"].details["recommended_memory_bytes"] == pytest.approx(250 * 2**20)


def test_k8s_request_saving_from_cpu_and_ram_bills(con: duckdb.DuckDBPyConnection) -> None:
    rid = "prod/web/deployment/bff"
    cpu = np.full(14 * 24, 1.0)
    _container(con, rid, 4.0, cpu, 8 * GIB, np.full(14 * 24, 8.0 * GIB))
    con.execute("UPDATE resources SET kind = 'k8s_deployment'")
    add_costs(con, daily_bill(rid, "3.00", SkuMeter="CPU", ProviderName="Kubernetes"))
    add_costs(con, daily_bill(rid, "1.00", SkuMeter="RAM", ProviderName="Kubernetes"))
    f = only(run(con, kind="rightsize"), "k8s_requests")[rid]
    cut = 1 - 1.15 / 4
    assert f.saving.source == "bills"
    assert float(f.saving.monthly or 0) == pytest.approx(3 * 730 / 24 * cut, abs=0.01)


def test_containers_sized_per_pod_times_replicas_from_workload_bill(
    con: duckdb.DuckDBPyConnection,
) -> None:
    wid, cid = "prod/pay/deployment/api", "prod/pay/deployment/api/app"
    hours = 14 * 24
    add_resource(
        con, wid, "k8s_deployment", provider="kubernetes", region=None, properties={"replicas": 3}
    )
    start = datetime(END.year, END.month, END.day) - timedelta(hours=hours - 24)
    for metric, value in (
        ("cpu_request_cores", 6.0),
        ("cpu_usage_cores", 1.5),
        ("memory_request_bytes", 12.0 * GIB),
        ("memory_usage_bytes", 3.0 * GIB),
    ):
        add_util(con, wid, metric, np.full(hours, value), provider="kubernetes", start=start)
    _container(con, cid, 2.0, np.full(hours, 0.5), 4 * GIB, np.full(hours, 1.0 * GIB))
    con.execute(
        "UPDATE resources SET properties = ? WHERE resource_id = ?",
        ['{"workload": "prod/pay/deployment/api", "replicas": 3}', cid],
    )
    add_costs(con, daily_bill(wid, "6.00", SkuMeter="CPU", ProviderName="Kubernetes"))
    add_costs(con, daily_bill(wid, "1.00", SkuMeter="RAM", ProviderName="Kubernetes"))
    found = only(run(con, kind="rightsize"), "k8s_requests")
    assert set(found) == {cid}  # the workload is not sized a second time
    f = found[cid]
    removed = (2.0 - 0.575) * 3 / 6.0  # cores removed over 3 pods / cores the bill covers
    assert f.saving.source == "bills" and "workload" in f.saving.basis
    assert float(f.saving.monthly or 0) == pytest.approx(7 * removed * 730 / 24, abs=0.01)


def test_volume_attachments_as_collected(con: duckdb.DuckDBPyConnection) -> None:
    add_resource(con, "i-stopped", instance_type="m5.large", state="stopped")
    attachments = [{"instance_id": "i-stopped", "device": "/dev/xvda", "state": "attached"}]
    add_resource(
        con,
        "vol-c",
        "ebs_volume",
        attached=True,
        properties={"attachments": attachments, "size_gib": 50},
    )
    assert "vol-c" in only(run(con, kind="idle"), "ebs_of_stopped_instance")


# -- commitments -------------------------------------------------------------------------------


def test_commitment_math_and_break_even(con: duckdb.DuckDBPyConnection) -> None:
    add_costs(con, daily_bill("i-steady", "240.00"))  # 10/h on-demand, every day
    f = only(run(con, kind="commitment"), "commitment_coverage")["Compute Savings Plan"]
    options = {o["term"]: o for o in f.details["options"]}
    assert f.details["baseline_per_hour"] == Decimal("10.00")
    assert options["1y"]["commitment_per_hour"] == Decimal("7.50")
    assert options["1y"]["monthly_saving"] == Decimal("1825.00")
    assert options["1y"]["break_even_months"] == 9.0
    assert options["3y"]["break_even_months"] == 19.8
    assert options["3y"]["monthly_saving"] == Decimal("3285.00")
    assert f.saving.monthly == Decimal("1825.00") and f.saving.source == "bills"


def test_commitment_baseline_is_low_percentile_of_hourly_spend(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rng = np.random.default_rng(4)
    per_hour = rng.uniform(5, 15, 30 * 24).round(4)
    first = datetime(END.year, END.month, END.day) - timedelta(days=29)
    add_costs(
        con,
        [
            {"start": first + timedelta(hours=i), "hours": 1, "cost": str(v), "ResourceId": "i-var"}
            for i, v in enumerate(per_hour)
        ],
    )
    f = only(run(con, kind="commitment"), "commitment_coverage")["Compute Savings Plan"]
    assert f.details["granularity"] == "hourly"
    expected = Decimal(f"{np.percentile(per_hour, 10):.6f}").quantize(Decimal("0.01"))
    assert f.details["baseline_per_hour"] == expected


def test_commitment_after_removing_waste_and_coverage(con: duckdb.DuckDBPyConnection) -> None:
    add_costs(con, daily_bill("i-steady", "240.00"))
    add_costs(
        con,
        daily_bill("sp-1", "48.00", CommitmentDiscountId="sp-1", CommitmentDiscountStatus="Used"),
    )
    _ec2(con, "i-idle", [1.0] * 14, [MB] * 14, bill=24.0)  # 1/h of idle EC2
    f = only(run(con, kind="commitment"), "commitment_coverage")["Compute Savings Plan"]
    assert f.details["measured_baseline_per_hour"] == Decimal("11.000000")
    assert f.details["waste_removed_per_hour"] == Decimal("1.00")
    assert f.details["baseline_per_hour"] == Decimal("10.00")
    assert f.details["coverage_percent"] == pytest.approx(48 / (48 + 264) * 100, abs=0.01)


@pytest.mark.parametrize(("used", "flagged"), [("70", True), ("90", False)])
def test_underused_commitments(con: duckdb.DuckDBPyConnection, used: str, flagged: bool) -> None:
    common: dict[str, Any] = {
        "CommitmentDiscountId": "arn:sp/1",
        "CommitmentDiscountCategory": "Spend",
        "CommitmentDiscountType": "Compute Savings Plan",
    }
    add_costs(con, daily_bill(None, used, CommitmentDiscountStatus="Used", **common))
    unused = str(100 - int(used))
    add_costs(con, daily_bill(None, unused, CommitmentDiscountStatus="Unused", **common))
    found = only(run(con, kind="commitment"), "commitment_underused")
    assert ("arn:sp/1" in found) is flagged
    if flagged:
        f = found["arn:sp/1"]
        assert f.evidence[0].value == 70.0
        assert f.saving.monthly == Decimal("912.50")  # 30/day unused × 730 / 24


# -- protection, owners, config, interfaces -----------------------------------------------------


def test_protected_resources_are_never_recommended(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-keep", [1.0] * 14, [MB] * 14, tags={"finops:protected": "TRUE"})
    _ec2(con, "i-billtag", [1.0] * 14, [MB] * 14, bill=None)
    add_costs(con, daily_bill("i-billtag", "4.608", tags={"finops:protected": "true"}))
    rid = "prod/ml/deployment/exp"
    add_resource(
        con, rid, "k8s_deployment", provider="kubernetes", tags={"finops/protected": "true"}
    )
    add_util(con, rid, "cpu_request_cores", hourly([4.0] * 7), provider="kubernetes")
    add_util(con, rid, "cpu_usage_cores", hourly([0.0] * 7), provider="kubernetes")
    _ec2(con, "i-free", [1.0] * 14, [MB] * 14)
    report = run(con)
    assert {f.resource_id for f in report.findings if f.resource_id} == {"i-free"}
    skipped = {s.resource_id: s for s in report.skipped_protected}
    assert set(skipped) == {"i-keep", "i-billtag", rid}
    assert skipped["i-keep"].rules == ["ec2_low_utilization"]
    assert "bill tag" in skipped["i-billtag"].reason


def test_owner_from_team_virtual_tag(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-owned", [1.0] * 14, [MB] * 14, bill=None)
    add_costs(con, daily_bill("i-owned", "4.608", tags={"squad": "Payments"}))
    _ec2(con, "i-orphan", [1.0] * 14, [MB] * 14)
    config = config_of({"team": {"sources": ["squad"], "default": "unallocated"}})
    allocate(con, config)
    owners = {f.resource_id: f.owner for f in run(con, config=config).findings}
    assert owners == {"i-owned": "payments", "i-orphan": None}


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'idle\.cpu_pct'.*cpu_percent"):
        load_optimize_config({"idle": {"cpu_pct": 5}})
    with pytest.raises(ConfigError, match=r"idle\.cpu_percent: .*less than or equal to 100"):
        load_optimize_config({"idle": {"cpu_percent": 150}})
    with pytest.raises(ConfigError, match=r"discount for 1y must be between 0 and 100"):
        load_optimize_config(
            {
                "commitments": {
                    "products": [
                        {
                            "name": "x",
                            "provider": "AWS",
                            "services": ["y"],
                            "discount_percent": {"1y": 0},
                        }
                    ]
                }
            }
        )
    with pytest.raises(ConfigError, match=r"rightsize\.cpu_headroom_percent"):
        load_optimize_config({"rightsize": {"cpu_headroom_percent": -1}})
    assert settings(object()) == OptimizeConfig()


def test_unknown_kind(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError, match="unknown kind 'waste'"):
        run(con, kind="waste")


def test_empty_warehouse_explains(con: duckdb.DuckDBPyConnection) -> None:
    report = run(con)
    assert report.findings == [] and any("finops collect" in n for n in report.notes)


def test_price_table_snapshot_is_consistent() -> None:
    table = price_table()
    assert len(table) > 200
    m5 = table.lookup("AWS", "m5.xlarge", "us-east-1")
    assert m5 is not None and (m5.vcpu, m5.memory_gib, m5.price) == (4, 16.0, Decimal("0.192"))
    for name, region in (("n2-standard-16", "europe-west1"), ("Standard_D8s_v5", "westeurope")):
        shape = table.lookup("gcp" if name.startswith("n2") else "Microsoft", name, region)
        assert shape is not None and shape.price > 0


def test_read_tool_and_cli(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from agent.cli import optimize as cli_optimize
    from agent.cli.main import app
    from tests.helpers.anomalies import make_ctx
    from tools.optimize.agent_tools import OptimizationArgs
    from tools.registry import REGISTRY

    _ec2(con, "i-idle", [1.0] * 14, [MB] * 14)
    tool = REGISTRY.get("optimization_findings")
    assert tool.effect == "read"
    body = tool.run(make_ctx(con, tmp_path), OptimizationArgs(kind="idle", top=1))
    assert body["findings_total"] == 1 and body["findings"][0]["resource_id"] == "i-idle"
    assert body["currency"] == "USD"
    json.dumps(body)
    con.close()
    if not any(c.name == "recommend" for c in app.registered_commands):
        cli_optimize.register(app)
    home = ["--home", str(tmp_path)]
    result = CliRunner().invoke(app, [*home, "recommend", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["findings"][0]["saving"]["monthly"] == "140.16"
    text = CliRunner().invoke(app, [*home, "recommend", "--kind", "idle"])
    assert "USD 140.16/month" in text.stdout and "Qch7DwouX1" in text.stdout
    bad = CliRunner().invoke(app, [*home, "recommend", "--kind", "nope"])
    assert bad.exit_code != 0


def test_dates_are_relative_to_the_data(con: duckdb.DuckDBPyConnection) -> None:
    _ec2(con, "i-idle", [1.0] * 14, [MB] * 14)
    report = run(con)
    assert report.utilization_until == END and report.bills_until == END
    assert report.bills_since == END - timedelta(days=29)
    assert isinstance(report.bills_since, date)
