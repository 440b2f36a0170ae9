"""`finops collect kubernetes`: workloads, requests and usage through the official client against
the API-server double (metrics.k8s.io included), and Prometheus through a query_range double."""

from __future__ import annotations

import itertools
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent.cli import collect as cli_collect
from agent.cli.main import app as cli_app
from tests.doubles.k8s import (
    K8sDouble,
    container,
    daemonset,
    deployment,
    pod_metrics,
    statefulset,
)
from tests.doubles.prometheus import PrometheusDouble
from tests.helpers.cli import run_cli
from tests.helpers.vtags import Row, add_rows
from warehouse.cloud import CloudSettings
from warehouse.db import connect
from warehouse.inventory.config import KubeContext, KubernetesCollectConfig
from warehouse.inventory.k8s import collect_kubernetes
from warehouse.inventory.k8s_usage import owner_matcher, quantity
from warehouse.inventory.models import CollectError, CollectResult

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SAMPLED = "2026-11-20T11:59:31Z"
"""metrics-server's sample time: it belongs to the period starting 11:00."""
MI, GI = 2**20, 2**30
CHECKOUT = "prod-eu/checkout/deployment/checkout-api"
KAFKA = "prod-eu/data/statefulset/kafka"
PROD_EU = KubeContext(context="prod-eu")


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[K8sDouble]:
    """Three deployments, a StatefulSet and a DaemonSet in cluster prod-eu, with pod metrics."""
    with K8sDouble(token="secret-token") as api:
        api.add(
            deployment(
                "checkout-api", "checkout", labels={"team": "payments"}, replicas=2, ready=2,
                containers=[
                    container("api", {"cpu": "500m", "memory": "512Mi"},
                              {"cpu": "1", "memory": "1Gi"}),
                    container("sidecar", {"cpu": "100m", "memory": "64Mi"}),
                ],
            )
        )  # fmt: skip
        api.add(
            statefulset(
                "kafka", "data", replicas=3, ready=3,
                containers=[container("broker", {"cpu": "2", "memory": "8Gi"})],
            )
        )  # fmt: skip
        api.add(deployment("idle-exp", "search", replicas=0, ready=0))
        api.add(deployment("web", "web", replicas=1, ready=0))
        api.add(daemonset("node-exporter", "monitoring"))
        for name, ns, usage in (
            ("checkout-api-7d9f8b6c5d-abcde", "checkout",
             {"api": ("250m", "300Mi"), "sidecar": ("10m", "20Mi")}),
            ("checkout-api-7d9f8b6c5d-fghij", "checkout",
             {"api": ("350m", "400Mi"), "sidecar": ("30m", "40Mi")}),
            ("kafka-0", "data", {"broker": ("1500m", "6Gi")}),
            ("kafka-1", "data", {"broker": ("500m", "4Gi")}),
            ("node-exporter-x7k2p", "monitoring", {"node-exporter": ("5m", "30Mi")}),
        ):  # fmt: skip
            api.add_pod_metrics(pod_metrics(name, ns, usage, timestamp=SAMPLED))
        path = api.write_kubeconfig(tmp_path / "kubeconfig", cluster="prod-eu")
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield api


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


def collect(
    con: duckdb.DuckDBPyConnection,
    config: KubernetesCollectConfig | None = None,
    sleeps: list[float] | None = None,
    **kw: Any,
) -> CollectResult:
    recorded = sleeps if sleeps is not None else []
    cfg = config or KubernetesCollectConfig(contexts=[PROD_EU], page_size=2)
    settings = CloudSettings(kubeconfig=kw.pop("kubeconfig", None) or _env_kubeconfig())
    return collect_kubernetes(
        con, cfg, settings, now=NOW, sleep=recorded.append, jitter=lambda: 1.0, **kw
    )


def _env_kubeconfig() -> str | None:
    return os.environ.get("KUBECONFIG")


