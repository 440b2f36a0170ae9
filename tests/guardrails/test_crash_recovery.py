"""A crash between "approved" and "executed" is driven to completion, once (SQLite, PostgreSQL).

A real process records the approval through the ledger (exactly what `Runtime.approve` does
first) and is then killed with SIGKILL before it wakes the action graph: the proposal is left
`approved` and a second approval is refused. The next `approve` (even the refused one), or
`Runtime.resume_approved` (what `sweep` and `serve` call), drives it to its one execution; two
processes recovering at the same moment still execute it once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.runtime.runner import Runtime
from guardrails.approvals import ApprovalError
from tests.helpers.agent import START, Clock, call, make_runtime, scripted

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


def _propose(rt: Runtime, title: str) -> str:
    ticket = {"title": title, "owner": "payments", "priority": "low"}
    rt._models = [scripted(call("open_ticket", ticket), AIMessage("Proposed."))]
    result = rt.ask("open a ticket for payments")
    assert result.proposals, result
    return result.proposals[0]


def _approve_then_crash(home: str, url: str, pid: str) -> None:
    rt = make_runtime(Path(home), Clock(), state={"url": url})
    rt.ledger.approve(pid, "alice")  # committed; the process dies before the action graph runs
    os.kill(os.getpid(), signal.SIGKILL)


def _crash_after_approval(home: Path, url: str, pid: str) -> None:
    proc = SPAWN.Process(target=_approve_then_crash, args=(str(home), url, pid))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == -signal.SIGKILL


def _tickets(rt: Runtime, pid: str) -> int:
    return int(rt.store.query("SELECT count(*) FROM tickets WHERE proposal_id = ?", (pid,))[0][0])


def _starts(rt: Runtime, pid: str) -> int:
    entries = rt.audit.entries(kind="execution_start")
    return [e.payload["proposal_id"] for e in entries].count(pid)


def test_the_next_approve_drives_a_crashed_approval_once(tmp_path: Path, state_url: str) -> None:
    clock = Clock()
    rt = make_runtime(tmp_path / "main", clock, state={"url": state_url})
    pid = _propose(rt, "Idle EC2 in payments-prod")
    _crash_after_approval(tmp_path / "crashed", state_url, pid)
    assert rt.ledger.get(pid).status == "approved" and _tickets(rt, pid) == 0
    assert rt.resume_approved() == []  # within the grace, the approver may still be running it
    assert _tickets(rt, pid) == 0
    clock.advance(minutes=2)  # the approver's process is gone; the next approve comes later
    with pytest.raises(ApprovalError) as refused:
        rt.approve(pid, "bob")  # the approver tries again: refused, but the crash is recovered
    assert refused.value.code == "already_decided"
    assert rt.ledger.get(pid).status == "done"
    assert _tickets(rt, pid) == 1 and _starts(rt, pid) == 1
    other = _propose(rt, "Idle RDS in payments-prod")
    assert rt.approve(other, "alice").proposal.status == "done"
    assert _tickets(rt, pid) == 1 and _starts(rt, pid) == 1  # never again
    assert rt.audit.verify().ok
    rt.close()


def _resume_at_once(home: str, url: str, barrier: Any, out: Any) -> None:
    try:
        rt = make_runtime(Path(home), Clock(START + timedelta(minutes=2)), state={"url": url})
        barrier.wait(timeout=120)
        out.put(("ok", rt.resume_approved()))
        rt.close()
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc()))
        raise


def test_two_processes_recovering_at_once_execute_once(tmp_path: Path, state_url: str) -> None:
    rt = make_runtime(tmp_path / "main", Clock(), state={"url": state_url})
    pids = [_propose(rt, f"Idle EC2 #{n}") for n in range(2)]
    for n, pid in enumerate(pids):
        _crash_after_approval(tmp_path / f"crashed{n}", state_url, pid)
    assert [rt.ledger.get(pid).status for pid in pids] == ["approved", "approved"]
    barrier, out = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [
        SPAWN.Process(
            target=_resume_at_once, args=(str(tmp_path / f"r{n}"), state_url, barrier, out)
        )
        for n in range(2)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            kind, detail = out.get(timeout=240)
            assert kind == "ok", detail
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    for pid in pids:
        assert rt.ledger.get(pid).status == "done"
        assert _tickets(rt, pid) == 1 and _starts(rt, pid) == 1
    assert rt.resume_approved() == []  # a sweep or serve start afterwards finds nothing to drive
    assert all(_tickets(rt, pid) == 1 for pid in pids)
    assert rt.audit.verify().ok
    rt.close()


def test_only_the_claimer_executes_what_it_is_still_revalidating(
    tmp_path: Path, state_url: str
) -> None:
    rt = make_runtime(tmp_path / "main", Clock(), state={"url": state_url})
    pid = _propose(rt, "Idle EC2 in payments-prod")
    rt.ledger.approve(pid, "alice")
    other = make_runtime(tmp_path / "other", Clock(), state={"url": state_url})
    assert other.ledger.claim(pid, "replica-2") is not None  # mid re-validation over there
    assert rt.run_action(pid).status == "executing"  # this process does not run it
    p = rt.ledger.get(pid)
    assert p.started_at is None and _tickets(rt, pid) == 0
    other.close()
    rt.close()
