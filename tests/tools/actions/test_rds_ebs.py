"""RDS stop / start and EBS snapshot-then-delete / restore through boto3 against moto's server on
127.0.0.1: the write tools only propose; an approved proposal is re-validated (state, class or
size, protection, finding, blast radius, dry run) and executed once; `rollback_action` proposes
the way back; deleting a volume needs two distinct approvers by default."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from agent.context import AppContext
from agent.runtime.runner import Runtime
from guardrails.approvals import ApprovalError, Proposal
from tests.helpers.agent import Clock, propose_via_tool, tool_error
from tests.helpers.optimize import add_costs, add_resource, add_util, daily_bill, hourly
from tools.optimize.models import finding_id
from warehouse.db import connect

APPROVERS = "approvers: [alice, bob, carol]\n"


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """EC2 and RDS clients on a freshly reset moto server; the code under test reaches the same
    server through AWS_ENDPOINT_URL."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset) as resp:
        assert resp.status == 200
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return {name: session.client(name, endpoint_url=moto_server) for name in ("ec2", "rds", "sts")}


def _db(rds: Any, name: str, tags: dict[str, str] | None = None, **extra: Any) -> str:
    r = rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin1",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        **extra,
    )
    return str(r["DBInstance"]["DBInstanceArn"])


def _volume(ec2: Any, size: int = 100, tags: dict[str, str] | None = None) -> str:
    pairs = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    spec = [{"ResourceType": "volume", "Tags": pairs}]
    v = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=size,
        VolumeType="gp3",
        **({"TagSpecifications": spec} if tags else {}),
    )
    return str(v["VolumeId"])


def _instance(ec2: Any) -> str:
    r = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro")
    return str(r["Instances"][0]["InstanceId"])


@dataclass
class World:
    rt: Runtime
    ec2: Any
    rds: Any
    home: Path
    reports_arn: str  # RDS "reports": no connection for 14 days, billed 3/day
    orphan: str  # gp3 100 GiB unattached, tags team=data, billed 0.25/day

    def db(self, name: str) -> tuple[str, str]:
        d = self.rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        return d["DBInstanceStatus"], d["DBInstanceClass"]

    def volume(self, vid: str) -> dict[str, Any] | None:
        found = self.ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [vid]}])
        return found["Volumes"][0] if found["Volumes"] else None

    def snapshots_of(self, vid: str) -> list[dict[str, Any]]:
        f = [{"Name": "tag:finops:source-volume", "Values": [vid]}]
        return list(self.ec2.describe_snapshots(OwnerIds=["self"], Filters=f)["Snapshots"])

    def reopen(self, yaml: str) -> None:
        """Restart the runtime on a new finops.yaml (config is read at start)."""
        self.rt.close()
        (self.home / "finops.yaml").write_text(APPROVERS + yaml)
        self.rt = Runtime(AppContext.create(self.home), clock=Clock(), environ={})

    def set_connections(self, arn: str, per_day: float) -> None:
        con = connect(self.home / "warehouse.duckdb")
        con.execute("DELETE FROM utilization WHERE resource_id = ?", [arn])
        add_util(con, arn, "db_connections", hourly([per_day] * 14))
        con.close()


@pytest.fixture
def world(tmp_path: Path, aws: dict[str, Any]) -> Iterator[World]:
    ec2, rds = aws["ec2"], aws["rds"]
    arn = _db(rds, "reports", {"team": "bi"})
    orphan = _volume(ec2, 100, {"team": "data", "Name": "old-scratch"})
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(APPROVERS)
    con = connect(home / "warehouse.duckdb")
    add_resource(con, arn, "rds_instance", instance_type="db.t3.micro", state="available")
    add_costs(
        con,
        daily_bill(
            arn,
            3,
            ServiceName="Amazon Relational Database Service",
            ServiceCategory="Databases",
        ),
    )
    props = {"size_gib": 100, "volume_type": "gp3", "availability_zone": "us-east-1a"}
    add_resource(con, orphan, "ebs_volume", state="available", attached=False, properties=props)
    add_costs(con, daily_bill(orphan, "0.25"))
    con.close()
    w = World(
        Runtime(AppContext.create(home), clock=Clock(), environ={}), ec2, rds, home, arn, orphan
    )
    w.set_connections(arn, 0)
    yield w
    w.rt.close()


def _executions(rt: Runtime) -> int:
    """Executions that finished done (a failed re-validation is audited as failed)."""
    entries = rt.audit.entries()
    return sum(e.kind == "execution" and e.payload.get("status") == "done" for e in entries)


def _error(p: Proposal) -> str:
    return str((p.result or {}).get("error", ""))


# -- RDS ----------------------------------------------------------------------------------------


