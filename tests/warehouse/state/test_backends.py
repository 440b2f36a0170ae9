"""The operational state on both backends: SQLite (default) and a real PostgreSQL server.

The same tests run on each: migrations, the approvals ledger (propose, approve, two-person,
expiry, claim at most once), the audit chain, the self-budget meter, LangGraph checkpoints
(interrupt in one connection, resume in another), a scheduler-lock style unique insert, and the
whole runtime on PostgreSQL with two processes approving and claiming the same proposal at once.
"""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agent.config import Config
from agent.runtime.checkpoints import open_checkpointer
from agent.runtime.runner import Runtime
from guardrails.approvals import ApprovalError, Ledger, ProposalDraft
from guardrails.audit import AuditLog
from guardrails.budget import BudgetExceeded, BudgetMeter, Usage
from guardrails.settings import ApprovalsConfig, BudgetConfig
from tests.helpers.agent import Clock, call, make_runtime, scripted
from tools.tickets.links import TicketLinks
from warehouse.ingest.ai_common import load_price_table
from warehouse.state.migrations import STATE_MIGRATIONS
from warehouse.state.store import StateStore

TICKET = {"title": "Idle EC2 in payments-prod", "owner": "payments", "priority": "low"}
SONNET = ("anthropic", "claude-sonnet-4-6")  # 15 USD per 1M output tokens


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the state lives: a SQLite file, or a fresh database on the test PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(target: str) -> Iterator[StateStore]:
    s = StateStore(target)
    yield s
    s.close()


def ledger(store: StateStore, clock: Clock, **approvals: Any) -> Ledger:
    config = Config(approvers=["alice", "bob"], approvals=ApprovalsConfig(**approvals))
    return Ledger(store, AuditLog(store, clock), config, clock)


def draft(target: str = "i-0abc") -> ProposalDraft:
    return ProposalDraft(
        action="stop_instance",
        target=target,
        params={"region": "eu-west-1"},
        summary="stop idle instance",
        rollback="start it again",
        owner=None,
        expected_monthly_saving=Decimal("41.20"),
    )


# --- migrations ------------------------------------------------------------------------------


def test_migrations_apply_once_and_are_recorded(target: str) -> None:
    first = StateStore(target)
    versions = [v for v, _, _ in STATE_MIGRATIONS]
    recorded = first.query("SELECT version, name FROM state_migrations ORDER BY version")
    assert [(r["version"], r[1]) for r in recorded] == [(v, n) for v, n, _ in STATE_MIGRATIONS]
    second = StateStore(target)  # another process opening the same database
    assert second.migrate() == []
    assert [r[0] for r in second.query("SELECT version FROM state_migrations")] == versions
    for table in ("proposals", "proposal_votes", "tickets", "audit_log", "model_calls", "runs"):
        assert second.query(f"SELECT count(*) FROM {table}")[0][0] == 0
    first.close()
    second.close()


# --- approvals ledger --------------------------------------------------------------------------


def test_propose_approve_claim_once_finish(store: StateStore) -> None:
    clock = Clock()
    book = ledger(store, clock)
    p = book.propose(draft(), created_by="sweep")
    assert (p.status, p.owner, p.expected_monthly_saving) == ("pending", None, Decimal("41.20"))
    with pytest.raises(ApprovalError) as refused:
        book.approve(p.id, "mallory")
    assert refused.value.code == "not_allowed"
    assert book.get(p.id).status == "pending"
    assert book.approve(p.id, "alice", seen_hash=p.action_hash).outcome == "approved"
    with pytest.raises(ApprovalError) as again:
        book.approve(p.id, "bob")
    assert again.value.code == "already_decided"
    claimed = book.claim(p.id, "worker-1")
    assert claimed is not None and claimed.status == "executing"
    assert book.claim(p.id, "worker-2") is None
    assert book.begin_attempt(p.id) is True
    assert book.begin_attempt(p.id) is False
    done = book.finish(p.id, ok=True, result={"stopped": 1})
    assert (done.status, done.result, done.decided_by) == ("done", {"stopped": 1}, "alice")
    kinds = [e.kind for e in book.audit.entries()]
    assert kinds == [
        "proposal",
        "refusal",
        "decision",
        "refusal",
        "execution_start",
        "execution",
    ]
    assert [x.id for x in book.proposals("done")] == [p.id]


