"""An execution holds a lease it renews while it runs; only one that stopped renewing is dead.

Before the heartbeat, `fail_stale` closed every execution older than the lease (15 min): an EBS
snapshot or an RDS stop that legitimately took longer was marked "failed, outcome unknown" by
the next approve or reject, while its instances were in fact changed. Tested on SQLite and on
PostgreSQL:

- with an injected clock: a renewed lease is never closed; a lapsed one is, with who held it
  and when it last beat; an executor that died before its start mark changed nothing; the re-read
  of the targets is recorded (applied: `done`; unreadable: outcome unknown); the real executor's
  late result still counts;
- with real processes: an execution running past its lease in one process, heartbeating from
  its background thread, while another process approves, rejects and recovers: it is never
  failed, and finishes `done` once;
- a state database from before migration 16 (an execution in flight, no heartbeat columns)
  upgrades in place and its lease is taken from its start.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.config import Config
from agent.runtime.runner import Runtime
from guardrails.approvals import Ledger, Observed, Proposal, ProposalDraft
from guardrails.audit import AuditLog
from guardrails.heartbeat import Heartbeat
from guardrails.settings import ApprovalsConfig
from tests.helpers.agent import START, Clock, call, make_runtime, scripted
from tools.registry import ActionSpec, ToolRegistry
from warehouse.state.migrations import STATE_MIGRATIONS, VERSIONS_TABLE
from warehouse.state.sqlcompat import split_statements, translate_ddl
from warehouse.state.store import StateStore, is_postgres_url

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, or a fresh database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(target: str) -> Iterator[StateStore]:
    s = StateStore(target)
    yield s
    s.close()


def _ledger(store: StateStore, clock: Clock) -> Ledger:
    config = Config(approvers=["alice"], approvals=ApprovalsConfig())
    return Ledger(store, AuditLog(store, clock), config, clock)


def _started(book: Ledger, *, begin: bool = True) -> Proposal:
    draft = ProposalDraft(
        action="stop_ec2_instances",
        target="aws/ec2/i-0abc",
        params={"instances": [{"instance_id": "i-0abc", "state": "running"}]},
        summary="stop an idle instance",
        rollback="start it again",
    )
    p = book.propose(draft, created_by="sweep")
    book.approve(p.id, "alice")
    assert book.claim(p.id, "finops") is not None
    if begin:
        assert book.begin_attempt(p.id)
    return book.get(p.id)


# -- the ledger, with an injected clock --------------------------------------------------------


def test_a_renewed_lease_is_never_closed_and_a_lapsed_one_is(store: StateStore) -> None:
    clock = Clock()
    book = _ledger(store, clock)
    p = _started(book)
    assert p.heartbeat_at == START and p.executor and ":" in p.executor
    for _ in range(6):  # an hour-long execution, renewing its lease every 10 minutes
        clock.advance(minutes=10)
        assert book.fail_stale() == []
        assert book.renew(p.id)
    assert book.get(p.id).status == "executing"
    clock.advance(minutes=14)
    assert book.fail_stale() == []  # 14 minutes since the last beat: still within the lease
    clock.advance(minutes=2)
    assert book.fail_stale() == [p.id]  # the executor stopped beating 16 minutes ago
    closed = book.get(p.id)
    assert closed.status == "failed" and closed.result is not None
    assert "outcome unknown" in closed.result["error"]
    assert closed.result["lease_expired"]["executor"] == p.executor
    assert (
        closed.result["lease_expired"]["last_heartbeat"] == (START + timedelta(hours=1)).isoformat()
    )
    assert book.renew(p.id) is False  # the lease is gone: a late heartbeat does not revive it
    assert book.fail_stale() == []


def test_an_executor_dead_before_its_start_mark_changed_nothing(store: StateStore) -> None:
    clock = Clock()
    book = _ledger(store, clock)
    p = _started(book, begin=False)  # claimed, died while re-validating
    seen: list[str] = []

    def observe(q: Proposal) -> Observed:
        seen.append(q.id)
        return Observed(applied=True, changes=["never asked"])

    clock.advance(minutes=16)
    assert book.fail_stale(observe) == [p.id]
    closed = book.get(p.id)
    assert closed.status == "failed" and closed.result is not None
    assert "before executing; nothing was changed" in closed.result["error"]
    assert seen == []  # nothing ran, so nothing to re-read


def test_the_re_read_is_recorded_applied_or_unknown(store: StateStore) -> None:
    clock = Clock()
    book = _ledger(store, clock)
    applied, unreadable = _started(book), _started(book)
    rollback = {"action": "start_ec2_instances", "instances": [{"instance_id": "i-0abc"}]}

    def observe(q: Proposal) -> Observed:
        if q.id == unreadable.id:
            raise ConnectionError("EC2 DescribeInstances timed out")
        line = "i-0abc is now stopped, the proposal saw running: the change was applied"
        return Observed(applied=True, changes=[line], result={"changed": [], "rollback": rollback})

    clock.advance(minutes=16)
    assert sorted(book.fail_stale(observe)) == sorted([applied.id, unreadable.id])
    done = book.get(applied.id)
    assert done.status == "done" and done.result is not None
    assert done.result["rollback"] == rollback
    assert done.result["observed"] == [
        "i-0abc is now stopped, the proposal saw running: the change was applied"
    ]
    unknown = book.get(unreadable.id)
    assert unknown.status == "failed" and unknown.result is not None
    assert "outcome unknown" in unknown.result["error"]
    assert "EC2 DescribeInstances timed out" in unknown.result["error"]
    entries = {e.payload["proposal_id"]: e.payload for e in book.audit.entries(kind="execution")}
    assert entries[applied.id]["status"] == "done"
    assert "the change was applied" in entries[applied.id]["result"]["note"]
    assert book.audit.verify().ok


def test_the_real_executors_late_result_still_counts(store: StateStore) -> None:
    clock = Clock()
    book = _ledger(store, clock)
    p = _started(book)
    clock.advance(minutes=16)  # e.g. the database was unreachable for longer than the lease
    assert book.fail_stale() == [p.id]
    late = book.finish(p.id, ok=True, result={"changed": [{"instance_id": "i-0abc"}]})
    assert late.status == "done" and late.result is not None
    assert late.result["changed"] == [{"instance_id": "i-0abc"}]
    assert "outcome unknown" in late.result["late"]["declared_dead"]["error"]
    statuses = [e.payload["status"] for e in book.audit.entries(kind="execution")]
    assert statuses == ["failed", "done"]


def test_the_heartbeat_thread_renews_until_stopped_or_taken_over() -> None:
    beats: list[int] = []
    third = threading.Event()

    def renew() -> bool:
        beats.append(1)
        if len(beats) == 2:
            raise sqlite3.OperationalError("database is locked")  # retried at the next beat
        if len(beats) == 3:
            third.set()
        return True

    with Heartbeat(renew, 0.001) as beat:
        assert third.wait(30)
    assert len(beats) >= 3 and not beat.lost  # kept beating past the error; stopped on exit
    taken = threading.Event()

    def taken_over() -> bool:
        taken.set()
        return False

    with Heartbeat(taken_over, 0.001) as lost:
        assert taken.wait(30)
    assert lost.lost


# -- real processes: a live execution past its lease ------------------------------------------


def _propose(rt: Runtime, title: str) -> str:
    ticket = {"title": title, "owner": "payments", "priority": "low"}
    rt._models = [scripted(call("open_ticket", ticket), AIMessage("Proposed."))]
    result = rt.ask("open a ticket for payments")
    assert result.proposals, result
    return result.proposals[0]


def _beaten_at(rt: Runtime, pid: str, at: Any) -> None:
    """Wait until this process's heartbeat thread has renewed the lease at `at`."""
    deadline = time.monotonic() + 60
    while (rt.ledger.get(pid).heartbeat_at or START) < at:
        assert time.monotonic() < deadline, "the heartbeat never renewed the lease"
        threading.Event().wait(0.01)