def test_stop_rds_from_idle_finding_once_and_rollback_starts_it(world: World) -> None:
    w = world
    fid = finding_id("rds_idle", f"aws|{w.reports_arn}")
    p = propose_via_tool(w.rt, "stop_rds_instance", {"finding_ids": [fid]})
    assert (p.status, p.action, p.risk) == ("pending", "stop_rds_instance", "medium")
    [t] = p.params["db_instances"]
    assert (t["db_instance_id"], t["state"], t["instance_class"], t["engine"]) == (
        "reports",
        "available",
        "db.t3.micro",
        "postgres",
    )
    assert t["finding_id"] == fid and t["monthly_cost"] == "91.25"  # 3/day × 730 h / 24
    assert p.expected_monthly_saving == Decimal("91.25")
    assert "AWS starts it again after 7 days" in p.summary and "USD 21.00" in p.summary
    assert "after 7 days" in p.rollback and "rollback_action" in p.rollback
    assert "RDS has no DryRun" in p.evidence["dry_run"]
    assert w.db("reports") == ("available", "db.t3.micro")  # a proposal changes nothing

    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done", done.result
    assert w.db("reports")[0] == "stopped"
    assert done.result is not None and done.result["rollback"]["action"] == "start_rds_instance"
    assert [(c["db_instance_id"], c["before"], c["state"]) for c in done.result["changed"]] == [
        ("reports", "available", "stopped")
    ]
    assert w.rt.run_action(p.id).status == "done" and _executions(w.rt) == 1

    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert (back.action, back.params["action"], back.params["rollback_of"]) == (
        "rollback_action",
        "start_rds_instance",
        p.id,
    )
    assert w.db("reports")[0] == "stopped"
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    assert w.db("reports")[0] == "available" and _executions(w.rt) == 2


def test_start_rds_explicit_and_state_checks(world: World) -> None:
    w = world
    _db(w.rds, "spare")
    err = tool_error(w.rt, "start_rds_instance", {"db_instance_ids": ["spare"]})
    assert "spare: is available, must be stopped" in err
    w.rds.stop_db_instance(DBInstanceIdentifier="spare")
    err = tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["spare"]})
    assert "spare: is stopped, must be available" in err
    arn = "arn:aws:rds:us-east-1:123456789012:db:spare"
    p = propose_via_tool(w.rt, "start_rds_instance", {"db_instance_ids": [arn]})
    assert p.params["db_instances"][0]["monthly_cost"] is None  # no bills: flagged, counts 0
    assert p.evidence["db_instances"][0]["cost_known"] is False and p.risk == "low"
    assert w.rt.approve(p.id, "alice").proposal.status == "done"
    assert w.db("spare")[0] == "available"


def test_rds_refusals_at_proposal(world: World) -> None:
    w = world
    _db(w.rds, "guarded", {"finops:protected": "True"})
    err = tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["reports", "guarded"]})
    assert "guarded: protected by tag finops:protected=True" in err
    _db(w.rds, "primary")
    w.rds.create_db_instance_read_replica(
        DBInstanceIdentifier="replica", SourceDBInstanceIdentifier="primary"
    )
    err = tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["replica"]})
    assert "replica: is a read replica of primary" in err
    err = tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["primary"]})
    assert "primary: has read replica(s) replica" in err
    assert "nope: not found" in tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["nope"]})
    assert "not an RDS DB instance" in tool_error(
        w.rt, "stop_rds_instance", {"db_instance_ids": ["vol-0123"]}
    )
    ebs_fid = finding_id("ebs_unattached", f"aws|{w.orphan}")
    assert "not stop_db_instance on an RDS DB instance" in tool_error(
        w.rt, "stop_rds_instance", {"finding_ids": [ebs_fid]}
    )
    assert w.rt.ledger.proposals() == []
    assert {w.db(n)[0] for n in ("guarded", "primary", "replica", "reports")} == {"available"}


@pytest.mark.parametrize("drift", ["stopped", "resized", "protected", "busy"])
def test_rds_drift_before_approval_fails_and_changes_nothing(world: World, drift: str) -> None:
    w = world
    fid = finding_id("rds_idle", f"aws|{w.reports_arn}")
    p = propose_via_tool(w.rt, "stop_rds_instance", {"finding_ids": [fid]})
    if drift == "stopped":
        w.rds.stop_db_instance(DBInstanceIdentifier="reports")
        why = "reports is now stopped, the proposal saw available"
    elif drift == "resized":
        w.rds.modify_db_instance(
            DBInstanceIdentifier="reports", DBInstanceClass="db.t3.small", ApplyImmediately=True
        )
        why = "reports class is now db.t3.small, the proposal saw db.t3.micro"
    elif drift == "protected":
        tag = [{"Key": "finops:protected", "Value": "true"}]
        w.rds.add_tags_to_resource(ResourceName=w.reports_arn, Tags=tag)
        why = "reports is now protected by tag finops:protected=true"
    else:
        w.set_connections(w.reports_arn, 12)
        why = f"reports: finding {fid} no longer holds"
    before = w.db("reports")
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    assert "re-validation failed" in _error(done) and why in _error(done)
    assert w.db("reports") == before and _executions(w.rt) == 0
    assert "changed no resource" in tool_error(w.rt, "rollback_action", {"proposal_id": p.id})


