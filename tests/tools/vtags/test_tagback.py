"""Pushing a virtual tag back onto real resources: AWS tags through boto3 against moto's server on
127.0.0.1, Kubernetes labels through the official client against an API-server double. The
write tool only proposes; the change happens once after approval, re-validated, with rollback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from langchain_core.messages import AIMessage
from moto.server import ThreadedMotoServer

import tools.vtags.agent_tools  # noqa: F401  (registers tag_resources and its actions)
from agent.context import AppContext
from agent.runtime.runner import Runtime
from guardrails.approvals import Proposal
from tests.doubles.k8s import K8sDouble, deployment, namespace, statefulset
from tests.helpers.agent import Clock, call, scripted
from tests.helpers.vtags import Row, add_rows
from tools.vtags.tagback_aws import arn_for
from tools.vtags.tagback_k8s import label_key_problem, label_value_ok, locate
from tools.vtags.tagback_models import Candidate, Skip
from warehouse.cloud import CloudSettings
from warehouse.db import connect

ACCOUNT = "123456789012"  # moto's default account
EC2 = "Amazon Elastic Compute Cloud"
S3 = "Amazon Simple Storage Service"

AWS_CONFIG = """\
approvers: [alice, bob]
virtual_tags:
  team:
    sources: [team, owner]
    allowed_values: [payments, search, data]
    rules:
      - {id: search-names, resource: "^search-", value: search}
      - {id: volumes, resource: "^vol-", value: payments}
      - {id: rds, resource: "^db-", value: data}
      - {id: archive, resource: "^arn:aws:glacier:", value: data}
    shared:
      - {id: support, when: {ServiceName: AWS Support}, method: even, values: [payments, search]}
"""

K8S_CONFIG = """\
approvers: [alice, bob]
virtual_tags:
  team:
    sources: [team]
    rules:
      - {id: ml, when: {"tag:namespace": ml}, value: ml-platform}
      - {id: payments-ns, when: {"tag:namespace": payments}, value: payments}