def _execute_past_the_lease(home: str, url: str, pid: str, out: Any, release: Any) -> None:
    """Approve `pid` and run it; its action takes 16 (clock) minutes and waits for `release`."""
    try:
        clock = Clock()
        approvals = {"execution_heartbeat_seconds": 0.02}
        rt = make_runtime(Path(home), clock, state={"url": url}, approvals=approvals)
        real = rt.registry.actions["open_ticket"]

        def slow(ctx: Any, proposal: Any) -> dict[str, Any]:
            clock.advance(minutes=16)  # a snapshot waiting on its volumes
            _beaten_at(rt, pid, clock())
            out.put(("running", None))
            assert release.wait(120)
            return real.execute(ctx, proposal)

        actions = {
            **rt.registry.actions,
            "open_ticket": ActionSpec(
                name="open_ticket", precheck=real.precheck, execute=slow, permissions=()
            ),
        }
        rt.registry = ToolRegistry(tools=dict(rt.registry.tools), actions=actions)
        out.put(("finished", rt.approve(pid, "alice").proposal.status))
        rt.close()
    except BaseException:
        out.put(("error", traceback.format_exc()))
        raise


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_a_live_execution_past_its_lease_is_never_failed(tmp_path: Path, state_url: str) -> None:
    clock = Clock()
    rt = make_runtime(tmp_path / "main", clock, state={"url": state_url})
    long, other, third = (_propose(rt, f"Idle EC2 #{n}") for n in range(3))
    out, release = SPAWN.Queue(), SPAWN.Event()
    proc = SPAWN.Process(
        target=_execute_past_the_lease,
        args=(str(tmp_path / "executor"), state_url, long, out, release),
    )
    proc.start()
    try:
        kind, detail = out.get(timeout=240)
        assert kind == "running", detail
        clock.advance(minutes=16)  # this process sees the execution 16 minutes after it began
        assert rt.ledger.fail_stale() == []
        assert rt.approve(other, "bob").proposal.status == "done"
        assert rt.reject(third, "bob").status == "rejected"
        assert rt.resume_approved() == []
        assert rt.ledger.get(long).status == "executing"
        release.set()
        kind, detail = out.get(timeout=240)
        assert (kind, detail) == ("finished", "done"), detail
        proc.join(timeout=120)
        assert proc.exitcode == 0
    finally:
        release.set()
        if proc.is_alive():
            proc.kill()
    executions = [e.payload for e in rt.audit.entries(kind="execution")]
    assert [(e["proposal_id"], e["status"]) for e in executions if e["proposal_id"] == long] == [
        (long, "done")
    ]
    tickets = rt.store.query("SELECT count(*) FROM tickets WHERE proposal_id = ?", (long,))
    assert int(tickets[0][0]) == 1
    assert rt.audit.verify().ok
    rt.close()