def test_rds_blast_radius(world: World) -> None:
    w = world
    _db(w.rds, "spare")
    w.reopen("actions: {max_resources_per_proposal: 1}\n")
    err = tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["reports", "spare"]})
    assert "2 resources exceed actions.max_resources_per_proposal (1)" in err
    w.reopen("actions: {max_monthly_spend_per_proposal: 50}\n")
    err = tool_error(w.rt, "stop_rds_instance", {"db_instance_ids": ["reports"]})
    assert "USD 91.25/month affected exceeds actions.max_monthly_spend_per_proposal" in err
    w.reopen("")
    p = propose_via_tool(w.rt, "stop_rds_instance", {"db_instance_ids": ["reports", "spare"]})
    w.reopen("actions: {max_resources_per_proposal: 1}\n")  # tightened after the proposal
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed" and "max_resources_per_proposal" in _error(done)
    assert w.db("reports")[0] == w.db("spare")[0] == "available"


def test_global_dry_run_revalidates_and_changes_nothing(world: World) -> None:
    w = world
    w.reopen("approvals: {dry_run: true}\n")
    p = propose_via_tool(w.rt, "stop_rds_instance", {"db_instance_ids": ["reports"]})
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done" and (done.result or {}).get("dry_run") is True
    assert w.db("reports")[0] == "available"
    p = propose_via_tool(w.rt, "delete_ebs_volume", {"volume_ids": [w.orphan]})
    assert w.rt.approve(p.id, "alice").outcome == "awaiting_second_approver"
    done = w.rt.approve(p.id, "bob").proposal
    assert done.status == "done" and (done.result or {}).get("dry_run") is True
    assert w.volume(w.orphan) is not None and w.snapshots_of(w.orphan) == []


# -- EBS ----------------------------------------------------------------------------------------


def test_delete_volume_two_approvers_snapshot_then_delete_then_restore(world: World) -> None:
    w = world
    fid = finding_id("ebs_unattached", f"aws|{w.orphan}")
    p = propose_via_tool(w.rt, "delete_ebs_volume", {"finding_ids": [fid]})
    assert (p.status, p.action, p.risk) == ("pending", "delete_ebs_volume", "high")
    [t] = p.params["volumes"]
    assert (t["volume_id"], t["state"], t["size_gib"], t["volume_type"]) == (
        w.orphan,
        "available",
        100,
        "gp3",
    )
    assert t["availability_zone"] == "us-east-1a" and t["finding_id"] == fid
    assert p.expected_monthly_saving == Decimal("7.60")  # 0.25/day × 730 / 24
    assert "snapshot(s) cost at most USD 5.00/month" in p.summary
    assert "irreversible" in p.rollback and "restore_ebs_volume" in p.rollback

    first = w.rt.approve(p.id, "alice")
    assert first.outcome == "awaiting_second_approver"
    assert first.proposal.status == "pending" and [v.approver for v in first.proposal.votes] == [
        "alice"
    ]
    assert w.volume(w.orphan) is not None and w.snapshots_of(w.orphan) == []
    with pytest.raises(ApprovalError, match="already approved"):
        w.rt.approve(p.id, "alice")
    assert w.volume(w.orphan) is not None and _executions(w.rt) == 0

    done = w.rt.approve(p.id, "bob").proposal
    assert done.status == "done", done.result
    assert w.volume(w.orphan) is None
    [snap] = w.snapshots_of(w.orphan)
    tags = {x["Key"]: x["Value"] for x in snap["Tags"]}
    assert snap["State"] == "completed" and tags["finops:proposal"] == p.id
    assert tags["team"] == "data"
    assert done.result is not None
    assert done.result["snapshots"] == {w.orphan: snap["SnapshotId"]}
    assert done.result["rollback"]["action"] == "restore_ebs_volume"
    assert w.rt.run_action(p.id).status == "done" and _executions(w.rt) == 1

    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert (back.params["action"], back.params["rollback_of"]) == ("restore_ebs_volume", p.id)
    assert snap["SnapshotId"] in back.summary and back.risk == "low"
    restored = w.rt.approve(back.id, "carol").proposal  # a restore needs one approver
    assert restored.status == "done", restored.result
    new_id = (restored.result or {})["changed"][0]["restored_volume_id"]
    new = w.volume(new_id)
    assert new is not None and new_id != w.orphan
    assert (new["AvailabilityZone"], new["VolumeType"], new["Size"], new["State"]) == (
        "us-east-1a",
        "gp3",
        100,
        "available",
    )
    assert new["SnapshotId"] == snap["SnapshotId"]
    new_tags = {x["Key"]: x["Value"] for x in new["Tags"]}
    assert new_tags == {
        "team": "data",
        "Name": "old-scratch",
        "finops:restored-from": snap["SnapshotId"],
    }