def test_two_person_rule_needs_two_distinct_approvers(store: StateStore) -> None:
    book = ledger(store, Clock(), two_person=["stop_instance"])
    p = book.propose(draft(), created_by="sweep")
    assert book.approve(p.id, "alice").outcome == "awaiting_second_approver"
    with pytest.raises(ApprovalError) as twice:
        book.approve(p.id, "alice")
    assert twice.value.code == "already_voted"
    assert book.claim(p.id, "worker") is None
    decision = book.approve(p.id, "bob")
    assert decision.outcome == "approved"
    assert decision.proposal.decided_by == "alice, bob"
    assert [v.approver for v in decision.proposal.votes] == ["alice", "bob"]


def test_expired_proposal_cannot_be_approved_or_claimed(store: StateStore) -> None:
    clock = Clock()
    book = ledger(store, clock, expiry_hours=1)
    late, approved = (book.propose(draft(t), created_by="sweep") for t in ("i-1", "i-2"))
    book.approve(approved.id, "alice")
    clock.advance(hours=1, seconds=1)
    with pytest.raises(ApprovalError) as err:
        book.approve(late.id, "alice")
    assert err.value.code == "expired"
    assert book.get(late.id).status == "expired"
    assert book.claim(approved.id, "worker") is None
    assert book.get(approved.id).status == "expired"
    assert book.expire_due() == []


def test_claim_race_between_two_connections_has_one_winner(target: str) -> None:
    """Two stores on one database model two processes; a barrier makes them claim together."""
    clock = Clock()
    stores = [StateStore(target) for _ in range(2)]
    books = [ledger(s, clock) for s in stores]
    ids = [books[0].propose(draft(f"i-{n}"), created_by="sweep").id for n in range(5)]
    for pid in ids:
        books[0].approve(pid, "alice")
    barrier = threading.Barrier(2)
    wins: list[tuple[int, str]] = []

    def claim_all(n: int) -> None:
        for pid in ids:
            barrier.wait()
            if books[n].claim(pid, f"worker-{n}") is not None:
                wins.append((n, pid))

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(pid for _, pid in wins) == sorted(ids)
    starts = books[1].audit.entries(kind="execution_start")
    assert sorted(e.payload["proposal_id"] for e in starts) == sorted(ids)
    assert books[1].audit.verify().ok
    for s in stores:
        s.close()


# --- audit log ---------------------------------------------------------------------------------


def test_audit_chain_appends_verifies_and_detects_tampering(store: StateStore) -> None:
    audit = AuditLog(store, Clock())
    for n in range(4):
        audit.append("tool_call", "cli", {"n": n, "api_key": "sk-ant-secretsecret"}, run_id="r-1")
    entries = audit.entries(run_id="r-1")
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].payload == {"n": 0, "api_key": "[redacted]"}
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    check = audit.verify()
    assert (check.ok, check.entries, check.head) == (True, 4, entries[-1].hash)
    with store.transaction() as conn:
        conn.execute("UPDATE audit_log SET actor = ? WHERE seq = ?", ("mallory", 3))
    broken = audit.verify()
    assert (broken.ok, broken.first_bad_seq) == (False, 3)


# --- self-budget meter -------------------------------------------------------------------------


def test_budget_meter_records_calls_and_refuses_over_the_cap(store: StateStore) -> None:
    clock = Clock()
    caps = BudgetConfig(per_run_usd=Decimal("0.04"), max_output_tokens=1000)
    meter = BudgetMeter(store, caps, load_price_table(), clock)
    meter.start_run("r-1", "t-1", "anthropic")
    cost = meter.record_model_call("r-1", *SONNET, Usage(output_tokens=2000), "h")
    assert cost == Decimal("0.03")
    meter.record_tool_call("r-1")
    usage = meter.run_usage("r-1")
    assert (usage.model_calls, usage.tool_calls, usage.output_tokens) == (1, 1, 2000)
    assert usage.cost_usd == Decimal("0.03")
    assert meter.spent(clock() - timedelta(hours=1), clock() + timedelta(hours=1)) == cost
    with pytest.raises(BudgetExceeded) as err:  # 0.03 spent + 1000 × 15 / 1M worst case > 0.04
        meter.check_model_call("r-1", *SONNET, 0)
    assert err.value.limit == "per_run_usd"
    assert meter.run_usage("r-1").model_calls == 1
    meter.finish_run("r-1", "done")
    assert store.query("SELECT status FROM runs WHERE run_id = ?", ("r-1",))[0][0] == "done"


# --- checkpoints -------------------------------------------------------------------------------


class _Flow(TypedDict, total=False):
    item: str
    decision: str


def _flow_graph(saver: Any) -> Any:
    def ask(state: _Flow) -> _Flow:
        return {"decision": interrupt({"item": state["item"]})}

    graph = StateGraph(_Flow)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile(checkpointer=saver)


