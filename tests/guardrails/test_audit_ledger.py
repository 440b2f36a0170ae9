"""`verify` cross-checks the approvals ledger: every approved or executed proposal has its audit
entries (proposal, approval, execution start, execution), and every execution in the log belongs
to a proposal the ledger shows as executed (issue 18, point 11)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from guardrails.approvals import Ledger, ProposalDraft
from guardrails.audit import GENESIS, AuditLog, _digest
from guardrails.settings import ApprovalsConfig, GuardrailSettings
from tests.helpers.agent import Clock
from warehouse.state.store import StateStore


@pytest.fixture
def ledger(store: StateStore) -> Ledger:
    clock = Clock()
    config = GuardrailSettings(
        approvers=["alice", "bob"], approvals=ApprovalsConfig(two_person=["delete_ebs_volume"])
    )
    return Ledger(store, AuditLog(store, clock), config, clock)


def draft(action: str = "stop_instance", target: str = "i-0abc") -> ProposalDraft:
    return ProposalDraft(
        action=action, target=target, summary="idle", rollback="start it", params={"n": 1}
    )


def executed(ledger: Ledger, ok: bool = True) -> str:
    pid = ledger.propose(draft(), created_by="agent").id
    ledger.approve(pid, "alice")
    assert ledger.claim(pid, "worker") is not None
    assert ledger.begin_attempt(pid)
    ledger.finish(pid, ok=ok, result={"stopped": ["i-0abc"]})
    return pid


def seqs(store: StateStore, pid: str, *kinds: str) -> list[int]:
    rows = store.query(
        "SELECT seq, kind, payload FROM audit_log ORDER BY seq",
    )
    return [
        r["seq"] for r in rows if r["kind"] in kinds and f'"proposal_id":"{pid}"' in r["payload"]
    ]


def raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def drop_and_rehash(db: Path, doomed: list[int]) -> None:
    """Delete entries, renumber and re-link the rest: a chain whose links all verify."""
    with raw(db) as conn:
        conn.executemany("DELETE FROM audit_log WHERE seq = ?", [(s,) for s in doomed])
        rows = conn.execute(
            "SELECT seq, at, kind, actor, run_id, payload FROM audit_log ORDER BY seq"
        ).fetchall()
        conn.execute("DELETE FROM audit_log")
        prev = GENESIS
        for n, (_, at, kind, actor, run_id, payload) in enumerate(rows, start=1):
            digest = _digest(prev, n, at, kind, actor, run_id, payload)
            conn.execute(
                "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (n, at, kind, actor, run_id, payload, prev, digest),
            )
            prev = digest


def test_every_path_through_the_ledger_verifies(ledger: Ledger) -> None:
    done = executed(ledger)
    failed = executed(ledger, ok=False)
    pending = ledger.propose(draft(target="i-2"), created_by="agent").id
    rejected = ledger.propose(draft(target="i-3"), created_by="agent").id
    ledger.reject(rejected, "bob", "no")
    two = ledger.propose(draft("delete_ebs_volume", "vol-1"), created_by="agent").id
    ledger.approve(two, "alice")
    ledger.approve(two, "bob")
    stale = ledger.propose(draft(target="i-4"), created_by="agent").id
    ledger.approve(stale, "alice")
    ledger.store.conn.execute(  # edited after approval: the claim refuses and fails it
        "UPDATE proposals SET params = '{\"n\":2}' WHERE id = ?", (stale,)
    )
    assert ledger.claim(stale, "worker") is None
    statuses = {p.id: p.status for p in ledger.proposals()}
    assert statuses == {
        done: "done",
        failed: "failed",
        pending: "pending",
        rejected: "rejected",
        two: "approved",
        stale: "failed",
    }
    report = ledger.audit.verify()
    assert report.ok, report.problems
    assert report.proposals == 6


def test_an_executed_proposal_whose_entries_were_deleted_is_named(
    ledger: Ledger, store: StateStore, db: Path
) -> None:
    """The attacker removes the approval and the execution and re-hashes: the anchors see the
    chain rewritten, and the ledger names the proposal and what is missing."""
    pid = executed(ledger)
    other = executed(ledger)
    doomed = seqs(store, pid, "decision", "execution_start", "execution")
    assert len(doomed) == 3
    drop_and_rehash(db, doomed)
    report = ledger.audit.verify()
    assert not report.ok
    ledger_problems = [p for p in report.problems if p.code == "ledger"]
    assert [(p.proposal_id, p.message) for p in ledger_problems] == [
        (
            pid,
            f"proposal {pid} (done): no approval (decision entry, outcome approved) in the "
            "audit log",
        ),
        (pid, f"proposal {pid} (done): no execution_start entry in the audit log"),
        (pid, f"proposal {pid} (done): no execution entry with status done in the audit log"),
    ]
    assert other not in str(report.problems)
    assert {"truncated", "rewritten"} <= {p.code for p in report.problems}


def test_a_proposal_marked_done_in_the_ledger_alone_is_named(
    ledger: Ledger, store: StateStore
) -> None:
    """Someone edits the ledger to show a proposal as executed that was never approved."""
    pid = ledger.propose(draft(), created_by="agent").id
    store.conn.execute(
        "UPDATE proposals SET status = 'done', started_at = created_at WHERE id = ?", (pid,)
    )
    report = ledger.audit.verify()
    assert [p.code for p in report.problems] == ["ledger"] * 3
    assert report.problems[0].proposal_id == pid
    assert "no approval" in report.problems[0].message


def test_an_executed_proposal_reset_to_approved_is_named(ledger: Ledger, store: StateStore) -> None:
    """Resetting an executed proposal to `approved` (to run it again) contradicts the log."""
    pid = executed(ledger)
    store.conn.execute("UPDATE proposals SET status = 'approved' WHERE id = ?", (pid,))
    (start,) = seqs(store, pid, "execution_start")
    report = ledger.audit.verify()
    assert [(p.code, p.seq, p.proposal_id) for p in report.problems] == [("ledger", start, pid)]
    assert report.problem == (
        f"proposal {pid} started executing (entry {start}) but the ledger shows it approved"
    )


def test_a_deleted_proposal_with_executions_in_the_log_is_named(
    ledger: Ledger, store: StateStore
) -> None:
    pid = executed(ledger)
    store.conn.execute("DELETE FROM proposal_votes WHERE proposal_id = ?", (pid,))
    store.conn.execute("DELETE FROM proposals WHERE id = ?", (pid,))
    report = ledger.audit.verify()
    assert [p.proposal_id for p in report.problems] == [pid]
    assert "but the ledger has no such proposal" in (report.problem or "")