@pytest.mark.parametrize("drift", ["attached", "resized", "protected", "deleted"])
def test_volume_drift_before_approval_fails_and_deletes_nothing(world: World, drift: str) -> None:
    w = world
    p = propose_via_tool(w.rt, "delete_ebs_volume", {"volume_ids": [w.orphan]})
    assert p.params["volumes"][0]["finding_id"] is not None  # the finding is attached by id
    if drift == "attached":
        instance = _instance(w.ec2)
        w.ec2.attach_volume(VolumeId=w.orphan, InstanceId=instance, Device="/dev/sdf")
        why = f"is now in-use, attached to {instance}"
    elif drift == "resized":
        w.ec2.modify_volume(VolumeId=w.orphan, Size=200)
        why = "is now gp3 200 GiB, the proposal saw gp3 100 GiB"
    elif drift == "protected":
        w.ec2.create_tags(Resources=[w.orphan], Tags=[{"Key": "finops:protected", "Value": "true"}])
        why = "is now protected by tag finops:protected=true"
    else:
        w.ec2.delete_volume(VolumeId=w.orphan)
        why = "no longer exists"
    assert w.rt.approve(p.id, "alice").outcome == "awaiting_second_approver"
    done = w.rt.approve(p.id, "bob").proposal
    assert done.status == "failed"
    assert "re-validation failed" in _error(done) and why in _error(done)
    assert w.snapshots_of(w.orphan) == [] and _executions(w.rt) == 0
    if drift != "deleted":
        assert w.volume(w.orphan) is not None


def test_volume_refusals_at_proposal(world: World) -> None:
    w = world
    guarded = _volume(w.ec2, 10, {"finops:protected": "true"})
    err = tool_error(w.rt, "delete_ebs_volume", {"volume_ids": [w.orphan, guarded]})
    assert f"{guarded}: protected by tag finops:protected=true" in err
    used = _volume(w.ec2, 10)
    instance = _instance(w.ec2)
    w.ec2.attach_volume(VolumeId=used, InstanceId=instance, Device="/dev/sdf")
    err = tool_error(w.rt, "delete_ebs_volume", {"volume_ids": [used]})
    assert f"attached to {instance}" in err and "only unattached (available)" in err
    assert "is not an EBS volume id" in tool_error(
        w.rt, "delete_ebs_volume", {"volume_ids": ["i-0123456789abcdef0"]}
    )
    rds_fid = finding_id("rds_idle", f"aws|{w.reports_arn}")
    assert "not snapshot_and_delete_volume on an EBS volume" in tool_error(
        w.rt, "delete_ebs_volume", {"finding_ids": [rds_fid]}
    )
    assert w.rt.ledger.proposals() == []
    assert all(w.volume(v) is not None for v in (w.orphan, guarded, used))


def test_volume_without_bills_uses_list_price_and_blast_radius(world: World) -> None:
    w = world
    fresh = _volume(w.ec2, 50)
    p = propose_via_tool(w.rt, "delete_ebs_volume", {"volume_ids": [fresh]})
    assert p.params["volumes"][0]["monthly_cost"] == "4.00"  # 50 GiB × USD 0.08 gp3 list
    assert p.evidence["volumes"][0]["cost_source"] == "list price (no bills)"
    w.reopen("actions: {max_resources_per_proposal: 1}\n")
    err = tool_error(w.rt, "delete_ebs_volume", {"volume_ids": [w.orphan, fresh]})
    assert "2 resources exceed actions.max_resources_per_proposal (1)" in err
    w.reopen("actions: {max_monthly_spend_per_proposal: 5}\n")
    err = tool_error(w.rt, "delete_ebs_volume", {"volume_ids": [w.orphan]})
    assert "USD 7.60/month affected exceeds" in err
    assert w.volume(w.orphan) is not None and w.volume(fresh) is not None


def test_restore_refused_when_snapshot_is_gone(world: World) -> None:
    w = world
    w.reopen("approvals: {two_person: []}\n")  # the default is the user's to change
    p = propose_via_tool(w.rt, "delete_ebs_volume", {"volume_ids": [w.orphan]})
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done" and w.volume(w.orphan) is None
    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    w.ec2.delete_snapshot(SnapshotId=(done.result or {})["snapshots"][w.orphan])
    failed = w.rt.approve(back.id, "bob").proposal
    assert failed.status == "failed" and "no longer exists; nothing to restore from" in _error(
        failed
    )
    assert w.ec2.describe_volumes()["Volumes"] == []