def test_checkpoint_interrupted_in_one_connection_resumes_in_another(target: str) -> None:
    thread = {"configurable": {"thread_id": "proposal:p-1"}}
    first = open_checkpointer(target)
    paused = _flow_graph(first).invoke({"item": "i-0abc"}, thread)
    assert paused["__interrupt__"][0].value == {"item": "i-0abc"}
    first.conn.close()
    again = open_checkpointer(target)  # a restarted process: new connection, tables already there
    graph = _flow_graph(again)
    assert graph.get_state(thread).next == ("ask",)
    done = graph.invoke(Command(resume="approved"), thread)
    assert done == {"item": "i-0abc", "decision": "approved"}
    assert graph.get_state(thread).next == ()
    again.conn.close()


# --- scheduler-lock style unique insert --------------------------------------------------------


def test_unique_insert_lets_one_of_two_writers_take_the_key(target: str) -> None:
    a, b = StateStore(target), StateStore(target)
    row = ("sweep:2026-11-28", "daily", "2026-11-01", "t", "now", "2026-11-28", "1", "{}")
    insert = "INSERT INTO policy_firings VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    with a.transaction() as conn:
        conn.execute(insert, row)
    with pytest.raises(sqlite3.IntegrityError), b.transaction() as conn:
        conn.execute(insert, (*row[:-1], '{"second": true}'))
    assert [tuple(r) for r in b.query("SELECT key, outcome FROM policy_firings")] == [
        ("sweep:2026-11-28", "{}")
    ]
    barrier, taken = threading.Barrier(2), []

    def take(store: StateStore, who: str) -> None:
        barrier.wait()
        with store.transaction() as conn:  # check-then-insert under the write lock
            if conn.execute("SELECT 1 FROM policy_firings WHERE key = ?", ("lock",)).fetchone():
                return
            conn.execute(insert, ("lock", who, "", "", "", "", "", "{}"))
            taken.append(who)

    threads = [threading.Thread(target=take, args=(s, w)) for s, w in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(taken) == 1
    owner = a.query("SELECT budget FROM policy_firings WHERE key = ?", ("lock",))
    assert [r[0] for r in owner] == taken
    a.close()
    b.close()


def test_scheduler_fire_time_is_claimed_by_one_replica(target: str) -> None:
    """The scheduler's claim: INSERT … ON CONFLICT DO NOTHING; rowcount says who won."""
    stores = [StateStore(target) for _ in range(2)]
    barrier, won = threading.Barrier(2), []
    claim = (
        "INSERT INTO scheduler_runs (job, fire_time, kind, status, claimed_by, claimed_at,"
        " lease_until, coalesced) VALUES (?, ?, 'sweep', 'running', ?, ?, ?, ?)"
        " ON CONFLICT (job, fire_time) DO NOTHING"
    )

    def fire(n: int) -> None:
        for minute in range(5):
            fire_time = f"2026-11-28T09:0{minute}:00.000000+00:00"
            barrier.wait(timeout=60)
            with stores[n].transaction() as conn:
                cur = conn.execute(claim, ("sweep", fire_time, f"r{n}", fire_time, "z", False))
                if cur.rowcount == 1:
                    won.append(fire_time)

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    rows = stores[0].query("SELECT fire_time, coalesced FROM scheduler_runs ORDER BY fire_time")
    assert sorted(won) == [r[0] for r in rows] and len(rows) == 5
    assert {r["coalesced"] for r in rows} == {0}
    for s in stores:
        s.close()


def test_failed_statement_inside_a_transaction_saves_nothing(store: StateStore) -> None:
    insert = "INSERT INTO policy_firings VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    with store.transaction() as conn:
        conn.execute(insert, ("k", "b", "", "", "", "", "", "{}"))
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("UPDATE policy_firings SET outcome = 'changed' WHERE key = 'k'")
        conn.execute(insert, ("k", "b", "", "", "", "", "", "{}"))
    assert store.query("SELECT outcome FROM policy_firings")[0]["outcome"] == "{}"


def test_insert_returning_id_and_lastrowid(store: StateStore) -> None:
    sql = (
        "INSERT INTO tickets (created_at, title, body, owner, priority, status)"
        " VALUES (?, ?, ?, ?, ?, 'open')"
    )
    first = store.insert_returning_id(sql, ("2026-11-28", "50% idle", "b", None, "low"))
    with store.transaction() as conn:
        second = conn.execute(sql, ("2026-11-28", "x", "b", "ops", "low")).lastrowid
    assert (first, second) == (1, 2)
    rows = store.query("SELECT id, title FROM tickets WHERE owner IS ? ORDER BY id", (None,))
    assert [dict(r) for r in rows] == [{"id": 1, "title": "50% idle"}]


def test_ticket_follows_proposals_in_the_order_they_joined(store: StateStore) -> None:
    """Comments are posted in `tracked` order; an UPDATE must not reorder it (PostgreSQL's
    physical row address moves on every update, SQLite's rowid does not)."""
    clock = Clock()
    links = TicketLinks(store, clock)
    ticket = store.insert_returning_id(
        "INSERT INTO tickets (created_at, title, body, owner, priority, status)"
        " VALUES (?, ?, ?, ?, ?, 'open')",
        ("2026-11-28", "idle EC2", "b", "payments", "low"),
    )
    with store.transaction() as conn:
        links.insert(
            conn,
            dedup_key="k1",
            local_ticket_id=ticket,
            backend="local",
            ticket_proposal_id="p-t",
            finding_id="f1",
            tracked="p-z",
        )
    for proposal in ("p-b", "p-a", "p-z"):  # p-z again: it keeps its first place
        clock.advance(minutes=1)
        with store.transaction() as conn:
            links.track(conn, "k1", proposal)
    links.set_synced_status("k1", "p-z", "approved")  # moves p-z's row on PostgreSQL
    links.mark_posted("k1", "p-z", "decision", "approved")
    link = links.get("k1")
    assert link is not None
    assert [t.proposal_id for t in link.tracked] == ["p-z", "p-b", "p-a"]
    assert link.tracked[0].posted == ["decision"]


# --- the runtime on PostgreSQL -----------------------------------------------------------------


def _propose(rt: Runtime, title: str = TICKET["title"]) -> str:
    ticket = {**TICKET, "title": title}
    rt._models = [scripted(call("open_ticket", ticket), AIMessage("Proposed."))]
    result = rt.ask("open a ticket for payments")
    assert result.proposals, result
    return result.proposals[0]


def _tickets(rt: Runtime) -> int:
    return int(rt.store.query("SELECT count(*) FROM tickets")[0][0])


@pytest.mark.postgres
def test_runtime_on_postgres_runs_an_approval_after_a_restart(tmp_path: Path, pg_url: str) -> None:
    clock = Clock()
    before = make_runtime(tmp_path / "a", clock, state={"url": pg_url})
    pid = _propose(before)
    assert before.store.backend == "postgres" and _tickets(before) == 0
    before.close()
    after = make_runtime(tmp_path / "b", clock, state={"url": pg_url})  # another replica
    graph = after._action_graph()
    assert graph.get_state(after._thread(pid)).next == ("await_decision",)
    assert after.approve(pid, "alice").proposal.status == "done"
    assert _tickets(after) == 1
    assert after.audit.verify().ok
    after.close()


def _approve_in_another_process(
    home: str, url: str, pids: list[str], barrier: Any, out: Any
) -> None:
    """One replica: approve each proposal at the same moment as the other, then retry it."""
    try:
        rt = make_runtime(Path(home), Clock(), state={"url": url})
        for pid in pids:
            barrier.wait(timeout=120)
            outcome: str
            try:
                outcome = rt.approve(pid, "alice").proposal.status
            except ApprovalError as exc:
                outcome = exc.code
            retried = rt.run_action(pid).status  # a Slack retry / double click
            out.put((pid, outcome, retried))
        rt.close()
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc(), ""))
        raise


