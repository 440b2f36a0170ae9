"""`finops collect aws`: inventory and CloudWatch utilization through boto3, against moto's server
behind a small proxy double (throttling, access denied, GetMetricData pages) on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from agent.cli import collect as cli_collect
from agent.cli.main import app as cli_app
from tests.doubles.aws_proxy import AwsProxy
from tests.helpers.cli import run_cli
from tests.helpers.vtags import Row, add_rows
from warehouse.cloud import CloudSettings
from warehouse.db import connect
from warehouse.inventory.aws import collect_aws
from warehouse.inventory.aws_calls import AwsCaller
from warehouse.inventory.aws_metrics import merge_pages
from warehouse.inventory.config import AwsCollectConfig, CollectConfig
from warehouse.inventory.models import CollectError, CollectResult

ACCOUNT = "123456789012"  # moto's default account
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
"""The collection time: metrics are planted in the hours before it."""
HOURS = [NOW - timedelta(hours=h) for h in (3, 2, 1)]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def proxy(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsProxy]:
    """A fresh proxy in front of moto; the environment has test credentials only."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with AwsProxy(moto_server) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        yield p


@dataclass
class World:
    web: str
    others: list[str]
    attached_volume: str
    orphan_volume: str
    eip_used: str
    eip_idle: str
    db_arn: str
    alb_arn: str
    nlb_arn: str


def _client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _metric(namespace: str, name: str, dims: dict[str, str], values: list[float]) -> Any:
    return {
        "Namespace": namespace,
        "MetricData": [
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": ts + timedelta(minutes=5),
                "Value": value,
            }
            for ts, value in zip(HOURS, values, strict=True)
        ],
    }