"""


# -- fixtures -----------------------------------------------------------------------------------


@dataclass
class Aws:
    """boto3 clients on moto's server; tags read back through the tagging API."""

    ec2: Any
    s3: Any
    tagging: Any

    def instance(self, tags: dict[str, str] | None = None) -> str:
        spec = [{"ResourceType": "instance", "Tags": _tag_list(tags)}] if tags else []
        r = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=spec
        )
        return str(r["Instances"][0]["InstanceId"])

    def tags(self, arn: str) -> dict[str, str]:
        found = self.tagging.get_resources(ResourceARNList=[arn])["ResourceTagMappingList"]
        return {t["Key"]: t["Value"] for t in found[0]["Tags"]} if found else {}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, Aws]]:
    """moto in server mode on 127.0.0.1, one per module (its services warm up once); each test
    makes its own resources."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    yield (
        endpoint,
        Aws(
            session.client("ec2", endpoint_url=endpoint),
            session.client("s3", endpoint_url=endpoint),
            session.client("resourcegroupstaggingapi", endpoint_url=endpoint),
        ),
    )
    server.stop()


@pytest.fixture
def aws(moto: tuple[str, Aws], monkeypatch: pytest.MonkeyPatch) -> Aws:
    """boto3 in the code under test reaches moto through AWS_ENDPOINT_URL."""
    endpoint, clients = moto
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return clients


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[K8sDouble]:
    """The API-server double with a few objects; KUBECONFIG names it as cluster prod-eu."""
    with K8sDouble(token="secret-token") as api:
        api.add(deployment("checkout-api", "checkout", labels={"app": "checkout-api"}))
        api.add(statefulset("trainer", "ml", labels={"team": "ml-old"}))
        api.add(deployment("frontend", "web", labels={"team": "web"}))
        api.add(namespace("payments"))
        path = api.write_kubeconfig(tmp_path / "kubeconfig", cluster="prod-eu")
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("FINOPS_KUBE_CONTEXTS", raising=False)
        yield api


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _runtime(home: Path, clock: Clock, config: str, rows: list[Row], sql: str = "") -> Runtime:
    home.mkdir(parents=True, exist_ok=True)
    (home / "finops.yaml").write_text(config)
    con = connect(home / "warehouse.duckdb")
    add_rows(con, rows)
    if sql:
        con.execute(sql)
    con.close()
    return Runtime(AppContext.create(home), clock=clock, environ={})


def _propose(rt: Runtime, tool: str, args: dict[str, Any]) -> Proposal:
    rt._models = [scripted(call(tool, args), AIMessage("Proposed."))]
    result = rt.ask("push the team tag")
    assert result.proposals, result.tool_calls
    return rt.ledger.get(result.proposals[0])


def _tool_error(rt: Runtime, args: dict[str, Any]) -> str:
    rt._models = [scripted(call("tag_resources", args), AIMessage("Could not."))]
    result = rt.ask("push the team tag")
    assert not result.proposals and result.tool_calls[0].ok is False
    return result.tool_calls[0].error or ""


def _arn(kind: str, ident: str) -> str:
    return f"arn:aws:ec2:us-east-1:{ACCOUNT}:{kind}/{ident}"


# -- AWS ----------------------------------------------------------------------------------------


@dataclass
class AwsWorld:
    rt: Runtime
    aws: Aws
    i1: str
    i2: str
    i3: str
    vol: str
    bucket_name: str

    @property
    def bucket(self) -> str:
        return f"arn:aws:s3:::{self.bucket_name}"


@pytest.fixture
def world(tmp_path: Path, clock: Clock, aws: Aws) -> Iterator[AwsWorld]:
    i1, i2 = aws.instance(), aws.instance()
    i3 = aws.instance({"team": "payments"})
    vol = aws.ec2.create_volume(
        Size=10, AvailabilityZone="us-east-1a",
        TagSpecifications=[{"ResourceType": "volume", "Tags": _tag_list({"team": "legacy"})}],
    )["VolumeId"]  # fmt: skip
    bucket = f"payments-logs-{uuid.uuid4().hex[:8]}"
    aws.s3.create_bucket(Bucket=bucket)
    rows = [
        Row(cost="30", ResourceId=i1, SubAccountId=ACCOUNT, tags={"owner": "payments"}),
        Row(cost="20", ResourceId=i2, SubAccountId=ACCOUNT, ResourceName="search-api-1"),
        Row(cost="8", ResourceId=i3, SubAccountId=ACCOUNT, tags={"team": "payments"}),
        Row(cost="5", ResourceId=vol, SubAccountId=ACCOUNT, tags={"team": "legacy"}),
        Row(cost="3", ResourceId=bucket, ResourceName=bucket, ServiceName=S3, SubAccountId=ACCOUNT),
        Row(cost="10", ResourceId="support-plan", ServiceName="AWS Support", SubAccountId=ACCOUNT),
        Row(cost="7", ResourceId="db-ABCDEFGHIJKLMNOP", SubAccountId=ACCOUNT),
        Row(cost="4", ResourceId="i-0123456789abcdef0", SubAccountId="210987654321",
            SubAccountName="sandbox"),
    ]  # fmt: skip
    rt = _runtime(tmp_path / "home", clock, AWS_CONFIG, rows)
    yield AwsWorld(rt, aws, i1, i2, i3, vol, bucket)
    rt.close()


def _planned(p: Proposal) -> dict[str, tuple[Any, Any]]:
    return {r["arn"]: (r["value"], r["previous"]) for r in p.params["resources"]}


def test_proposal_lists_exactly_the_resources_and_changes_nothing(world: AwsWorld) -> None:
    w = world
    p = _propose(w.rt, "tag_resources", {"vtag": "team", "provider": "aws"})
    assert (p.status, p.action, p.target) == ("pending", "tag_resources", "aws/team")
    assert _planned(p) == {
        _arn("instance", w.i1): ("payments", None),
        _arn("instance", w.i2): ("search", None),
        _arn("volume", w.vol): ("payments", "legacy"),
        w.bucket: ("payments", None),
    }
    by_resource = {e["resource"]: e for e in p.evidence["resources"]}
    first = by_resource[_arn("instance", w.i1)]
    assert (first["provenance"], first["detail"]) == ("tag", "tag owner=payments")
    assert first["cost"] == "USD 30.00 in 2026-10" and first["current_tags"] == {}
    assert by_resource[_arn("instance", w.i2)]["detail"] == "rule search-names"
    assert by_resource[_arn("volume", w.vol)]["current_tags"] == {"team": "legacy"}
    assert by_resource[w.bucket]["provenance"] == "inferred"
    assert by_resource[w.bucket]["confidence"] is not None
    assert p.evidence["already_set"] == [_arn("instance", w.i3)]
    skipped = {s["resource"]: s["reason"] for s in p.evidence["skipped"]}
    assert "decided by shared only" in skipped["support-plan"]
    assert "decided by default only" in skipped["i-0123456789abcdef0"]
    assert "not a taggable AWS id" in skipped["db-ABCDEFGHIJKLMNOP"]
    assert p.risk == "medium" and "overwrites 1 existing value" in p.summary
    assert "restore the previous value on the 1 that had one" in p.rollback
    assert w.aws.tags(_arn("instance", w.i1)) == {}
    assert w.aws.tags(_arn("volume", w.vol)) == {"team": "legacy"}
    assert w.aws.tags(w.bucket) == {}


def test_approval_tags_once_and_rollback_restores(world: AwsWorld) -> None:
    w = world
    pid = _propose(w.rt, "tag_resources", {"vtag": "team", "provider": "AWS"}).id
    done = w.rt.approve(pid, "alice").proposal
    assert done.status == "done", done.result
    assert done.result is not None and done.result["failed"] == []
    assert len(done.result["changed"]) == 4
    assert w.aws.tags(_arn("instance", w.i1)) == {"team": "payments"}
    assert w.aws.tags(_arn("instance", w.i2)) == {"team": "search"}
    assert w.aws.tags(_arn("volume", w.vol)) == {"team": "payments"}
    assert w.aws.tags(w.bucket) == {"team": "payments"}
    w.aws.ec2.create_tags(Resources=[w.i1], Tags=_tag_list({"team": "data"}))
    assert w.rt.run_action(pid).status == "done"  # a second wake-up executes nothing
    assert w.aws.tags(_arn("instance", w.i1)) == {"team": "data"}
    assert [e.kind for e in w.rt.audit.entries()].count("execution") == 1

    w.aws.ec2.create_tags(Resources=[w.i1], Tags=_tag_list({"team": "payments"}))
    back = _propose(w.rt, "rollback_tag_resources", {"proposal_id": pid})
    assert back.params["rollback_of"] == pid and back.action == "rollback_tag_resources"
    assert w.aws.tags(w.bucket) == {"team": "payments"}  # nothing before approval
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    assert w.aws.tags(_arn("instance", w.i1)) == {}
    assert w.aws.tags(_arn("instance", w.i2)) == {}
    assert w.aws.tags(_arn("volume", w.vol)) == {"team": "legacy"}
    assert w.aws.tags(w.bucket) == {}
    assert w.aws.tags(_arn("instance", w.i3)) == {"team": "payments"}  # never touched


def test_reject_changes_nothing(world: AwsWorld) -> None:
    w = world
    pid = _propose(w.rt, "tag_resources", {"vtag": "team", "provider": "AWS"}).id
    assert w.rt.reject(pid, "bob", "not now").status == "rejected"
    assert w.aws.tags(_arn("instance", w.i1)) == {}
    assert w.aws.tags(_arn("volume", w.vol)) == {"team": "legacy"}
    assert w.rt.ledger.get(pid).result is None
    rt_args = {"proposal_id": pid}
    w.rt._models = [scripted(call("rollback_tag_resources", rt_args), AIMessage("No."))]
    result = w.rt.ask("undo it")
    assert not result.proposals and "is rejected and changed no resource" in str(
        result.tool_calls[0].error
    )


def test_already_done_by_someone_else_runs_nothing(world: AwsWorld) -> None:
    w = world
    p = _propose(w.rt, "tag_resources", {"vtag": "team", "value": "search"})
    w.aws.ec2.create_tags(Resources=[w.i2], Tags=_tag_list({"team": "search"}))
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    assert "every resource already has the proposed value" in (done.result or {})["error"]


def test_changed_or_deleted_resource_fails_revalidation_and_tags_nothing(world: AwsWorld) -> None:
    w = world
    first = _propose(w.rt, "tag_resources", {"vtag": "team", "provider": "AWS"}).id
    w.aws.ec2.create_tags(Resources=[w.i2], Tags=_tag_list({"team": "data"}))
    p = w.rt.approve(first, "alice").proposal
    assert p.status == "failed"
    assert "team is now 'data', the proposal saw None; propose again" in (p.result or {})["error"]
    assert w.aws.tags(_arn("instance", w.i1)) == {}

    second = _propose(w.rt, "tag_resources", {"vtag": "team", "value": "payments"}).id
    w.aws.ec2.terminate_instances(InstanceIds=[w.i1])
    p = w.rt.approve(second, "alice").proposal
    assert p.status == "failed" and "no longer exists" in (p.result or {})["error"]
    assert w.aws.tags(w.bucket) == {} and w.aws.tags(_arn("volume", w.vol)) == {"team": "legacy"}


def test_value_filter_and_max_resources(world: AwsWorld) -> None:
    w = world
    args = {"vtag": "team", "value": "Payments", "max_resources": 1}
    p = _propose(w.rt, "tag_resources", args)
    assert _planned(p) == {_arn("instance", w.i1): ("payments", None)}
    assert p.owner == "payments" and p.risk == "low"
    assert "more not examined (max_resources)" in p.summary
    keyed = _propose(w.rt, "tag_resources", {**args, "key": "cost-center"})
    assert keyed.params["key"] == "cost-center" and keyed.target == "aws/cost-center"
    sure = _propose(w.rt, "tag_resources", {"vtag": "team", "include_inferred": False})
    assert w.bucket not in _planned(sure) and len(_planned(sure)) == 3
    skipped = {s["resource"]: s["reason"] for s in sure.evidence["skipped"]}
    assert "decided by inferred only; pushed are rule, tag" in skipped[w.bucket_name]


def test_per_resource_failures_are_reported(world: AwsWorld) -> None:
    w = world
    con = connect(w.rt.app.home.warehouse_path)
    archive = f"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/archive"
    add_rows(con, [Row(cost="50", ResourceId=archive, SubAccountId=ACCOUNT)])
    con.execute("UPDATE costs SET ResourceName = 'search-db' WHERE ResourceId LIKE 'db-%'")
    con.close()
    p = _propose(w.rt, "tag_resources", {"vtag": "team", "value": "data"})
    assert _planned(p) == {archive: ("data", None)}
    failed = w.rt.approve(p.id, "alice").proposal
    error = (failed.result or {})["error"]
    assert failed.status == "failed" and "nothing changed" in error and archive in error

    p = _propose(w.rt, "tag_resources", {"vtag": "team", "value": "search"})
    assert set(_planned(p)) == {_arn("instance", w.i2)}
    assert w.rt.approve(p.id, "alice").proposal.status == "done"


def test_bad_requests_make_no_proposal(world: AwsWorld, kube: K8sDouble) -> None:
    w = world
    assert "unknown virtual tag 'owner'" in _tool_error(w.rt, {"vtag": "owner"})
    assert "aws: prefix is reserved" in _tool_error(
        w.rt, {"vtag": "team", "provider": "AWS", "key": "aws:team"}
    )
    assert "no AWS resource has a tag, rule or inferred value of team=web" in _tool_error(
        w.rt, {"vtag": "team", "value": "web", "provider": "AWS"}
    )
    w.aws.ec2.create_tags(Resources=[w.i1, w.i2, w.vol], Tags=_tag_list({"team": "payments"}))
    w.aws.ec2.create_tags(Resources=[w.i2], Tags=_tag_list({"team": "search"}))
    tag_set = {"TagSet": _tag_list({"team": "payments"})}
    w.aws.s3.put_bucket_tagging(Bucket=w.bucket_name, Tagging=tag_set)
    assert "nothing to change: 5 resource(s) already have it" in _tool_error(
        w.rt, {"vtag": "team", "provider": "AWS"}
    )
    con = connect(w.rt.app.home.warehouse_path)
    k8s = Row(cost="1", ResourceId="prod-eu/web/deployment/frontend", ProviderName="Kubernetes",
              ServiceName="Kubernetes", SubAccountId="prod-eu", tags={"team": "data"})  # fmt: skip
    add_rows(con, [k8s])
    con.close()
    assert "spans providers (AWS 6, Kubernetes 1)" in _tool_error(w.rt, {"vtag": "team"})


# -- Kubernetes ---------------------------------------------------------------------------------


def _k8s_rows() -> list[Row]:
    k8s = {"ProviderName": "Kubernetes", "ServiceName": "Kubernetes", "SubAccountId": "prod-eu"}
    pod = {"namespace": "checkout", "controller": "checkout-api", "controller_kind": "deployment",
           "cluster": "prod-eu", "team": "payments"}  # fmt: skip
    return [
        Row(cost="12", ResourceId="checkout-api-6d9f7c9b5-x2k4p", tags=pod, **k8s),
        Row(cost="9", ResourceId="checkout-api-6d9f7c9b5-q8w2e", tags=pod, **k8s),
        Row(cost="15", ResourceId="prod-eu/ml/statefulset/trainer", tags={"namespace": "ml"},
            **k8s),
        Row(cost="6", ResourceId="payments", tags={"namespace": "payments"}, **k8s),
        Row(cost="5", ResourceId="prod-eu/web/deployment/frontend", tags={"team": "web"}, **k8s),
        Row(cost="2", ResourceId="debug-pod", tags={"namespace": "checkout", "team": "payments"},
            **k8s),
        Row(cost="4", ResourceId="staging/web/deployment/api", tags={"team": "web"}, **k8s),
    ]  # fmt: skip


@pytest.fixture
def krt(tmp_path: Path, clock: Clock, kube: K8sDouble) -> Iterator[Runtime]:
    sql = "UPDATE costs SET ResourceType = 'Namespace' WHERE ResourceId = 'payments'"
    rt = _runtime(tmp_path / "home", clock, K8S_CONFIG, _k8s_rows(), sql)
    yield rt
    rt.close()


def _labels(api: K8sDouble, plural: str, name: str, ns: str | None = None) -> dict[str, str]:
    obj = api.get(plural, name, ns)
    assert obj is not None
    return dict(obj["metadata"].get("labels") or {})


def _targets(p: Proposal) -> dict[str, tuple[Any, Any]]:
    return {
        f"{r['kind']}:{r['namespace']}/{r['name']}": (r["value"], r["previous"])
        for r in p.params["resources"]
    }


def test_k8s_labels_after_approval_once_with_merge_patch_and_rollback(
    krt: Runtime, kube: K8sDouble
) -> None:
    p = _propose(krt, "tag_resources", {"vtag": "team", "provider": "Kubernetes"})
    assert (p.action, p.status, p.risk) == ("tag_resources", "pending", "medium")
    assert _targets(p) == {
        "statefulset:ml/trainer": ("ml-platform", "ml-old"),
        "deployment:checkout/checkout-api": ("payments", None),
        "namespace:/payments": ("payments", None),
    }
    pods = next(e for e in p.evidence["resources"] if "checkout-api" in e["resource"])
    assert pods["billed_resource_ids"] == [
        "checkout-api-6d9f7c9b5-q8w2e",
        "checkout-api-6d9f7c9b5-x2k4p",
    ]
    assert pods["cost"] == "USD 21.00 in 2026-10"
    skipped = {s["resource"]: s["reason"] for s in p.evidence["skipped"]}
    assert "no kubeconfig context for cluster 'staging'" in skipped["staging/web/deployment/api"]
    assert "not a deployment, statefulset, daemonset or namespace" in skipped["debug-pod"]
    assert p.evidence["already_set"] == ["prod-eu/web/deployment/frontend"]
    assert not kube.calls("PATCH")

    done = krt.approve(p.id, "alice").proposal
    assert done.status == "done" and done.result and done.result["failed"] == []
    patches = kube.calls("PATCH")
    assert len(patches) == 3
    assert {r.content_type for r in patches} == {"application/merge-patch+json"}
    assert all(r.body["metadata"]["resourceVersion"] for r in patches)
    assert _labels(kube, "deployments", "checkout-api", "checkout") == {
        "app": "checkout-api",
        "team": "payments",
    }
    assert _labels(kube, "statefulsets", "trainer", "ml") == {"team": "ml-platform"}
    assert _labels(kube, "namespaces", "payments")["team"] == "payments"
    krt.run_action(p.id)
    assert len(kube.calls("PATCH")) == 3

    back = _propose(krt, "rollback_tag_resources", {"proposal_id": p.id})
    assert krt.approve(back.id, "bob").proposal.status == "done"
    assert _labels(kube, "deployments", "checkout-api", "checkout") == {"app": "checkout-api"}
    assert _labels(kube, "statefulsets", "trainer", "ml") == {"team": "ml-old"}
    assert "team" not in _labels(kube, "namespaces", "payments")


def test_k8s_reject_and_concurrent_edit_change_nothing(krt: Runtime, kube: K8sDouble) -> None:
    first = _propose(krt, "tag_resources", {"vtag": "team", "provider": "Kubernetes"})
    krt.reject(first.id, "bob")
    second = _propose(krt, "tag_resources", {"vtag": "team", "provider": "Kubernetes"})
    kube.patch("statefulsets", "trainer", "ml", {"metadata": {"labels": {"team": "research"}}})
    p = krt.approve(second.id, "alice").proposal
    assert p.status == "failed" and "team is now 'research'" in (p.result or {})["error"]
    assert not kube.calls("PATCH")
    assert "team" not in _labels(kube, "deployments", "checkout-api", "checkout")


def test_k8s_partial_failure_is_reported_per_object(krt: Runtime, kube: K8sDouble) -> None:
    p = _propose(krt, "tag_resources", {"vtag": "team", "value": "payments"})
    assert set(_targets(p)) == {"deployment:checkout/checkout-api", "namespace:/payments"}
    kube.fail("PATCH", "/api/v1/namespaces/payments", status=500)
    done = krt.approve(p.id, "alice").proposal
    assert done.status == "done" and done.result is not None
    assert done.result["failed"] == [
        {"resource": "prod-eu/namespace/payments", "error": "HTTP 500 Internal Server Error"}
    ]
    assert [t["name"] for t in done.result["changed"]] == ["checkout-api"]
    assert "team" not in _labels(kube, "namespaces", "payments")


def test_k8s_context_mapping_from_environment(
    krt: Runtime, kube: K8sDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.write_kubeconfig(tmp_path / "kubeconfig", cluster="stage-cluster", context="stage-admin")
    kube.add(deployment("api", "web"))
    monkeypatch.setenv("FINOPS_KUBE_CONTEXTS", "staging=stage-admin")
    p = _propose(krt, "tag_resources", {"vtag": "team", "value": "web"})
    assert _targets(p) == {"deployment:web/api": ("web", None)}
    assert p.params["resources"][0]["context"] == "stage-admin"


def test_k8s_label_values_are_validated(krt: Runtime) -> None:
    assert "reserved for Kubernetes" in _tool_error(
        krt, {"vtag": "team", "provider": "Kubernetes", "key": "kubernetes.io/team"}
    )
    assert label_value_ok("ml-platform") and label_value_ok("")
    assert not label_value_ok("x" * 64) and not label_value_ok("-bad") and not label_value_ok("a b")
    assert label_key_problem("example.com/team") is None
    assert label_key_problem("Team_Owner.v2") is None
    assert label_key_problem("bad/key/") and label_key_problem("UPPER.com/x")


# -- addressing ---------------------------------------------------------------------------------


def _c(rid: str, **kw: Any) -> Candidate:
    base: dict[str, Any] = {"provider": "AWS", "value": "x", "provenance": "rule"}
    return Candidate(resource_id=rid, **{**base, "account": ACCOUNT, "region": "eu-west-1", **kw})


def _ec2(kind: str, ident: str, region: str = "eu-west-1", part: str = "aws") -> str:
    return f"arn:{part}:ec2:{region}:{ACCOUNT}:{kind}/{ident}"


I1 = "i-0abc123def4567890"
RDS = f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders"


@pytest.mark.parametrize(
    ("candidate", "arn"),
    [
        (_c(I1), _ec2("instance", I1)),
        (_c("vol-0abc123def4567890"), _ec2("volume", "vol-0abc123def4567890")),
        (_c("snap-0abc123d"), _ec2("snapshot", "snap-0abc123d")),
        (_c("nat-0abc123def4567890"), _ec2("natgateway", "nat-0abc123def4567890")),
        (_c("eipalloc-0abc1234"), _ec2("elastic-ip", "eipalloc-0abc1234")),
        (_c(I1, region="cn-north-1"), _ec2("instance", I1, "cn-north-1", "aws-cn")),
        (_c(I1, region=None), _ec2("instance", I1, "us-east-1")),
        (_c("logs.bucket-1", service=S3), "arn:aws:s3:::logs.bucket-1"),
        (_c("logs", resource_type="Bucket", service=EC2), "arn:aws:s3:::logs"),
        (_c(RDS), RDS),
        (_c("db-ABCDEF"), None),
        (_c("logs", service=EC2), None),
        (_c(I1, account="payments-prod"), None),
        (_c(I1, region="moon-base"), None),
        (_c("arn:aws:broken"), None),
    ],
)
def test_arns_from_focus_resource_ids(candidate: Candidate, arn: str | None) -> None:
    target = arn_for(candidate, CloudSettings())
    if arn is None:
        assert isinstance(target, Skip)
    else:
        assert not isinstance(target, Skip) and target["arn"] == arn


POD = {"namespace": "web", "controller": "api", "controller_kind": "deployment", "cluster": "c1"}
DS_POD = {"namespace": "kube-system", "controller": "agent", "controller_kind": "daemonset"}
JOB_POD = {"namespace": "x", "controller": "j", "controller_kind": "job"}


@pytest.mark.parametrize(
    ("rid", "tags", "rtype", "expected"),
    [
        ("prod-eu/ml/statefulset/trainer", {}, None, ("prod-eu", "statefulset", "ml", "trainer")),
        ("ml/Deployment/api", {}, None, ("k8s", "deployment", "ml", "api")),
        ("api-7f9-x", POD, None, ("c1", "deployment", "web", "api")),
        ("ds-pod", DS_POD, None, ("k8s", "daemonset", "kube-system", "agent")),
        ("payments", {}, "Namespace", ("k8s", "namespace", "", "payments")),
        ("job-pod", JOB_POD, None, None),
        ("__idle__", {}, None, None),
        ("c/ns/deployment/Bad_Name", {}, None, None),
    ],
)
def test_kubernetes_objects_from_focus_rows(
    rid: str, tags: dict[str, str], rtype: str | None, expected: tuple[str, ...] | None
) -> None:
    c = Candidate(resource_id=rid, provider="Kubernetes", value="x", provenance="tag",
                  tags=tags, resource_type=rtype, account="k8s")  # fmt: skip
    found = locate(c)
    assert (None if isinstance(found, Skip) else found) == expected


def test_settings_come_from_the_environment() -> None:
    s = CloudSettings.from_environ(
        {
            "AWS_DEFAULT_REGION": "eu-north-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "KUBECONFIG": "/a/kc:/b/kc",
            "FINOPS_KUBE_CONTEXTS": "prod-eu=arn:aws:eks:eu-west-1:1:cluster/prod, bad",
        }
    )
    assert (s.aws_region, s.aws_endpoint_url, s.kubeconfig) == (
        "eu-north-1",
        "http://127.0.0.1:5000",
        "/a/kc",
    )
    assert s.kube_contexts == {"prod-eu": "arn:aws:eks:eu-west-1:1:cluster/prod"}
    assert CloudSettings.from_environ({}).aws_region == "us-east-1"
