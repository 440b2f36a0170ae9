"""Optimization actions on EC2 through boto3 against moto's server on 127.0.0.1: the write tools
only propose; an approved proposal is re-validated (state, type, protection, finding, blast
radius, dry run) and executed once; `rollback_action` proposes the exact reverse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from agent.context import AppContext
from agent.runtime.runner import Runtime
from tests.helpers.agent import Clock, propose_via_tool, tool_error
from tests.helpers.cli import run_cli
from tests.helpers.optimize import END, add_costs, add_resource, add_util, daily_bill, hourly
from tools.actions.config import ActionsConfig, actions_settings
from tools.optimize.models import finding_id
from warehouse.db import connect

MB = 1_000_000


@pytest.fixture
def ec2(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("ec2", endpoint_url=moto_server)


def _instance(ec2: Any, instance_type: str, tags: dict[str, str] | None = None) -> str:
    spec = (
        [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        if tags
        else []
    )
    r = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        TagSpecifications=spec,
    )
    return str(r["Instances"][0]["InstanceId"])


def _live(ec2: Any, rid: str) -> tuple[str, str]:
    inst = ec2.describe_instances(InstanceIds=[rid])["Reservations"][0]["Instances"][0]
    return inst["State"]["Name"], inst["InstanceType"]


def _profile(level: float, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + rng.normal(0, spread, 14 * 24), 0.1, 100)


@dataclass
class World:
    rt: Runtime
    ec2: Any
    home: Path
    idle: str  # m5.xlarge, idle 14 of 14 days, billed 4.608/day
    idle2: str  # m5.xlarge, idle, billed 4.608/day
    big: str  # m5.4xlarge at ~15% CPU: rightsize to m5.xlarge
    stopped: str  # m5.large, stopped, billed 2/day

    def fid(self, rule: str, rid: str) -> str:
        return finding_id(rule, f"aws|{rid}")

    def reopen(self, yaml: str) -> None:
        """Restart the runtime on a new finops.yaml (config is read at start)."""
        self.rt.close()
        (self.home / "finops.yaml").write_text("approvers: [alice, bob]\n" + yaml)
        self.rt = Runtime(AppContext.create(self.home), clock=Clock(), environ={})

    def set_idle(self, rid: str, idle: bool) -> None:
        """Rewrite the instance's utilization (the runtime's read-only connection is closed
        between calls)."""
        con = connect(self.home / "warehouse.duckdb")
        con.execute("DELETE FROM utilization WHERE resource_id = ?", [rid])
        cpu, net = (2.0, 1 * MB) if idle else (60.0, 900 * MB)
        add_util(con, rid, "cpu_percent", hourly([cpu] * 14))
        add_util(con, rid, "network_in_bytes", hourly([[net] + [0.0] * 23] * 14))
        con.close()


@pytest.fixture
def world(tmp_path: Path, ec2: Any) -> Iterator[World]:
    idle, idle2 = _instance(ec2, "m5.xlarge"), _instance(ec2, "m5.xlarge")
    big, stopped = _instance(ec2, "m5.4xlarge"), _instance(ec2, "m5.large")
    ec2.stop_instances(InstanceIds=[stopped])
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text("approvers: [alice, bob]\n")
    con = connect(home / "warehouse.duckdb")
    for rid in (idle, idle2):
        add_resource(con, rid, instance_type="m5.xlarge")
        add_costs(con, daily_bill(rid, 4.608))
    add_resource(con, big, instance_type="m5.4xlarge")
    start = datetime(END.year, END.month, END.day) - timedelta(hours=13 * 24)
    add_util(con, big, "cpu_percent", _profile(15, 2, 1), start=start)
    add_util(con, big, "memory_percent", _profile(10, 1, 2), start=start)
    add_util(con, big, "network_in_bytes", np.full(14 * 24, 5e8), start=start)
    add_costs(con, daily_bill(big, 18.432))
    add_resource(con, stopped, instance_type="m5.large", state="stopped")
    add_costs(con, daily_bill(stopped, 2))
    con.close()
    rt = Runtime(AppContext.create(home), clock=Clock(), environ={})
    w = World(rt, ec2, home, idle, idle2, big, stopped)
    for rid in (idle, idle2):
        w.set_idle(rid, True)
    yield w
    w.rt.close()


def _executions(rt: Runtime) -> int:
    return [e.kind for e in rt.audit.entries()].count("execution")


# -- stop / start -------------------------------------------------------------------------------


def test_stop_from_finding_runs_once_after_approval_and_rollback_restarts(world: World) -> None:
    w = world
    fid = w.fid("ec2_low_utilization", w.idle)
    p = propose_via_tool(w.rt, "stop_ec2_instances", {"finding_ids": [fid]})
    assert (p.status, p.action, p.risk) == ("pending", "stop_ec2_instances", "medium")
    [t] = p.params["instances"]
    assert (t["instance_id"], t["state"], t["instance_type"]) == (w.idle, "running", "m5.xlarge")
    assert t["finding_id"] == fid and t["saving"] == "140.16" and t["monthly_cost"] == "140.16"
    assert p.expected_monthly_saving == Decimal("140.16")
    assert w.idle in p.summary and "USD 140.16/month" in p.summary
    assert p.evidence["instances"][0]["finding"]["rule"] == "ec2_low_utilization"
    assert "rollback_action" in p.rollback
    assert _live(w.ec2, w.idle) == ("running", "m5.xlarge")  # a proposal changes nothing

    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done", done.result
    assert _live(w.ec2, w.idle)[0] == "stopped"
    assert _live(w.ec2, w.idle2)[0] == "running"
    assert done.result is not None
    assert [(c["instance_id"], c["before"], c["state"]) for c in done.result["changed"]] == [
        (w.idle, "running", "stopped")
    ]
    assert done.result["rollback"]["action"] == "start_ec2_instances"
    w.ec2.start_instances(InstanceIds=[w.idle])
    assert w.rt.run_action(p.id).status == "done"  # a second wake-up executes nothing
    assert _live(w.ec2, w.idle)[0] == "running" and _executions(w.rt) == 1
    w.ec2.stop_instances(InstanceIds=[w.idle])

    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert back.action == "rollback_action" and back.params["rollback_of"] == p.id
    assert back.params["action"] == "start_ec2_instances"
    assert back.params["instances"][0]["state"] == "stopped"
    assert _live(w.ec2, w.idle)[0] == "stopped"
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    assert _live(w.ec2, w.idle)[0] == "running"
    again = propose_via_tool(w.rt, "rollback_action", {"proposal_id": back.id})
    assert again.params["action"] == "stop_ec2_instances" and again.params["rollback_of"] == back.id


def test_start_explicit_instance(world: World) -> None:
    w = world
    p = propose_via_tool(w.rt, "start_ec2_instances", {"instance_ids": [w.stopped]})
    assert p.params["instances"][0]["monthly_cost"] == "60.83"  # 2/day × 730 / 24
    assert p.expected_monthly_saving == 0 and "resumes about USD 60.83/month" in p.summary
    assert _live(w.ec2, w.stopped)[0] == "stopped"
    assert w.rt.approve(p.id, "alice").proposal.status == "done"
    assert _live(w.ec2, w.stopped)[0] == "running"
    err = tool_error(w.rt, "start_ec2_instances", {"instance_ids": [w.idle]})
    assert "is running, must be stopped" in err


def test_reject_changes_nothing(world: World) -> None:
    w = world
    p = propose_via_tool(w.rt, "stop_ec2_instances", {"instance_ids": [w.idle, w.idle2]})
    assert len(p.params["instances"]) == 2
    assert p.expected_monthly_saving == Decimal("280.32")
    assert w.rt.reject(p.id, "bob", "not now").status == "rejected"
    assert _live(w.ec2, w.idle)[0] == _live(w.ec2, w.idle2)[0] == "running"
    assert _executions(w.rt) == 0
    err = tool_error(w.rt, "rollback_action", {"proposal_id": p.id})
    assert "is rejected and changed no resource" in err


@pytest.mark.parametrize("drift", ["stopped", "terminated", "retyped", "busy", "protected"])
def test_drift_before_approval_fails_and_changes_nothing(world: World, drift: str) -> None:
    w = world
    fid = w.fid("ec2_low_utilization", w.idle)
    p = propose_via_tool(w.rt, "stop_ec2_instances", {"finding_ids": [fid]})
    if drift == "stopped":
        w.ec2.stop_instances(InstanceIds=[w.idle])
        why = "is now stopped, the proposal saw running"
    elif drift == "terminated":
        w.ec2.terminate_instances(InstanceIds=[w.idle])
        why = "no longer exists"
    elif drift == "retyped":
        w.ec2.stop_instances(InstanceIds=[w.idle])
        w.ec2.modify_instance_attribute(InstanceId=w.idle, InstanceType={"Value": "m5.large"})
        w.ec2.start_instances(InstanceIds=[w.idle])
        why = "type is now m5.large, the proposal saw m5.xlarge"
    elif drift == "busy":
        w.set_idle(w.idle, False)
        why = f"finding {fid} no longer holds on the latest utilization"
    else:
        tag = [{"Key": "finops:protected", "Value": "true"}]
        w.ec2.create_tags(Resources=[w.idle], Tags=tag)
        why = "is now protected by tag finops:protected=true"
    before = _live(w.ec2, w.idle) if drift != "terminated" else None
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    assert (
        why in (done.result or {})["error"]
        and "re-validation failed" in (done.result or {})["error"]
    )
    if before is not None:
        assert _live(w.ec2, w.idle) == before
    assert "changed no resource" in tool_error(w.rt, "rollback_action", {"proposal_id": p.id})


def test_protected_instance_is_refused_at_proposal(world: World, ec2: Any) -> None:
    w = world
    guarded = _instance(ec2, "m5.xlarge", {"finops:protected": "TRUE", "team": "core"})
    err = tool_error(w.rt, "stop_ec2_instances", {"instance_ids": [w.idle, guarded]})
    assert f"{guarded}: protected by tag finops:protected=TRUE" in err
    assert _live(ec2, guarded)[0] == "running" and w.rt.ledger.proposals() == []


def test_blast_radius_limits(world: World) -> None:
    w = world
    assert actions_settings(w.rt.app.config) == ActionsConfig()
    w.reopen("actions: {max_resources_per_proposal: 1}\n")
    err = tool_error(w.rt, "stop_ec2_instances", {"instance_ids": [w.idle, w.idle2]})
    assert "2 resources exceed actions.max_resources_per_proposal (1)" in err
    w.reopen("actions: {max_monthly_spend_per_proposal: 100}\n")
    err = tool_error(w.rt, "stop_ec2_instances", {"instance_ids": [w.idle]})
    assert "USD 140.16/month affected exceeds actions.max_monthly_spend_per_proposal" in err
    # tightened after the proposal: refused at re-validation
    w.reopen("")
    p = propose_via_tool(w.rt, "stop_ec2_instances", {"instance_ids": [w.idle, w.idle2]})
    w.reopen("actions: {max_resources_per_proposal: 1}\n")
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed" and "max_resources_per_proposal" in (done.result or {})["error"]
    assert _live(w.ec2, w.idle)[0] == _live(w.ec2, w.idle2)[0] == "running"


def test_bad_inputs_are_refused(world: World) -> None:
    w = world
    assert "no current optimization finding" in tool_error(
        w.rt, "stop_ec2_instances", {"finding_ids": ["opt-000000000000"]}
    )
    resize_fid = w.fid("instance_rightsize", w.big)
    assert "not stop_instance on an EC2 instance" in tool_error(
        w.rt, "stop_ec2_instances", {"finding_ids": [resize_fid]}
    )
    assert "not found" in tool_error(
        w.rt, "stop_ec2_instances", {"instance_ids": ["i-0123456789abcdef0"]}
    )


# -- resize -------------------------------------------------------------------------------------


def test_resize_from_finding_and_rollback(world: World) -> None:
    w = world
    fid = w.fid("instance_rightsize", w.big)
    p = propose_via_tool(w.rt, "resize_ec2_instance", {"finding_id": fid})
    [t] = p.params["instances"]
    assert (t["instance_type"], t["to_type"], t["state"]) == ("m5.4xlarge", "m5.xlarge", "running")
    assert p.expected_monthly_saving > 0 and "from m5.4xlarge to m5.xlarge" in p.summary
    assert _live(w.ec2, w.big) == ("running", "m5.4xlarge")
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "done", done.result
    assert _live(w.ec2, w.big) == ("running", "m5.xlarge")
    change = done.result["changed"][0]  # type: ignore[index]
    assert (change["from_type"], change["to_type"], change["before"]) == (
        "m5.4xlarge",
        "m5.xlarge",
        "running",
    )
    back = propose_via_tool(w.rt, "rollback_action", {"proposal_id": p.id})
    assert back.action == "rollback_action" and back.params["action"] == "resize_ec2_instance"
    assert back.params["rollback_of"] == p.id
    assert back.params["instances"][0]["to_type"] == "m5.4xlarge"
    assert w.rt.approve(back.id, "bob").proposal.status == "done"
    assert _live(w.ec2, w.big) == ("running", "m5.4xlarge")
    assert _executions(w.rt) == 2


def test_resize_refuses_changed_type_and_unknown_type(world: World) -> None:
    w = world
    err = tool_error(
        w.rt, "resize_ec2_instance", {"instance_id": w.big, "instance_type": "m5.bogus"}
    )
    assert "m5.bogus is not offered in us-east-1" in err
    p = propose_via_tool(
        w.rt, "resize_ec2_instance", {"instance_id": w.big, "instance_type": "m5.large"}
    )
    assert p.params["instances"][0]["finding_id"] is None
    w.ec2.stop_instances(InstanceIds=[w.big])
    w.ec2.modify_instance_attribute(InstanceId=w.big, InstanceType={"Value": "m5.2xlarge"})
    w.ec2.start_instances(InstanceIds=[w.big])
    done = w.rt.approve(p.id, "alice").proposal
    assert done.status == "failed"
    assert "type is now m5.2xlarge, the proposal saw m5.4xlarge" in (done.result or {})["error"]
    assert _live(w.ec2, w.big) == ("running", "m5.2xlarge")


def test_cli_rollback_proposes_the_reverse_and_changes_nothing_until_approved(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    w = world
    p = propose_via_tool(w.rt, "stop_ec2_instances", {"instance_ids": [w.idle]})
    assert w.rt.approve(p.id, "alice").proposal.status == "done"
    w.rt.close()
    home = str(w.home)
    bad = run_cli(capsys, "--home", home, "rollback", "p-nope", "--by", "carol")
    assert bad.code == 1 and "p-nope" in bad.err
    res = run_cli(capsys, "--home", home, "rollback", p.id, "--by", "carol", "--json")
    assert res.code == 0, res.err
    back = res.json()
    assert (back["action"], back["status"]) == ("rollback_action", "pending")
    assert back["params"]["action"] == "start_ec2_instances"
    assert back["params"]["rollback_of"] == p.id and back["created_by"] == "carol"
    assert _live(w.ec2, w.idle)[0] == "stopped"  # proposing changed nothing
    res = run_cli(capsys, "--home", home, "approve", back["id"], "--by", "bob", "--json")
    assert res.code == 0, res.err
    assert _live(w.ec2, w.idle)[0] == "running"
    again = run_cli(capsys, "--home", home, "rollback", p.id, "--by", "carol", "--json")
    assert again.code == 0  # proposing twice is allowed; executing twice is not
    res = run_cli(capsys, "--home", home, "approve", again.json()["id"], "--by", "bob", "--json")
    assert res.json()["proposal"]["status"] == "failed"
    assert "is now running" in res.json()["proposal"]["result"]["error"]
