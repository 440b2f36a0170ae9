"""Kubernetes optimization actions through the official client against the API-server double:
the write tools only propose; an approved proposal is dry-run (`dryRun=All`), re-validated
(replicas / requests, protection, finding, blast radius) and executed once; `rollback_action`
proposes the exact reverse."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config as kconfig
from kubernetes.client import AppsV1Api
from kubernetes.client.exceptions import ApiException

from agent.context import AppContext
from agent.runtime.runner import Runtime
from guardrails.approvals import ApprovalError
from tests.doubles.k8s import K8sDouble, Recorded, container, deployment, statefulset
from tests.helpers.agent import Clock, propose_via_tool, tool_error
from tests.helpers.optimize import END, add_costs, add_resource, add_util, daily_bill, hourly
from tools.optimize.models import finding_id
from warehouse.db import connect

GIB = 2**30
CLUSTER = "prod-eu"
RANKER = f"{CLUSTER}/search/deployment/ranker"
INDEXER = f"{CLUSTER}/search/deployment/indexer"
API = f"{CLUSTER}/shop/deployment/api"
APP = f"{API}/app"
PREVIOUS = "finops.io/previous-replicas"


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[K8sDouble]:
    with K8sDouble(token="k8s-token") as api:
        reqs = {"cpu": "2", "memory": "4Gi"}
        api.add(deployment("ranker", "search", replicas=3, containers=[container("ranker", reqs)]))
        api.add(deployment("indexer", "search", replicas=2))
        sidecar = container("proxy", {"cpu": "100m", "memory": "128Mi"})
        api.add(deployment("api", "shop", replicas=3, containers=[container("app", reqs), sidecar]))
        api.add(statefulset("cache", "search", replicas=0))
        path = api.write_kubeconfig(tmp_path / "kubeconfig", cluster=CLUSTER)
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("FINOPS_KUBE_CONTEXTS", raising=False)
        yield api


@dataclass
class World:
    rt: Runtime
    kube: K8sDouble
    home: Path

    def reopen(self, yaml: str) -> None:
        """Rewrite finops.yaml and start a new runtime on the same home (ledger kept)."""
        self.rt.close()
        (self.home / "finops.yaml").write_text(yaml)
        self.rt = Runtime(AppContext.create(self.home), clock=Clock(), environ={})

    def set_app_cpu(self, cpu: float) -> None:
        con = connect(self.home / "warehouse.duckdb")
        con.execute("DELETE FROM utilization WHERE resource_id IN (?, ?)", [APP, API])
        _container_util(con, cpu)
        con.close()

    def set_busy(self, rid: str) -> None:
        con = connect(self.home / "warehouse.duckdb")
        con.execute("DELETE FROM utilization WHERE resource_id = ?", [rid])
        _idle_util(con, rid, usage=5.0)
        con.close()


def _idle_util(con: Any, rid: str, usage: float = 0.1) -> None:
    add_util(con, rid, "cpu_request_cores", hourly([6.0] * 7), provider="kubernetes")
    add_util(con, rid, "cpu_usage_cores", hourly([usage] * 7), provider="kubernetes")


def _container_util(con: Any, cpu: float = 0.5) -> None:
    """`app` requests 2 cores / 4 GiB per pod and uses `cpu` / 1 GiB; the workload (3 pods) the
    totals, as `finops collect kubernetes` writes them."""
    hours = 14 * 24
    start = datetime(END.year, END.month, END.day) - timedelta(hours=hours - 24)
    for rid, pods in ((APP, 1), (API, 3)):
        for metric, value in (
            ("cpu_request_cores", 2.0),
            ("cpu_usage_cores", cpu),
            ("memory_request_bytes", 4.0 * GIB),
            ("memory_usage_bytes", 1.0 * GIB),
        ):
            samples = [(start + timedelta(hours=h), value * pods) for h in range(hours)]
            add_util(con, rid, metric, samples, provider="kubernetes")


def _warehouse(home: Path) -> None:
    con = connect(home / "warehouse.duckdb")
    for rid, replicas in ((RANKER, 3), (INDEXER, 2)):
        add_resource(
            con,
            rid,
            "k8s_deployment",
            provider="kubernetes",
            region=None,
            properties={"replicas": replicas},
        )
        _idle_util(con, rid)
        add_costs(con, daily_bill(rid, "2.40", ProviderName="Kubernetes"))
    add_resource(
        con, API, "k8s_deployment", provider="kubernetes", region=None, properties={"replicas": 3}
    )
    add_resource(
        con,
        APP,
        "k8s_container",
        provider="kubernetes",
        region=None,
        properties={"workload": API, "replicas": 3},
    )
    _container_util(con)
    add_costs(con, daily_bill(API, "6.00", ProviderName="Kubernetes", SkuMeter="CPU"))
    con.close()


@pytest.fixture
def world(tmp_path: Path, kube: K8sDouble) -> Iterator[World]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text("approvers: [alice, bob]\n")
    _warehouse(home)
    w = World(Runtime(AppContext.create(home), clock=Clock(), environ={}), kube, home)
    yield w
    w.rt.close()


def _fid(rule: str, rid: str) -> str:
    return finding_id(rule, f"kubernetes|{rid}")


def _executions(rt: Runtime) -> int:
    return [e.kind for e in rt.audit.entries()].count("execution")


def _patches(kube: K8sDouble, name: str) -> list[Recorded]:
    return [r for r in kube.calls("PATCH") if r.path.endswith(f"/{name}")]


def _replicas(kube: K8sDouble, name: str, ns: str = "search") -> tuple[int, str | None]:
    obj = kube.get("deployments", name, ns)
    assert obj is not None
    return obj["spec"]["replicas"], (obj["metadata"].get("annotations") or {}).get(PREVIOUS)


def _requests(kube: K8sDouble, name: str = "api", ns: str = "shop") -> dict[str, dict[str, str]]:
    obj = kube.get("deployments", name, ns)
    assert obj is not None
    return {
        c["name"]: c.get("resources", {}).get("requests", {})
        for c in obj["spec"]["template"]["spec"]["containers"]
    }


# -- scale to zero ------------------------------------------------------------------------------


def test_scale_to_zero_from_finding_runs_once_with_dry_run_first_and_rolls_back(
    world: World,
) -> None:
    w = world
    fid = _fid("k8s_idle", RANKER)
    p = propose_via_tool(w.rt, "scale_deployment_to_zero", {"finding_ids": [fid]})
    assert (p.status, p.action, p.risk) == ("pending", "scale_deployment_to_zero", "medium")
    [t] = p.params["workloads"]
    assert (t["cluster"], t["context"], t["namespace"], t["kind"], t["name"]) == (
        CLUSTER,
        CLUSTER,
        "search",
        "deployment",
        "ranker",
    )
    assert (t["replicas"], t["to_replicas"], t["finding_id"]) == (3, 0, fid)
    assert t["saving"] == "73.00" and t["monthly_cost"] == "73.00"  # 2.40/day × 730 / 24
    assert p.expected_monthly_saving == Decimal("73.00") and p.currency == "USD"
    assert f"{RANKER} (3 → 0)" in p.summary and "USD 73.00/month" in p.summary
    assert PREVIOUS in p.summary and "rollback_action" in p.rollback
    assert p.evidence["workloads"][0]["finding"]["rule"] == "k8s_idle"
    assert not w.kube.calls("PATCH")  # proposing changes nothing

    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done", done.result
    assert _replicas(w.kube, "ranker") == (0, "3")
    assert _replicas(w.kube, "indexer") == (2, None)
    dry, real = _patches(w.kube, "ranker")
    assert dry.query.get("dryRun") == ["All"] and "dryRun" not in real.query
    assert dry.content_type == real.content_type == "application/strategic-merge-patch+json"
    assert real.body["spec"]["replicas"] == 0
    assert real.body["metadata"]["annotations"] == {PREVIOUS: "3"}
    assert real.body["metadata"]["resourceVersion"]  # optimistic concurrency
    assert done.result is not None and done.result["previous_replicas"] == {RANKER: 3}
    assert done.result["rollback"]["action"] == "scale_deployment_back"
    assert w.rt.run_action(p.id).status == "done"  # a second wake-up executes nothing
    assert len(_patches(w.kube, "ranker")) == 2 and _executions(w.rt) == 1

    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert (back.action, back.params["action"]) == ("rollback_action", "scale_deployment_back")
    assert back.params["rollback_of"] == p.id
    assert back.params["workloads"][0]["to_replicas"] == 3
    assert _replicas(w.kube, "ranker") == (0, "3")
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    assert _replicas(w.kube, "ranker") == (3, None)
    again = propose_via_tool(w.rt, "rollback_action", {"proposal_id": back.id})
    assert again.params["action"] == "scale_deployment_to_zero"


@pytest.mark.parametrize(
    "drift", ["replicas", "deleted", "protected_label", "protected_annotation", "busy"]
)
def test_drift_after_proposing_fails_and_changes_nothing(world: World, drift: str) -> None:
    w = world
    fid = _fid("k8s_idle", RANKER)
    p = propose_via_tool(w.rt, "scale_deployment_to_zero", {"finding_ids": [fid]})
    if drift == "replicas":
        w.kube.patch("deployments", "ranker", "search", {"spec": {"replicas": 5}})
        why = "runs 5 replica(s) now, the proposal saw 3"
    elif drift == "deleted":
        w.kube.remove("deployments", "ranker", "search")
        why = f"{RANKER} no longer exists"
    elif drift == "protected_label":
        labels = {"finops.io/protected": "true"}
        w.kube.patch("deployments", "ranker", "search", {"metadata": {"labels": labels}})
        why = "is now protected by label/annotation finops.io/protected=true"
    elif drift == "protected_annotation":
        notes = {"finops/protected": "True"}
        w.kube.patch("deployments", "ranker", "search", {"metadata": {"annotations": notes}})
        why = "is now protected by label/annotation finops/protected=True"
    else:
        w.set_busy(RANKER)
        why = f"{RANKER}: finding {fid} no longer holds on the latest inventory, utilization"
    before = w.kube.get("deployments", "ranker", "search")
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    error = (done.result or {})["error"]
    assert "re-validation failed" in error and why in error, error
    assert w.kube.get("deployments", "ranker", "search") == before
    assert not [r for r in _patches(w.kube, "ranker") if "dryRun" not in r.query]
    if drift == "busy":
        assert not w.kube.calls("PATCH")  # the finding is re-checked before any dry run
    assert "changed no resource" in tool_error(w.rt, "rollback_action", {"proposal_id": p.id})


def test_dry_run_refusal_fails_the_proposal(world: World) -> None:
    w = world
    p = propose_via_tool(
        w.rt,
        "scale_deployment_to_zero",
        {"workloads": [{"cluster": CLUSTER, "namespace": "search", "name": "ranker"}]},
    )
    assert p.params["workloads"][0]["finding_id"] == _fid("k8s_idle", RANKER)  # found by id
    w.kube.fail("PATCH", "/deployments/ranker", status=403)
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    error = (done.result or {})["error"]
    assert "patch (dry run)" in error and "forbidden" in error and "RBAC" in error, error
    [dry] = _patches(w.kube, "ranker")
    assert dry.query.get("dryRun") == ["All"]
    assert _replicas(w.kube, "ranker") == (3, None)


def test_blast_radius_at_proposal_and_before_acting(world: World) -> None:
    w = world
    two = {"finding_ids": [_fid("k8s_idle", RANKER), _fid("k8s_idle", INDEXER)]}
    w.reopen("approvers: [alice, bob]\nactions:\n  max_resources_per_proposal: 1\n")
    err = tool_error(w.rt, "scale_deployment_to_zero", two)
    assert "2 resources exceed actions.max_resources_per_proposal (1)" in err
    w.reopen("approvers: [alice, bob]\nactions:\n  max_monthly_spend_per_proposal: 100\n")
    err = tool_error(w.rt, "scale_deployment_to_zero", two)
    assert "USD 146.00/month affected exceeds actions.max_monthly_spend_per_proposal" in err
    w.reopen("approvers: [alice, bob]\n")
    p = propose_via_tool(w.rt, "scale_deployment_to_zero", two)
    assert len(p.params["workloads"]) == 2 and p.expected_monthly_saving == Decimal("146.00")
    w.reopen("approvers: [alice, bob]\nactions:\n  max_resources_per_proposal: 1\n")
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed" and "max_resources_per_proposal" in (done.result or {})["error"]
    assert _replicas(w.kube, "ranker") == (3, None) and _replicas(w.kube, "indexer") == (2, None)
    assert not w.kube.calls("PATCH")


def test_non_approver_cannot_approve_and_reject_changes_nothing(world: World) -> None:
    w = world
    p = propose_via_tool(
        w.rt, "scale_deployment_to_zero", {"finding_ids": [_fid("k8s_idle", RANKER)]}
    )
    with pytest.raises(ApprovalError) as err:
        w.rt.approve(p.id, "mallory")
    assert err.value.code == "not_allowed"
    assert w.rt.ledger.get(p.id).status == "pending"
    assert w.rt.reject(p.id, "bob", "not now").status == "rejected"
    assert _replicas(w.kube, "ranker") == (3, None) and not w.kube.calls("PATCH")
    assert _executions(w.rt) == 0


def test_scale_back_tool_reads_the_annotation(world: World) -> None:
    w = world
    notes = {"metadata": {"annotations": {PREVIOUS: "4"}}, "spec": {"replicas": 0}}
    w.kube.patch("deployments", "indexer", "search", notes)
    p = propose_via_tool(
        w.rt,
        "scale_deployment_back",
        {"context": CLUSTER, "namespace": "search", "name": "indexer"},
    )
    assert p.params["workloads"][0]["to_replicas"] == 4 and p.risk == "low"
    assert p.expected_monthly_saving == 0 and "resumes about USD 73.00/month" in p.summary
    assert w.rt.approve(p.id, "bob").proposal.status == "done"
    assert _replicas(w.kube, "indexer") == (4, None)
    err = tool_error(
        w.rt, "scale_deployment_back", {"cluster": CLUSTER, "namespace": "search", "name": "ranker"}
    )
    assert "runs 3 replica(s), not scaled to zero" in err


def test_bad_scale_requests_are_refused(world: World) -> None:
    w = world
    assert "no current Kubernetes finding" in tool_error(
        w.rt, "scale_deployment_to_zero", {"finding_ids": ["opt-000000000000"]}
    )
    assert "not scale_to_zero" in tool_error(
        w.rt, "scale_deployment_to_zero", {"finding_ids": [_fid("k8s_requests", APP)]}
    )
    ref = {"namespace": "search", "name": "ranker"}
    err = tool_error(
        w.rt, "scale_deployment_to_zero", {"workloads": [{"cluster": "staging", **ref}]}
    )
    assert "no kubeconfig context for cluster 'staging'" in err
    gone = {"cluster": CLUSTER, "namespace": "search", "name": "nope"}
    assert "not found" in tool_error(w.rt, "scale_deployment_to_zero", {"workloads": [gone]})
    cache = {"cluster": CLUSTER, "namespace": "search", "name": "cache", "kind": "statefulset"}
    assert "already scaled to zero" in tool_error(
        w.rt, "scale_deployment_to_zero", {"workloads": [cache]}
    )
    bad = {"cluster": CLUSTER, "namespace": "Search!", "name": "ranker"}
    assert "invalid Kubernetes namespace" in tool_error(
        w.rt, "scale_deployment_to_zero", {"workloads": [bad]}
    )
    w.kube.patch(
        "deployments", "ranker", "search", {"metadata": {"labels": {"finops.io/protected": "true"}}}
    )
    err = tool_error(w.rt, "scale_deployment_to_zero", {"workloads": [{"cluster": CLUSTER, **ref}]})
    assert "protected by label/annotation finops.io/protected=true" in err
    assert not w.kube.calls("PATCH") and w.rt.ledger.proposals() == []


def test_statefulset_scales_to_zero_and_back(world: World) -> None:
    w = world
    w.kube.add(statefulset("db", "search", replicas=2))
    ref = {"cluster": CLUSTER, "namespace": "search", "name": "db", "kind": "statefulset"}
    p = propose_via_tool(w.rt, "scale_deployment_to_zero", {"workloads": [ref]})
    assert p.params["workloads"][0]["finding_id"] is None and p.expected_monthly_saving == 0
    assert w.rt.approve(p.id, "alice").proposal.status == "done"
    obj = w.kube.get("statefulsets", "db", "search")
    assert obj is not None and obj["spec"]["replicas"] == 0
    assert obj["metadata"]["annotations"][PREVIOUS] == "2"
    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    obj = w.kube.get("statefulsets", "db", "search")
    assert obj is not None and obj["spec"]["replicas"] == 2
    assert PREVIOUS not in (obj["metadata"].get("annotations") or {})


# -- container requests -------------------------------------------------------------------------


def test_patch_requests_from_finding_and_rollback(world: World) -> None:
    w = world
    fid = _fid("k8s_requests", APP)
    p = propose_via_tool(w.rt, "patch_container_requests", {"finding_id": fid})
    [t] = p.params["workloads"]
    assert (t["container"], t["requests"], t["to_requests"]) == (
        "app",
        {"cpu": "2", "memory": "4Gi"},
        {"cpu": "575m", "memory": "1178Mi"},  # p90 0.5 × 1.15; p95 1 GiB × 1.15, rounded up
    )
    assert p.expected_monthly_saving == Decimal("130.03") and t["finding_id"] == fid
    assert "cpu 2 → 575m" in p.summary and "memory 4Gi → 1178Mi" in p.summary
    assert "rolling restart of 3 pod(s)" in p.summary and p.risk == "medium"
    assert "cpu 2, memory 4Gi" in p.rollback
    before = _requests(w.kube)
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done", done.result
    now = _requests(w.kube)
    assert now["app"] == {"cpu": "575m", "memory": "1178Mi"}
    assert now["proxy"] == before["proxy"]  # merged by container name
    dry, real = _patches(w.kube, "api")
    assert dry.query.get("dryRun") == ["All"] and "dryRun" not in real.query
    assert real.body["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "resources": {"requests": {"cpu": "575m", "memory": "1178Mi"}}}
    ]
    assert done.result is not None
    assert done.result["previous_requests"] == {APP: {"cpu": "2", "memory": "4Gi"}}

    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert back.params["action"] == "patch_container_requests"
    assert back.params["workloads"][0]["to_requests"] == {"cpu": "2", "memory": "4Gi"}
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    assert _requests(w.kube) == before


def test_patch_requests_refused_when_the_finding_now_recommends_more(world: World) -> None:
    w = world
    fid = _fid("k8s_requests", APP)
    p = propose_via_tool(w.rt, "patch_container_requests", {"finding_id": fid})
    w.set_app_cpu(0.8)  # p90 0.8 × 1.15 = 920m, above the proposed 575m
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    assert "the finding now recommends cpu 920m, above 575m" in (done.result or {})["error"]
    assert _requests(w.kube)["app"] == {"cpu": "2", "memory": "4Gi"}
    explicit = {"cluster": CLUSTER, "namespace": "shop", "name": "api", "container": "app"}
    same = propose_via_tool(
        w.rt, "patch_container_requests", {**explicit, "cpu": "920m", "memory": "1178Mi"}
    )
    assert same.params["workloads"][0]["finding_id"] == fid  # the finding's exact values
    assert same.expected_monthly_saving > 0
    other = propose_via_tool(w.rt, "patch_container_requests", {**explicit, "cpu": "1"})
    assert other.params["workloads"][0]["finding_id"] is None
    w.set_app_cpu(1.9)  # busy: no lower request recommended any more
    done = w.rt.approve(same.id, "alice").proposal
    assert done.status == "failed"
    assert f"{API}: finding {fid} no longer holds" in (done.result or {})["error"]
    assert _requests(w.kube)["app"] == {"cpu": "2", "memory": "4Gi"} and not w.kube.calls("PATCH")


def test_patch_requests_explicit_and_drift(world: World) -> None:
    w = world
    args = {"cluster": CLUSTER, "namespace": "shop", "name": "api", "container": "proxy"}
    p = propose_via_tool(w.rt, "patch_container_requests", {**args, "cpu": "50m"})
    [t] = p.params["workloads"]
    assert (t["requests"], t["to_requests"], t["finding_id"]) == (
        {"cpu": "100m"},
        {"cpu": "50m"},
        None,
    )
    assert p.expected_monthly_saving == 0 and "saving not estimated" in p.summary
    w.kube.patch("deployments", "api", "shop", {"metadata": {"labels": {"team": "shop"}}})
    other = propose_via_tool(w.rt, "patch_container_requests", {**args, "memory": "64Mi"})
    assert w.rt.approve(other.id, "alice").proposal.status == "done"  # other keys: no drift
    assert _requests(w.kube)["proxy"] == {"cpu": "100m", "memory": "64Mi"}
    obj = w.kube.get("deployments", "api", "shop")
    assert obj is not None
    obj["spec"]["template"]["spec"]["containers"][1]["resources"]["requests"]["cpu"] = "200m"
    w.kube.patch("deployments", "api", "shop", {"spec": obj["spec"]})
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    assert "proxy cpu request is now 200m, the proposal saw 100m" in (done.result or {})["error"]
    assert _requests(w.kube)["proxy"]["cpu"] == "200m"


def test_patch_requests_quantity_compare_and_bad_inputs(world: World) -> None:
    w = world
    args = {"cluster": CLUSTER, "namespace": "shop", "name": "api", "container": "app"}
    assert "already requests" in tool_error(
        w.rt, "patch_container_requests", {**args, "cpu": "2000m"}
    )
    assert "not a positive Kubernetes quantity" in tool_error(
        w.rt, "patch_container_requests", {**args, "memory": "lots"}
    )
    assert "has no container 'web'" in tool_error(
        w.rt, "patch_container_requests", {**args, "container": "web", "cpu": "1"}
    )
    assert "not set_requests" in tool_error(
        w.rt, "patch_container_requests", {"finding_id": _fid("k8s_idle", RANKER)}
    )
    assert w.rt.ledger.proposals() == [] and not w.kube.calls("PATCH")


# -- the double ---------------------------------------------------------------------------------


def _containers(kube: K8sDouble, name: str, ns: str) -> list[tuple[str, str]]:
    obj = kube.get("deployments", name, ns)
    assert obj is not None
    return [(c["name"], c["image"]) for c in obj["spec"]["template"]["spec"]["containers"]]


def test_double_dry_run_strategic_merge_put_and_validation(kube: K8sDouble) -> None:
    api = AppsV1Api(kconfig.new_client_from_config(config_file=os.environ["KUBECONFIG"]))
    version = (kube.get("deployments", "api", "shop") or {})["metadata"]["resourceVersion"]
    body = {"spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "p:2"}]}}}}
    smp, merge = "application/strategic-merge-patch+json", "application/merge-patch+json"
    raw: Any = api.patch_namespaced_deployment(
        "api", "shop", body, dry_run="All", _content_type=smp, _preload_content=False
    )
    would = json.loads(raw.data)["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in would] == [
        ("app", "registry.local/app:1"),
        ("proxy", "p:2"),
    ]
    assert _containers(kube, "api", "shop")[1] == ("proxy", "registry.local/proxy:1")
    assert (kube.get("deployments", "api", "shop") or {})["metadata"]["resourceVersion"] == version
    api.patch_namespaced_deployment("api", "shop", body, _content_type=smp)
    assert _containers(kube, "api", "shop") == [("app", "registry.local/app:1"), ("proxy", "p:2")]
    api.patch_namespaced_deployment("api", "shop", body, _content_type=merge)
    assert _containers(kube, "api", "shop") == [("proxy", "p:2")]  # RFC 7386 replaces lists
    with pytest.raises(ApiException) as bad:
        api.patch_namespaced_deployment(
            "api", "shop", {"spec": {"replicas": -1}}, dry_run="All", _content_type=smp
        )
    assert bad.value.status == 422 and "must be greater than or equal to 0" in str(bad.value.body)
    with pytest.raises(ApiException) as odd:
        api.patch_namespaced_deployment("api", "shop", {}, dry_run="Some", _content_type=smp)
    assert odd.value.status == 400
    current: Any = kube.get("deployments", "ranker", "search")
    current["spec"]["replicas"] = 7
    api.replace_namespaced_deployment("ranker", "search", current, dry_run="All")
    assert _replicas(kube, "ranker") == (3, None)
    api.replace_namespaced_deployment("ranker", "search", current)
    assert _replicas(kube, "ranker") == (7, None)
    with pytest.raises(ApiException) as stale:
        api.replace_namespaced_deployment("ranker", "search", current)
    assert stale.value.status == 409