# -- a state database from before migration 16 --------------------------------------------------


def _raw(target: str, statements: list[str]) -> None:
    """Run SQLite-dialect statements without the store (as an older program would)."""
    if is_postgres_url(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as pg:
            for s in statements:
                ddl = s.lstrip().upper().startswith(("CREATE", "ALTER"))
                pg.execute(translate_ddl(s) if ddl else s)
        return
    with sqlite3.connect(target) as lite:
        for s in statements:
            lite.execute(s)
    lite.close()


def _state_at(target: str, version: int) -> None:
    """A state database migrated the way the store did, up to migration `version`."""
    statements = [VERSIONS_TABLE]
    for m in STATE_MIGRATIONS[:version]:
        statements += split_statements(m.sql)
        statements.append(
            f"INSERT INTO state_migrations VALUES ({m.version}, '{m.name}', "
            "'2026-01-01T00:00:00.000000+00:00')"
        )
    _raw(target, statements)


IN_FLIGHT = (
    "INSERT INTO proposals (id, created_at, action, target, params, summary, evidence,"
    " expected_monthly_saving, currency, risk, rollback, expires_at, action_hash, status,"
    " created_by, decided_by, decided_at, started_at) VALUES ('p-old', '{at}', 'open_ticket',"
    " 'tickets', '{{}}', 'a ticket', '{{}}', '0', 'USD', 'low', 'close it', '{expires}', 'h',"
    " 'executing', 'sweep', 'alice', '{at}', '{at}')"
)


def test_an_execution_in_flight_survives_the_upgrade_to_migration_16(target: str) -> None:
    _state_at(target, 15)
    expires = (START + timedelta(days=3)).isoformat()
    _raw(target, [IN_FLIGHT.format(at=START.isoformat(), expires=expires)])
    store = StateStore(target)  # opening upgrades in place
    try:
        versions = [r[0] for r in store.query("SELECT version FROM state_migrations")]
        assert sorted(versions) == list(range(1, 17))
        clock = Clock()
        book = _ledger(store, clock)
        old = book.get("p-old")
        assert (old.status, old.heartbeat_at, old.executor) == ("executing", None, None)
        clock.advance(minutes=10)
        assert book.fail_stale() == []  # no heartbeat yet: the lease runs from its start
        clock.advance(minutes=6)
        assert book.fail_stale() == ["p-old"]
        result = book.get("p-old").result or {}
        assert "outcome unknown" in result["error"] and result["lease_expired"]["executor"] is None
        fresh = _started(book)  # executions started after the upgrade beat and renew
        clock.advance(minutes=10)
        assert book.renew(fresh.id)
        clock.advance(minutes=10)
        assert book.fail_stale() == []
        assert book.get(fresh.id).heartbeat_at == START + timedelta(minutes=26)
    finally:
        store.close()