def seed(endpoint: str) -> World:
    """12 instances (one reservation each, so small pages paginate), attached and unattached
    volumes, a used and an idle Elastic IP, an RDS instance, an ALB with a target and an empty
    NLB, and three hours of CloudWatch data."""
    ec2, rds, elb, cw = (_client(endpoint, s) for s in ("ec2", "rds", "elbv2", "cloudwatch"))
    ids = []
    for n in range(12):
        spec = [{"ResourceType": "instance", "Tags": _tags(Name=f"web-{n}", team="payments")}]
        run = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m5.large",
            TagSpecifications=spec,
        )  # fmt: skip
        ids.append(run["Instances"][0]["InstanceId"])
    web = ids[0]
    attached = ec2.create_volume(Size=50, AvailabilityZone="us-east-1a", VolumeType="gp3")
    ec2.attach_volume(VolumeId=attached["VolumeId"], InstanceId=web, Device="/dev/sdf")
    orphan = ec2.create_volume(
        Size=100, AvailabilityZone="us-east-1a",
        TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(Name="orphan")}],
    )  # fmt: skip
    used = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=used["AllocationId"], InstanceId=web)
    idle = ec2.allocate_address(Domain="vpc")
    db = rds.create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin1", MasterUserPassword="password123", AllocatedStorage=20,
        Tags=_tags(team="data"),
    )["DBInstance"]  # fmt: skip
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    alb = elb.create_load_balancer(Name="web-alb", Subnets=subnets, Tags=_tags(team="web"))
    alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(
        LoadBalancerArn=alb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )  # fmt: skip
    elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": web}])
    nlb = elb.create_load_balancer(Name="net-lb", Subnets=subnets, Type="network")
    lb_dim = alb_arn.split(":loadbalancer/")[1]
    for doc in (
        _metric("AWS/EC2", "CPUUtilization", {"InstanceId": web}, [10, 20, 30]),
        _metric("AWS/EC2", "CPUUtilization", {"InstanceId": ids[1]}, [1, 1, 2]),
        _metric("AWS/EC2", "NetworkIn", {"InstanceId": web}, [1e6, 2e6, 3e6]),
        _metric("AWS/EC2", "NetworkOut", {"InstanceId": web}, [4e6, 5e6, 6e6]),
        _metric(
            "CWAgent", "mem_used_percent", {"InstanceId": web, "InstanceType": "m5.large"},
            [40, 50, 60],
        ),
        _metric("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "orders-db"}, [5, 6, 7]),
        _metric("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": "orders-db"}, [3, 4, 5]),
        _metric("AWS/ApplicationELB", "RequestCount", {"LoadBalancer": lb_dim}, [100, 0, 50]),
    ):  # fmt: skip
        cw.put_metric_data(**doc)
    return World(
        web, ids[1:], attached["VolumeId"], orphan["VolumeId"], used["AllocationId"],
        idle["AllocationId"], db["DBInstanceArn"], alb_arn,
        nlb["LoadBalancers"][0]["LoadBalancerArn"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(moto_server: str) -> World:
    """Seeded once for the module (moto reset first); tests that change resources change only
    ones they create, and put them back."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    return seed(moto_server)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


TEST_CONFIG = AwsCollectConfig(regions=["us-east-1"], max_attempts=1, page_size=5, lookback_days=1)
"""botocore never retries (its backoff would really sleep): throttling goes to the collector's
own backoff, whose sleep is injected. One day back: moto computes every period of the window."""


def collect(
    con: duckdb.DuckDBPyConnection,
    proxy: AwsProxy,
    sleeps: list[float] | None = None,
    config: AwsCollectConfig = TEST_CONFIG,
    **kw: Any,
) -> CollectResult:
    recorded = sleeps if sleeps is not None else []
    kw.setdefault("metric_batch", 4)
    return collect_aws(
        con, config, CloudSettings(aws_endpoint_url=proxy.url), now=NOW,
        sleep=recorded.append, jitter=lambda: 1.0, **kw,
    )  # fmt: skip


def resources(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    cur = con.execute("SELECT * FROM resources ORDER BY resource_id")
    names = [d[0] for d in cur.description]
    out = {}
    for row in cur.fetchall():
        r = dict(zip(names, row, strict=True))
        r["tags"], r["properties"] = json.loads(r["tags"]), json.loads(r["properties"])
        out[r["resource_id"]] = r
    return out


def series(con: duckdb.DuckDBPyConnection, rid: str, metric: str) -> list[tuple[datetime, float]]:
    return [
        (ts, value)
        for ts, value in con.execute(
            "SELECT ts, value FROM utilization WHERE resource_id = ? AND metric = ? ORDER BY ts",
            [rid, metric],
        ).fetchall()
    ]


def hours(values: list[float]) -> list[tuple[datetime, float]]:
    return [(ts.replace(tzinfo=None), float(v)) for ts, v in zip(HOURS, values, strict=True)]


def table_rows(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    return (
        con.execute(
            "SELECT list(resource_id ORDER BY resource_id), list(state ORDER BY resource_id) "
            "FROM resources"
        ).fetchone(),
        con.execute(
            "SELECT count(*), sum(value) FROM utilization",
        ).fetchone(),
    )


# -- inventory and utilization -------------------------------------------------------------------


def test_collects_every_kind_with_the_ids_the_bills_use(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World
) -> None:
    progress: list[str] = []
    result = collect(con, proxy, on_progress=progress.append)
    w = world
    assert result.resources == {
        "ebs_volume": 14,  # 12 root volumes, one attached and one orphan
        "ec2_instance": 12,
        "elastic_ip": 2,
        "load_balancer": 2,
        "rds_instance": 1,
    }
    assert result.scopes == [{"account_id": ACCOUNT, "region": "us-east-1"}]
    rows = resources(con)
    web = rows[w.web]
    assert (web["kind"], web["provider"], web["region"], web["account_id"]) == (
        "ec2_instance", "aws", "us-east-1", ACCOUNT,
    )  # fmt: skip
    assert (web["name"], web["state"], web["instance_type"]) == ("web-0", "running", "m5.large")
    assert web["tags"] == {"Name": "web-0", "team": "payments"}
    assert web["source"] == "ec2:DescribeInstances" and web["launched_at"] is not None
    assert w.attached_volume in web["properties"]["volumes"]
    assert web["collected_at"] == NOW.replace(tzinfo=None)
    vol, orphan = rows[w.attached_volume], rows[w.orphan_volume]
    assert (vol["attached"], vol["state"], vol["properties"]["volume_type"]) == (
        True, "in-use", "gp3",
    )  # fmt: skip
    assert vol["properties"]["attachments"][0]["instance_id"] == w.web
    assert (orphan["attached"], orphan["state"], orphan["name"]) == (False, "available", "orphan")
    assert orphan["properties"]["size_gib"] == 100
    used, idle = rows[w.eip_used], rows[w.eip_idle]
    assert (used["attached"], used["state"], used["properties"]["instance_id"]) == (
        True, "associated", w.web,
    )  # fmt: skip
    assert (idle["attached"], idle["state"]) == (False, "unassociated")
    assert "public_ip" in idle["properties"]
    assert w.db_arn == f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db"
    db = rows[w.db_arn]
    assert (db["kind"], db["name"], db["instance_type"], db["tags"]) == (
        "rds_instance", "orders-db", "db.t3.micro", {"team": "data"},
    )  # fmt: skip
    assert db["properties"]["engine"] == "postgres"
    alb, nlb = rows[w.alb_arn], rows[w.nlb_arn]
    assert (alb["kind"], alb["name"], alb["attached"], alb["tags"]) == (
        "load_balancer", "web-alb", True, {"team": "web"},
    )  # fmt: skip
    assert alb["properties"]["registered_targets"] == 1
    assert (nlb["attached"], nlb["properties"]["type"]) == (False, "network")
    assert any(line.startswith("us-east-1: EBS volumes") for line in progress)
    assert any("CloudWatch batch" in line for line in progress)


def test_utilization_is_hourly_per_metric_with_units(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World
) -> None:
    w = world
    result = collect(con, proxy, config=TEST_CONFIG.model_copy(update={"lookback_days": 14}))
    assert series(con, w.web, "cpu_percent") == hours([10, 20, 30])
    assert series(con, w.others[0], "cpu_percent") == hours([1, 1, 2])
    assert series(con, w.web, "network_in_bytes") == hours([1e6, 2e6, 3e6])
    assert series(con, w.web, "network_out_bytes") == hours([4e6, 5e6, 6e6])
    assert series(con, w.web, "memory_percent") == hours([40, 50, 60])
    assert series(con, w.others[0], "memory_percent") == []  # no CloudWatch agent there
    assert series(con, w.db_arn, "cpu_percent") == hours([5, 6, 7])
    assert series(con, w.db_arn, "db_connections") == hours([3, 4, 5])
    assert series(con, w.alb_arn, "request_count") == hours([100, 0, 50])
    units = dict(con.execute("SELECT DISTINCT metric, unit FROM utilization").fetchall())
    assert units == {
        "cpu_percent": "Percent",
        "network_in_bytes": "Bytes",
        "network_out_bytes": "Bytes",
        "memory_percent": "Percent",
        "db_connections": "Count",
        "request_count": "Count",
    }
    assert con.execute("SELECT DISTINCT source FROM utilization").fetchall() == [("cloudwatch",)]
    assert result.samples["cpu_percent"] == 9
    assert result.window == {
        "start": (NOW - timedelta(days=14)).replace(tzinfo=None),
        "end": NOW.replace(tzinfo=None),
    }


def test_listings_and_metric_data_are_paginated_and_batched(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World
) -> None:
    proxy.page_metric_data(2)  # CloudWatch hands out 2 datapoints a page, with NextToken
    collect(con, proxy, metric_batch=4)
    # 12 reservations at 5 a page; MaxResults was sent on every DescribeInstances call.
    assert proxy.count("DescribeInstances") == 3
    pages = [c for c in proxy.calls if c.operation == "GetMetricData"]
    first_calls = [c for c in pages if "NextToken" not in c.params]
    # 12×3 EC2 + 1 memory + 2 RDS + 1 ALB request count = 40 queries, 4 per call (moto names
    # its NLBs `…/app/…` too, which makes it look like an ALB: one query more).
    queries = 40 + (":loadbalancer/app/" in world.nlb_arn)
    assert len(first_calls) == -(-queries // 4)
    assert all(len(c.params["MetricDataQueries"]) <= 4 for c in first_calls)
    assert any("NextToken" in c.params for c in pages)
    assert series(con, world.web, "cpu_percent") == hours([10, 20, 30])
    assert series(con, world.alb_arn, "request_count") == hours([100, 0, 50])


def test_merge_pages_joins_partial_results_by_id() -> None:
    t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(3)]
    pages: list[dict[str, Any]] = [
        {"MetricDataResults": [{"Id": "q0", "Timestamps": t[:2], "Values": [1.0, 2.0]}]},
        {
            "MetricDataResults": [
                {"Id": "q0", "Timestamps": t[2:], "Values": [3.0]},
                {"Id": "q1", "Timestamps": t[:1], "Values": [9.0], "Messages": []},
            ],
            "Messages": [{"Code": "MaxQueryTimeRangeExceed", "Value": "trimmed"}],
        },
    ]
    merged, messages = merge_pages(pages)
    naive = [x.replace(tzinfo=None) for x in t]
    assert merged == {"q0": list(zip(naive, [1.0, 2.0, 3.0], strict=True)), "q1": [(naive[0], 9.0)]}
    assert messages == ["MaxQueryTimeRangeExceed: trimmed"]


# -- throttling ---------------------------------------------------------------------------------


def test_throttled_calls_back_off_with_the_injected_sleep_and_resume_pages(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World
) -> None:
    proxy.throttle("DescribeInstances", times=1, after=1)  # the second page
    proxy.throttle("DescribeVolumes", times=2)
    proxy.throttle("DescribeAddresses", times=1)  # not paginated: a plain call
    proxy.throttle("DescribeDBInstances", times=1)  # query protocol
    proxy.throttle("DescribeLoadBalancers", times=1)
    proxy.throttle("GetMetricData", times=1, after=2)  # JSON protocol, mid-way
    sleeps: list[float] = []
    result = collect(con, proxy, sleeps)
    assert sleeps == [1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0]  # 1 s · 2^attempt, per call
    assert result.retries == 7
    assert [c.answered for c in proxy.calls if c.operation == "DescribeInstances"] == [
        "forwarded", "error", "forwarded", "forwarded",
    ]  # fmt: skip
    assert result.resources["ec2_instance"] == 12
    assert series(con, world.web, "cpu_percent") == hours([10, 20, 30])

    other = connect(":memory:")
    proxy.reset()
    collect(other, proxy)
    assert table_rows(other) == table_rows(con)
    other.close()


def test_still_throttled_after_the_retries_fails_and_changes_nothing(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World
) -> None:
    collect(con, proxy)
    before = table_rows(con)
    proxy.throttle("DescribeVolumes", times=10)
    sleeps: list[float] = []
    config = TEST_CONFIG.model_copy(update={"throttle_retries": 3})
    with pytest.raises(CollectError) as info:
        collect(con, proxy, sleeps, config=config)
    assert str(info.value).startswith(
        "ec2:DescribeVolumes in us-east-1 still throttled after 3 backoff retries"
    )
    assert sleeps == [1.0, 2.0, 4.0]
    assert table_rows(con) == before


def test_backoff_is_capped_and_jittered() -> None:
    slept: list[float] = []
    caller = AwsCaller(sleep=slept.append, max_delay=5.0, jitter=lambda: 0.5)
    for attempt in range(5):
        caller._backoff(attempt)
    assert slept == [0.5, 1.0, 2.0, 2.5, 2.5]


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "permission"),
    [
        ("DescribeVolumes", "ec2:DescribeVolumes"),
        ("DescribeDBInstances", "rds:DescribeDBInstances"),
        ("DescribeTags", "elasticloadbalancing:DescribeTags"),
        ("GetMetricData", "cloudwatch:GetMetricData"),
    ],
)
def test_access_denied_names_the_missing_permission(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World, operation: str, permission: str
) -> None:
    proxy.deny(operation)
    with pytest.raises(CollectError) as info:
        collect(con, proxy)
    message = str(info.value)
    assert message.startswith("access denied: ")
    assert f"needs the IAM permission {permission}" in message
    assert con.execute("SELECT count(*) FROM resources").fetchone() == (0,)


def test_no_credentials_is_a_clear_error(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(CollectError, match=r"^no AWS credentials found"):
        collect(con, proxy)


def test_unreachable_endpoint_is_a_clear_error(con: duckdb.DuckDBPyConnection) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = CloudSettings(aws_endpoint_url=f"http://127.0.0.1:{port}")
    session = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s")
    with pytest.raises(CollectError) as info:
        collect_aws(con, TEST_CONFIG, settings, now=NOW, session=session, sleep=lambda _s: None)
    assert str(info.value).startswith(f"cannot reach the AWS endpoint http://127.0.0.1:{port}")
    assert "sts:GetCallerIdentity in us-east-1" in str(info.value)


# -- re-collecting ------------------------------------------------------------------------------


def test_recollecting_replaces_the_snapshot_and_upserts_utilization(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World, moto_server: str
) -> None:
    first = collect(con, proxy)
    snapshot = table_rows(con)
    again = collect(con, proxy)
    assert table_rows(con) == snapshot
    assert (again.resources, again.samples, again.removed) == (
        first.resources, first.samples, 0,
    )  # fmt: skip
    ec2 = _client(moto_server, "ec2")
    extra_volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    extra_eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.create_tags(Resources=[world.others[0]], Tags=_tags(team="search"))
    try:
        assert collect(con, proxy).resources["ebs_volume"] == first.resources["ebs_volume"] + 1
        assert resources(con)[world.others[0]]["tags"]["team"] == "search"
    finally:
        ec2.delete_volume(VolumeId=extra_volume)
        ec2.release_address(AllocationId=extra_eip)
        ec2.create_tags(Resources=[world.others[0]], Tags=_tags(team="payments"))
    last = collect(con, proxy)
    rows = resources(con)
    assert last.removed == 2
    assert extra_volume not in rows and extra_eip not in rows
    assert table_rows(con) == snapshot
    count = con.execute("SELECT count(*) FROM utilization").fetchone()
    assert count == (sum(first.samples.values()),)  # no duplicate periods


def test_a_region_replaces_only_its_own_snapshot(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World, moto_server: str
) -> None:
    ec2_eu = _client(moto_server, "ec2", "eu-west-1")
    eu = ec2_eu.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    eu_id = eu["Instances"][0]["InstanceId"]
    both = TEST_CONFIG.model_copy(update={"regions": ["us-east-1", "eu-west-1"]})
    result = collect(con, proxy, config=both)
    assert [s["region"] for s in result.scopes] == ["us-east-1", "eu-west-1"]
    assert resources(con)[eu_id]["region"] == "eu-west-1"
    ec2_eu.terminate_instances(InstanceIds=[eu_id])
    us_before = con.execute("SELECT count(*) FROM resources WHERE region = 'us-east-1'").fetchone()
    collect(con, proxy, regions=["eu-west-1"])
    assert resources(con)[eu_id]["state"] in ("shutting-down", "terminated")
    us_after = con.execute("SELECT count(*) FROM resources WHERE region = 'us-east-1'").fetchone()
    assert us_after == us_before


def test_resources_join_costs_on_resource_id(
    con: duckdb.DuckDBPyConnection, proxy: AwsProxy, world: World
) -> None:
    add_rows(
        con,
        [
            Row(cost="70", ResourceId=world.web, SubAccountId=ACCOUNT),
            Row(cost="9", ResourceId=world.orphan_volume, SubAccountId=ACCOUNT),
            Row(cost="30", ResourceId=world.db_arn, SubAccountId=ACCOUNT,
                ServiceName="Amazon Relational Database Service"),
            Row(cost="16", ResourceId=world.alb_arn, SubAccountId=ACCOUNT,
                ServiceName="Elastic Load Balancing"),
            Row(cost="3.6", ResourceId=world.eip_idle, SubAccountId=ACCOUNT),
        ],
    )  # fmt: skip
    collect(con, proxy)
    joined = con.execute(
        "SELECT r.kind, sum(c.BilledCost)::VARCHAR FROM costs c "
        "JOIN resources r ON r.resource_id = c.ResourceId GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(k, float(v)) for k, v in joined] == [
        ("ebs_volume", 9.0), ("ec2_instance", 70.0), ("elastic_ip", 3.6),
        ("load_balancer", 16.0), ("rds_instance", 30.0),
    ]  # fmt: skip


# -- config and CLI -----------------------------------------------------------------------------


def test_config_is_strict_with_defaults() -> None:
    default = CollectConfig()
    assert (default.aws.lookback_days, default.aws.metrics_period_seconds) == (14, 3600)
    assert default.kubernetes.prometheus_url is None and default.kubernetes.contexts == []
    parsed = CollectConfig.model_validate(
        {"aws": {"regions": ["EU-West-1", "eu-west-1"]}, "kubernetes": {"contexts": ["prod"]}}
    )
    assert parsed.aws.regions == ["eu-west-1"]
    assert parsed.kubernetes.contexts[0].context == "prod"
    for bad in (
        {"aws": {"regionz": ["us-east-1"]}},
        {"aws": {"regions": ["mars-1"]}},
        {"aws": {"metrics_period_seconds": 90}},
        {"kubernetes": {"contexts": [{"context": "in-cluster"}]}},
        {"kubernetes": {"prometheus_url": "prom:9090"}},
    ):
        with pytest.raises(ValueError):
            CollectConfig.model_validate(bad)


def _cli() -> None:
    if not any(g.name == "collect" for g in cli_app.registered_groups):
        cli_collect.register(cli_app)


def test_cli_prints_one_json_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, proxy: AwsProxy, world: World
) -> None:
    _cli()
    res = run_cli(capsys, "--home", str(tmp_path / "h"), "collect", "aws", "--region", "us-east-1",
                  "--json")  # fmt: skip
    assert res.code == 0, res.err
    doc = res.json()
    assert doc["provider"] == "aws" and doc["resources"]["ec2_instance"] == 12
    assert doc["scopes"] == [{"account_id": ACCOUNT, "region": "us-east-1"}]
    human = run_cli(capsys, "--home", str(tmp_path / "h"), "collect", "aws")
    assert human.code == 0 and "Collected 31 aws resources (123456789012/us-east-1)" in human.out


def test_cli_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, proxy: AwsProxy, world: World
) -> None:
    _cli()
    proxy.deny("DescribeInstances")
    res = run_cli(capsys, "--home", str(tmp_path / "h"), "collect", "aws", "--json")
    assert res.code == 1 and res.out == ""
    assert res.err.startswith("error: access denied: ec2:DescribeInstances in us-east-1 needs")
    bad = run_cli(capsys, "--home", str(tmp_path / "h"), "collect", "aws", "--region", "moon")
    assert bad.code == 1 and bad.err.startswith("error: --region: ")
