"""A vote counts only while its approver is allow-listed: the two-person rule re-checks every
recorded vote against the current `approvers` when the second vote arrives, and again when the
approved proposal is claimed for execution (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import Config
from guardrails.approvals import Ledger, ProposalDraft
from guardrails.audit import AuditLog
from tests.helpers.agent import Clock
from warehouse.state.store import StateStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    target = (
        str(tmp_path / "state.db")
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    s = StateStore(target)
    yield s
    s.close()


def ledger(store: StateStore, approvers: list[str]) -> Ledger:
    clock = Clock()
    return Ledger(store, AuditLog(store, clock), Config(approvers=approvers), clock)


def propose(led: Ledger) -> str:
    draft = ProposalDraft(
        action="delete_ebs_volume",  # two approvers by default
        target="vol-0abc",
        params={"region": "eu-west-1"},
        summary="snapshot and delete an unattached volume",
        rollback="restore from the snapshot",
        expected_monthly_saving=Decimal("8.00"),
        risk="high",
    )
    return led.propose(draft, created_by="sweep").id


def test_a_removed_approvers_vote_does_not_count_towards_two_person(store: StateStore) -> None:
    before = ledger(store, ["alice", "bob", "carol"])
    pid = propose(before)
    assert before.approve(pid, "alice").outcome == "awaiting_second_approver"
    after = ledger(store, ["bob", "carol"])  # alice removed from `approvers`
    decision = after.approve(pid, "bob")
    assert decision.outcome == "awaiting_second_approver"
    assert decision.proposal.status == "pending"
    entry = after.audit.entries(kind="decision")[-1]
    assert entry.payload["ignored_votes"] == ["alice"]
    decision = after.approve(pid, "carol")
    assert decision.outcome == "approved"
    assert decision.proposal.decided_by == "bob, carol"
    assert after.claim(pid, "finops") is not None


def test_an_approval_whose_approver_was_removed_is_not_executed(store: StateStore) -> None:
    before = ledger(store, ["alice", "bob"])
    pid = propose(before)
    before.approve(pid, "alice")
    assert before.approve(pid, "bob").outcome == "approved"
    after = ledger(store, ["bob"])  # alice removed between the approval and the execution
    assert after.claim(pid, "finops") is None
    p = after.get(pid)
    assert p.status == "failed" and p.started_at is None
    assert p.result is not None and "allow-list" in p.result["error"]
    assert after.audit.entries(kind="refusal")[-1].payload["code"] == "not_allowed"
    assert after.audit.verify().ok