def rows(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    cur = con.execute("SELECT * FROM resources ORDER BY resource_id")
    names = [d[0] for d in cur.description]
    out = {}
    for row in cur.fetchall():
        r = dict(zip(names, row, strict=True))
        r["tags"], r["properties"] = json.loads(r["tags"]), json.loads(r["properties"])
        out[r["resource_id"]] = r
    return out


def values(con: duckdb.DuckDBPyConnection, rid: str, metric: str) -> list[tuple[datetime, float]]:
    return [
        (ts, round(v, 6))
        for ts, v in con.execute(
            "SELECT ts, value FROM utilization WHERE resource_id = ? AND metric = ? ORDER BY ts",
            [rid, metric],
        ).fetchall()
    ]


def at(hour: int, value: float) -> tuple[datetime, float]:
    return datetime(2026, 11, 20, hour), round(value, 6)


# -- workloads and requests ---------------------------------------------------------------------


def test_workloads_and_containers_use_the_billed_resource_ids(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    progress: list[str] = []
    result = collect(con, on_progress=progress.append)
    assert result.resources == {"k8s_container": 5, "k8s_deployment": 3, "k8s_statefulset": 1}
    assert result.scopes == [{"account_id": "prod-eu", "region": None}]
    found = rows(con)
    assert set(found) == {
        CHECKOUT, f"{CHECKOUT}/api", f"{CHECKOUT}/sidecar", KAFKA, f"{KAFKA}/broker",
        "prod-eu/search/deployment/idle-exp", "prod-eu/search/deployment/idle-exp/idle-exp",
        "prod-eu/web/deployment/web", "prod-eu/web/deployment/web/web",
    }  # fmt: skip
    checkout = found[CHECKOUT]
    assert (checkout["kind"], checkout["provider"], checkout["account_id"], checkout["region"]) == (
        "k8s_deployment", "kubernetes", "prod-eu", None,
    )  # fmt: skip
    assert (checkout["name"], checkout["state"], checkout["tags"]) == (
        "checkout-api", "ready", {"team": "payments"},
    )  # fmt: skip
    assert checkout["properties"]["replicas"] == 2
    assert checkout["properties"]["containers"] == ["api", "sidecar"]
    assert checkout["launched_at"] == datetime(2026, 1, 1)
    api = found[f"{CHECKOUT}/api"]
    assert (api["kind"], api["name"]) == ("k8s_container", "api")
    assert api["properties"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert api["properties"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert api["properties"]["cpu_limit_cores"] == 1.0
    assert api["properties"]["workload"] == CHECKOUT
    assert found["prod-eu/search/deployment/idle-exp"]["state"] == "scaled_to_zero"
    assert found["prod-eu/web/deployment/web"]["state"] == "degraded"
    assert found[KAFKA]["kind"] == "k8s_statefulset"
    assert progress[:2] == ["prod-eu: deployments", "prod-eu: statefulsets"]
    lists = [r for r in kube.calls("GET") if r.path.endswith("/deployments")]
    assert [r.query.get("limit") for r in lists] == [["2"], ["2"]]
    assert "continue" in lists[1].query  # three deployments, two a page


def test_requests_per_pod_on_containers_and_in_total_on_workloads(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    collect(con)
    period = (datetime(2026, 11, 20, 12),)
    assert values(con, f"{CHECKOUT}/api", "cpu_request_cores") == [(*period, 0.5)]
    assert values(con, f"{CHECKOUT}/api", "memory_request_bytes") == [(*period, 512 * MI)]
    assert values(con, CHECKOUT, "cpu_request_cores") == [(*period, 1.2)]  # (0.5 + 0.1) × 2
    assert values(con, CHECKOUT, "memory_request_bytes") == [(*period, 2 * 576 * MI)]
    assert values(con, KAFKA, "cpu_request_cores") == [(*period, 6.0)]
    assert values(con, "prod-eu/web/deployment/web/web", "cpu_request_cores") == []
    sources = con.execute(
        "SELECT DISTINCT source FROM utilization WHERE metric LIKE '%request%'"
    ).fetchall()
    assert sources == [("kubernetes:spec",)]


# -- usage --------------------------------------------------------------------------------------


def test_metrics_api_usage_per_pod_and_per_workload(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    result = collect(con)
    assert values(con, f"{CHECKOUT}/api", "cpu_usage_cores") == [at(11, 0.3)]  # mean of 2 pods
    assert values(con, f"{CHECKOUT}/api", "memory_usage_bytes") == [at(11, 350 * MI)]
    assert values(con, CHECKOUT, "cpu_usage_cores") == [at(11, 0.64)]  # every pod and container
    assert values(con, CHECKOUT, "memory_usage_bytes") == [at(11, 760 * MI)]
    assert values(con, f"{KAFKA}/broker", "cpu_usage_cores") == [at(11, 1.0)]
    assert values(con, KAFKA, "memory_usage_bytes") == [at(11, 10 * GI)]
    assert con.execute(
        "SELECT count(*) FROM utilization WHERE resource_id LIKE '%node-exporter%'"
    ).fetchone() == (0,)
    units = dict(con.execute("SELECT DISTINCT metric, unit FROM utilization").fetchall())
    assert units == {
        "cpu_request_cores": "Cores",
        "cpu_usage_cores": "Cores",
        "memory_request_bytes": "Bytes",
        "memory_usage_bytes": "Bytes",
    }
    assert result.warnings == []
    assert any(r.path == "/apis/metrics.k8s.io/v1beta1/pods" for r in kube.requests)


def test_without_metrics_server_requests_are_collected_with_a_warning(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    kube.metrics_api = False
    result = collect(con)
    assert result.resources["k8s_deployment"] == 3
    assert "cpu_usage_cores" not in result.samples and result.samples["cpu_request_cores"] > 0
    assert result.warnings == [
        "prod-eu: metrics.k8s.io is not served (is metrics-server installed?); usage was not "
        "collected (set collect.kubernetes.prometheus_url for history)"
    ]


def _prometheus(prom: PrometheusDouble) -> None:
    """Three hours of evaluations for checkout-api (two pods of the current ReplicaSet, one of an
    older one), kafka-0, a DaemonSet pod and another cluster's pod of the same name."""
    ends = [datetime(2026, 11, 20, h, tzinfo=UTC) for h in (10, 11, 12)]
    pods: dict[tuple[str, str, str], list[float | None]] = {
        ("checkout", "checkout-api-7d9f8b6c5d-abcde", "api"): [0.2, 0.3, 0.4],
        ("checkout", "checkout-api-7d9f8b6c5d-fghij", "api"): [0.4, 0.5, 0.6],
        ("checkout", "checkout-api-5f6c7d8e9a-zzzzz", "api"): [0.9, None, None],
        ("data", "kafka-0", "broker"): [1.0, 1.5, 2.0],
        ("monitoring", "node-exporter-x7k2p", "node-exporter"): [0.01, 0.01, 0.01],
    }
    for (ns, pod, c), cpu in pods.items():
        labels = {"namespace": ns, "pod": pod, "container": c, "cluster": "prod-eu"}
        points = {t: v for t, v in zip(ends, cpu, strict=True) if v is not None}
        prom.add("container_cpu_usage_seconds_total", labels, points)
        memory = {t: v * GI for t, v in points.items()}
        prom.add("container_memory_working_set_bytes", labels, memory)
    other = {"namespace": "checkout", "pod": "checkout-api-7d9f8b6c5d-abcde", "container": "api",
             "cluster": "prod-us"}  # fmt: skip
    prom.add("container_cpu_usage_seconds_total", other, {ends[0]: 50.0})


def test_prometheus_usage_history_with_retries_and_cluster_label(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    with PrometheusDouble() as prom:
        _prometheus(prom)
        prom.fail(503, times=2)
        config = KubernetesCollectConfig(
            contexts=[PROD_EU], prometheus_url=prom.url, prometheus_cluster_label="cluster",
            lookback_days=1,
        )  # fmt: skip
        sleeps: list[float] = []
        result = collect(con, config, sleeps)
        queries = [r["query"] for r in prom.requests]
    assert sleeps == [1.0, 2.0] and result.retries == 2
    assert all('cluster="prod-eu"' in q for q in queries)
    assert any("rate(container_cpu_usage_seconds_total{" in q and "[3600s]" in q for q in queries)
    # Evaluations at 10:00, 11:00, 12:00 cover the hours starting 09:00, 10:00, 11:00.
    assert values(con, f"{CHECKOUT}/api", "cpu_usage_cores") == [
        at(9, (0.2 + 0.4 + 0.9) / 3), at(10, 0.4), at(11, 0.5),
    ]  # fmt: skip
    assert values(con, CHECKOUT, "cpu_usage_cores") == [at(9, 1.5), at(10, 0.8), at(11, 1.0)]
    assert values(con, KAFKA, "memory_usage_bytes") == [
        at(9, 1.0 * GI), at(10, 1.5 * GI), at(11, 2.0 * GI),
    ]  # fmt: skip
    sources = con.execute("SELECT DISTINCT source FROM utilization WHERE metric LIKE '%usage%'")
    assert sources.fetchall() == [("prometheus",)]
    assert result.warnings == []


def test_long_prometheus_windows_are_split_under_the_point_limit(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    with PrometheusDouble() as prom:
        _prometheus(prom)
        config = KubernetesCollectConfig(
            contexts=[PROD_EU], prometheus_url=prom.url, metrics_period_seconds=60,
            lookback_days=14,
        )  # fmt: skip
        collect(con, config)
        requests = list(prom.requests)
    spans = [(int(r["start"]), int(r["end"])) for r in requests]
    assert len(requests) == 6  # 20,160 one-minute points a query: 3 chunks each for CPU and memory
    assert all((end - start) // 60 + 1 <= 10_000 for start, end in spans)
    cpu = [s for r, s in zip(requests, spans, strict=True) if "cpu" in r["query"]]
    assert cpu[0][0] == int((NOW - timedelta(days=14, seconds=-60)).timestamp())
    assert cpu[-1][1] == int(NOW.timestamp())
    assert all(b[0] == a[1] + 60 for a, b in itertools.pairwise(cpu))


# -- re-collecting, errors ----------------------------------------------------------------------


def test_recollecting_replaces_the_cluster_snapshot(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    first = collect(con)
    before = con.execute("SELECT count(*), sum(value) FROM utilization").fetchone()
    again = collect(con)
    assert (again.resources, again.removed) == (first.resources, 0)
    assert con.execute("SELECT count(*), sum(value) FROM utilization").fetchone() == before
    assert kube.remove("deployments", "web", "web")
    third = collect(con)
    assert third.removed == 2  # the deployment and its container
    assert "prod-eu/web/deployment/web" not in rows(con)


def test_throttled_api_server_is_retried_with_the_injected_sleep(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    kube.fail("GET", "/statefulsets", 429, times=2)
    sleeps: list[float] = []
    result = collect(con, sleeps=sleeps)
    assert sleeps == [1.0, 2.0]
    assert result.resources["k8s_statefulset"] == 1


def test_forbidden_names_the_rbac_rule(con: duckdb.DuckDBPyConnection, kube: K8sDouble) -> None:
    kube.fail("GET", "/deployments", 403)
    with pytest.raises(CollectError) as info:
        collect(con)
    message = str(info.value)
    assert message.startswith(f"Kubernetes context prod-eu ({kube.url}): forbidden to list ")
    assert 'grant RBAC verb "list" on "deployments" in apiGroup "apps"' in message
    assert con.execute("SELECT count(*) FROM resources").fetchone() == (0,)


def test_rejected_credentials_and_unknown_contexts(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    kube.token = "rotated"
    with pytest.raises(CollectError, match=r"rejected the credentials \(401\)"):
        collect(con)
    with pytest.raises(CollectError, match=r"no context 'staging' in kubeconfig .*prod-eu"):
        collect(con, contexts=["staging"])


def test_unreachable_api_server(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "gone",
                "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
            }
        )
    )  # fmt: skip
    with pytest.raises(CollectError) as info:
        collect(con, KubernetesCollectConfig(), kubeconfig=str(path))
    assert str(info.value).startswith(
        f"cannot reach the Kubernetes API server http://127.0.0.1:{port} (context gone)"
    )


def test_resources_join_costs_on_resource_id(
    con: duckdb.DuckDBPyConnection, kube: K8sDouble
) -> None:
    add_rows(
        con,
        [
            Row(cost="40", ResourceId=CHECKOUT, ProviderName="Kubernetes"),
            Row(cost="25", ResourceId=KAFKA, ProviderName="Kubernetes"),
        ],
    )
    collect(con)
    joined = con.execute(
        "SELECT r.kind, r.properties->>'replicas', c.BilledCost::DOUBLE FROM costs c "
        "JOIN resources r ON r.resource_id = c.ResourceId ORDER BY 1"
    ).fetchall()
    assert joined == [("k8s_deployment", "2", 40.0), ("k8s_statefulset", "3", 25.0)]


# -- pieces and CLI -----------------------------------------------------------------------------


def test_pods_are_matched_to_their_controller_by_name() -> None:
    owner = owner_matcher(
        [
            ("c/ns/deployment/web", "ns", "deployment", "web"),
            ("c/ns/deployment/web-api", "ns", "deployment", "web-api"),
            ("c/ns/statefulset/db", "ns", "statefulset", "db"),
        ]
    )
    assert owner("ns", "web-api-6b7c9d8f4-x2x7q") == "c/ns/deployment/web-api"
    assert owner("ns", "web-6b7c9d8f4-x2x7q") == "c/ns/deployment/web"
    assert owner("ns", "db-12") == "c/ns/statefulset/db"
    assert owner("ns", "db-backup-28391-abcde") is None  # a Job's pod
    assert owner("other", "web-6b7c9d8f4-x2x7q") is None
    assert (quantity("250m"), quantity("1.5"), quantity("512Mi"), quantity("1G")) == (
        0.25, 1.5, 512.0 * MI, 1e9,
    )  # fmt: skip
    assert quantity(None) is None and quantity("lots") is None


def test_cli_kubernetes_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kube: K8sDouble
) -> None:
    if not any(g.name == "collect" for g in cli_app.registered_groups):
        cli_collect.register(cli_app)
    home = str(tmp_path / "h")
    res = run_cli(capsys, "--home", home, "collect", "kubernetes", "--context", "prod-eu", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    assert doc["provider"] == "kubernetes"
    assert doc["resources"] == {"k8s_container": 5, "k8s_deployment": 3, "k8s_statefulset": 1}
    bad = run_cli(capsys, "--home", home, "collect", "kubernetes", "--context", "nope")
    assert bad.code == 1 and bad.err.startswith("error: no context 'nope' in kubeconfig")