@pytest.mark.postgres
def test_two_processes_approving_and_claiming_at_once_execute_once(
    tmp_path: Path, pg_url: str
) -> None:
    rt = make_runtime(tmp_path / "main", Clock(), state={"url": pg_url})
    pids = [_propose(rt, f"Idle EC2 #{n}") for n in range(2)]
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(2), spawn.Queue()
    procs = [
        spawn.Process(
            target=_approve_in_another_process,
            args=(str(tmp_path / name), pg_url, pids, barrier, out),
        )
        for name in ("p1", "p2")
    ]
    for p in procs:
        p.start()
    results: list[tuple[str, str, str]] = []
    try:
        while len(results) < 2 * len(pids):
            results.append(out.get(timeout=240))
            assert results[-1][0] != "error", results[-1][1]
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    for pid in pids:
        # one approval wins, the other is refused; either process may then claim and run it,
        # so a status seen while the other is still running may be approved or executing
        outcomes = sorted(o for p, o, _ in results if p == pid)
        assert outcomes[0] == "already_decided", results
        assert outcomes[1] in ("approved", "executing", "done"), results
        assert {r for p, _, r in results if p == pid} <= {"approved", "executing", "done"}
        assert rt.ledger.get(pid).status == "done"
        starts = rt.audit.entries(kind="execution_start")
        assert [e.payload["proposal_id"] for e in starts].count(pid) == 1
    assert _tickets(rt) == len(pids)
    assert rt.audit.verify().ok
    rt.close()
