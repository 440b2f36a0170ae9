"""An execution whose process died (SIGKILL) is closed with what its targets show when re-read.

A real process approves an EC2 stop (boto3 against moto's server on 127.0.0.1) and is killed
with SIGKILL mid-execution: after the instance was stopped but before the result was recorded,
or before anything was changed. Its heartbeat dies with it; once the lease (15 minutes) has
lapsed, the next `approve`, `reject`, `sweep` or `serve` start (`Runtime.resume_approved`)
re-reads the instance through the action's own read path and records what changed:

- stopped: the proposal is `done` with the change and its rollback, and `rollback_action` starts
  the instance again (before: "failed, outcome unknown", and rollback refused "changed no
  resource");
- still running: `failed`, "not applied", and nothing to roll back;
- EC2 unreachable: `failed`, outcome unknown, with the error, and rollback says so.

Never executed again either way.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from agent.runtime.runner import Runtime
from tests.helpers.agent import Clock, make_runtime, propose_via_tool, tool_error
from tools.registry import ActionSpec, ToolRegistry

SPAWN = multiprocessing.get_context("spawn")
STOP = "stop_ec2_instances"


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture
def ec2(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in _aws_env(moto_server).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("ec2", endpoint_url=moto_server)


@pytest.fixture
def rt(tmp_path: Path, ec2: Any) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "home", Clock())
    yield runtime
    runtime.close()


def _instance(ec2: Any) -> str:
    r = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m5.large")
    return str(r["Instances"][0]["InstanceId"])


def _state(ec2: Any, rid: str) -> str:
    inst = ec2.describe_instances(InstanceIds=[rid])["Reservations"][0]["Instances"][0]
    return str(inst["State"]["Name"])


def _approve_and_die(home: str, endpoint: str, pid: str, change_first: bool) -> None:
    """Approve `pid` and execute it; SIGKILL this process right after the real change (or right
    before it), so the result is never recorded."""
    os.environ.update(_aws_env(endpoint))
    rt = make_runtime(Path(home), Clock())
    real = rt.registry.actions[STOP]

    def dying(ctx: Any, proposal: Any) -> dict[str, Any]:
        if change_first:
            real.execute(ctx, proposal)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    spec = ActionSpec(name=STOP, precheck=real.precheck, execute=dying, permissions=())
    rt.registry = ToolRegistry(
        tools=dict(rt.registry.tools), actions={**rt.registry.actions, STOP: spec}
    )
    rt.approve(pid, "alice")


def _killed_mid_execution(rt: Runtime, endpoint: str, pid: str, *, change_first: bool) -> None:
    home = str(rt.app.home.path)
    proc = SPAWN.Process(target=_approve_and_die, args=(home, endpoint, pid, change_first))
    proc.start()
    proc.join(timeout=180)
    assert proc.exitcode == -signal.SIGKILL
    p = rt.ledger.get(pid)
    assert p.status == "executing" and p.started_at is not None
    assert rt.resume_approved() == [] and rt.ledger.get(pid).status == "executing"  # in its lease


def _lapse(rt: Runtime) -> None:
    clock = rt.clock
    assert isinstance(clock, Clock)
    clock.advance(minutes=16)


def _executions(rt: Runtime, pid: str) -> list[dict[str, Any]]:
    return [
        e.payload for e in rt.audit.entries(kind="execution") if e.payload["proposal_id"] == pid
    ]


def test_a_stop_applied_before_the_crash_is_recorded_and_rolled_back(
    rt: Runtime, ec2: Any, moto_server: str
) -> None:
    rid = _instance(ec2)
    p = propose_via_tool(rt, STOP, {"instance_ids": [rid]})
    _killed_mid_execution(rt, moto_server, p.id, change_first=True)
    assert _state(ec2, rid) == "stopped"
    _lapse(rt)
    assert rt.resume_approved() == []  # closes the dead execution; nothing is executed again
    done = rt.ledger.get(p.id)
    assert done.status == "done", done.result
    assert done.result is not None
    seen = f"{rid} is now stopped, the proposal saw running: the change was applied"
    assert done.result["observed"] == [seen]
    assert [(c["instance_id"], c["before"], c["state"]) for c in done.result["changed"]] == [
        (rid, "running", "stopped")
    ]
    assert done.result["rollback"]["action"] == "start_ec2_instances"
    assert done.result["lease_expired"]["executor"]
    [entry] = _executions(rt, p.id)
    assert entry["status"] == "done" and seen in entry["result"]["note"]

    back = propose_via_tool(rt, "rollback_action", {"proposal_id": p.id})
    assert back.params["action"] == "start_ec2_instances" and back.params["rollback_of"] == p.id
    assert back.params["instances"][0]["state"] == "stopped"
    assert rt.approve(back.id, "bob").proposal.status == "done"
    assert _state(ec2, rid) == "running"
    assert len(_executions(rt, p.id)) == 1
    assert rt.audit.verify().ok


def test_a_crash_before_the_stop_is_recorded_as_not_applied(
    rt: Runtime, ec2: Any, moto_server: str
) -> None:
    rid = _instance(ec2)
    p = propose_via_tool(rt, STOP, {"instance_ids": [rid]})
    _killed_mid_execution(rt, moto_server, p.id, change_first=False)
    _lapse(rt)
    rt.resume_approved()
    failed = rt.ledger.get(p.id)
    assert failed.status == "failed" and failed.result is not None
    assert "not applied" in failed.result["error"]
    assert f"{rid} is still running, as the proposal saw" in failed.result["error"]
    assert "changed no resource" not in tool_error(rt, "rollback_action", {"proposal_id": p.id})
    _lapse(rt)
    rt.resume_approved()
    assert _state(ec2, rid) == "running" and len(_executions(rt, p.id)) == 1  # never retried


def test_an_unreadable_cloud_leaves_the_outcome_unknown(
    rt: Runtime, ec2: Any, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _instance(ec2)
    p = propose_via_tool(rt, STOP, {"instance_ids": [rid]})
    _killed_mid_execution(rt, moto_server, p.id, change_first=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _lapse(rt)
    rt.resume_approved()
    unknown = rt.ledger.get(p.id)
    assert unknown.status == "failed" and unknown.result is not None
    error = unknown.result["error"]
    assert "outcome unknown" in error and "re-reading the targets failed" in error
    refusal = tool_error(rt, "rollback_action", {"proposal_id": p.id})
    assert "outcome unknown" in refusal
    assert _state(ec2, rid) == "stopped"  # as the dead executor left it
