"""The approvals ledger: the only place that decides whether a proposed action may run.

A proposal moves through a small state machine, each step a compare-and-set on its current status
inside one SQLite write transaction, together with its audit entry:

    pending ─approve─▶ approved ─claim─▶ executing ─finish─▶ done | failed
       │  └─reject─▶ rejected      │
       └─expire─▶ expired ◀────────┘

Every proposal carries the SHA-256 of its action, target and parameters. Approvals record the hash
the approver saw; `claim` re-computes it from the stored row and refuses on any mismatch, so an
edited proposal can never run on an old approval. Only allow-listed approvers can decide; action
types listed under `approvals.two_person` need two distinct approvers. LangGraph's resume
semantics (a resume can reach the wrong interrupt, two resumes can run a node twice, resuming a
finished thread does nothing) are why the ledger, not the graph, is the source of truth: the
execute step runs only for the caller whose `claim` won.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from guardrails.audit import AuditLog
from guardrails.settings import GuardrailSettings
from warehouse.errors import FinopsError
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "STATUSES",
    "ApprovalError",
    "Decision",
    "Ledger",
    "Proposal",
    "ProposalDraft",
    "Vote",
    "action_hash",
    "executions_started",
]

Status = Literal["pending", "approved", "rejected", "expired", "executing", "done", "failed"]
STATUSES: tuple[str, ...] = (
    "pending",
    "approved",
    "rejected",
    "expired",
    "executing",
    "done",
    "failed",
)
Risk = Literal["low", "medium", "high"]


class ApprovalError(FinopsError):
    """A decision or execution was refused; `code` says why (not_found, not_allowed, expired,
    stale, already_decided, already_voted, bad_status)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class ProposalDraft(BaseModel):
    """What a write tool asks for: exactly what would change, where, why, and how to undo it."""

    action: str = Field(min_length=1)
    target: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    summary: str = Field(min_length=1)
    evidence: dict[str, Any] = Field(default_factory=dict)
    expected_monthly_saving: Decimal = Decimal(0)
    currency: str = "USD"
    risk: Risk = "low"
    rollback: str = Field(min_length=1)
    owner: str | None = None


class Vote(BaseModel):
    approver: str
    decision: str
    action_hash: str
    at: datetime


class Proposal(ProposalDraft):
    """A proposal as stored in the ledger."""

    id: str
    created_at: datetime
    expires_at: datetime
    action_hash: str
    status: Status
    created_by: str
    run_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    votes: list[Vote] = Field(default_factory=list)

    def hash_matches(self) -> bool:
        """Whether the stored action, target and parameters still hash to the proposal's hash."""
        return action_hash(self.action, self.target, self.params) == self.action_hash


class Decision(BaseModel):
    """The outcome of one approve call."""

    outcome: Literal["approved", "awaiting_second_approver"]
    proposal: Proposal


def action_hash(action: str, target: str, params: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of action + target + parameters."""
    body = json.dumps(
        {"action": action, "target": target, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Ledger:
    """Proposals and decisions in the state store, with audit entries in the same transaction."""

    def __init__(
        self,
        store: StateStore,
        audit: AuditLog,
        config: GuardrailSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.audit = audit
        self.config = config
        self.clock = clock

    def propose(
        self, draft: ProposalDraft, *, created_by: str, run_id: str | None = None
    ) -> Proposal:
        """Record a pending proposal; nothing runs until it is approved."""
        now = self.clock()
        pid = f"p-{uuid.uuid4().hex[:12]}"
        expires = now + timedelta(hours=self.config.approvals.expiry_hours)
        digest = action_hash(draft.action, draft.target, draft.params)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO proposals (id, created_at, action, target, params, summary, evidence,"
                " expected_monthly_saving, currency, risk, rollback, owner, expires_at,"
                " action_hash, status, created_by, run_id) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'pending',?,?)",
                (
                    pid,
                    utc_text(now),
                    draft.action,
                    draft.target,
                    json.dumps(draft.params, sort_keys=True, default=str),
                    draft.summary,
                    json.dumps(draft.evidence, sort_keys=True, default=str),
                    str(draft.expected_monthly_saving),
                    draft.currency,
                    draft.risk,
                    draft.rollback,
                    draft.owner,
                    utc_text(expires),
                    digest,
                    created_by,
                    run_id,
                ),
            )
            self.audit.append(
                "proposal",
                created_by,
                {
                    "proposal_id": pid,
                    "action": draft.action,
                    "target": draft.target,
                    "params": draft.params,
                    "action_hash": digest,
                    "expires_at": expires,
                },
                run_id=run_id,
            )
        return self.get(pid)

    def get(self, proposal_id: str) -> Proposal:
        rows = self.store.query("SELECT * FROM proposals WHERE id = ?", (proposal_id,))
        if not rows:
            raise ApprovalError("not_found", f"no proposal {proposal_id!r}")
        votes = self.store.query(
            "SELECT approver, decision, action_hash, at FROM proposal_votes "
            "WHERE proposal_id = ? ORDER BY at",
            (proposal_id,),
        )
        return _proposal(rows[0], votes)

    def proposals(self, status: str | None = None) -> list[Proposal]:
        """Proposals, newest first, optionally of one status."""
        if status is not None and status not in STATUSES:
            raise ApprovalError(
                "bad_status", f"unknown status {status!r}; one of {', '.join(STATUSES)}"
            )
        sql = "SELECT id FROM proposals" + (" WHERE status = ?" if status else "")
        ids = self.store.query(sql + " ORDER BY created_at DESC, id", (status,) if status else ())
        return [self.get(r["id"]) for r in ids]

    def approve(self, proposal_id: str, by: str, *, seen_hash: str | None = None) -> Decision:
        """Record `by`'s approval; the proposal becomes approved once enough approvers agree.

        `seen_hash` is the hash shown to the approver (on a card); when given it must match.
        """
        with self.store.transaction() as conn:
            p = self._decidable(conn, proposal_id, by, seen_hash)
            if self._needs_two(p.action):
                if any(v.approver == by for v in p.votes):
                    self._refuse(conn, p, by, "already_voted", f"{by} already approved")
                self._vote(conn, p, by)
                voters = sorted(self._valid_voters(p) | {by})
                if len(voters) < 2:
                    payload = _decision(p, "first_approval")
                    ignored = sorted({v.approver for v in p.votes} - set(voters))
                    if ignored:
                        payload["ignored_votes"] = ignored
                    self.audit.append("decision", by, payload)
                    return Decision(outcome="awaiting_second_approver", proposal=self.get(p.id))
                decided_by = ", ".join(voters)
            else:
                self._vote(conn, p, by)
                decided_by = by
            self._set(conn, p, "pending", "approved", decided_by=decided_by)
            self.audit.append("decision", by, _decision(p, "approved"), run_id=p.run_id)
        return Decision(outcome="approved", proposal=self.get(proposal_id))

    def reject(self, proposal_id: str, by: str, reason: str | None = None) -> Proposal:
        """Reject a pending or approved (not yet executing) proposal; nothing will run."""
        with self.store.transaction() as conn:
            p = self._load(conn, proposal_id)
            self._allowed(conn, p, by)
            if p.status not in ("pending", "approved"):
                self._refuse(conn, p, by, "already_decided", f"{p.id} is already {p.status}")
            self._set(conn, p, p.status, "rejected", decided_by=by, reason=reason or "")
            payload = {**_decision(p, "rejected"), "reason": reason or ""}
            self.audit.append("decision", by, payload, run_id=p.run_id)
        return self.get(proposal_id)

    def expire_due(self) -> list[str]:
        """Mark every pending or approved proposal past its expiry as expired."""
        now = utc_text(self.clock())
        due = self.store.query(
            "SELECT id FROM proposals WHERE status IN ('pending', 'approved') AND expires_at <= ?",
            (now,),
        )
        expired = []
        with self.store.transaction() as conn:
            for row in due:
                p = self._load(conn, row["id"])
                if p.status in ("pending", "approved") and self._expired(p):
                    self._set(conn, p, p.status, "expired")
                    self.audit.append("expiry", "finops", {"proposal_id": p.id})
                    expired.append(p.id)
        return expired

    def claim(self, proposal_id: str, executor: str) -> Proposal | None:
        """Move approved → executing for exactly one caller; None for every other caller.

        Refuses (and records why) when the proposal expired or its hash no longer matches the
        hash the approvers saw.
        """
        with self.store.transaction() as conn:
            p = self._load(conn, proposal_id)
            if p.status != "approved":
                return None
            if self._expired(p):
                self._set(conn, p, "approved", "expired")
                self.audit.append("expiry", executor, {"proposal_id": p.id, "at": "claim"})
                return None
            if not p.hash_matches() or any(v.action_hash != p.action_hash for v in p.votes):
                self._set(conn, p, "approved", "failed", result={"error": "hash mismatch"})
                self.audit.append("refusal", executor, {"proposal_id": p.id, "code": "stale"})
                return None
            needed = 2 if self._needs_two(p.action) else 1
            if len(self._valid_voters(p)) < needed:
                error = "an approver of this proposal is no longer in the allow-list (`approvers`)"
                self._set(conn, p, "approved", "failed", result={"error": error})
                self.audit.append("refusal", executor, {"proposal_id": p.id, "code": "not_allowed"})
                return None
            self._set(conn, p, "approved", "executing")
            self.audit.append("execution_start", executor, {"proposal_id": p.id}, run_id=p.run_id)
        return self.get(proposal_id)

    def fail_stale(self) -> list[str]:
        """Mark executions older than the lease as failed with an unknown outcome.

        A process that crashed mid-execution leaves its proposal `executing`; after
        `approvals.execution_lease_minutes` it is closed as failed so a human checks the target.
        It is never executed again (at most once).
        """
        lease = timedelta(minutes=self.config.approvals.execution_lease_minutes)
        cutoff = utc_text(self.clock() - lease)
        rows = self.store.query(
            "SELECT id FROM proposals WHERE status = 'executing'"
            " AND coalesce(started_at, decided_at) <= ?",
            (cutoff,),
        )
        result = {
            "error": f"execution did not finish within {lease}; outcome unknown: check the "
            "target before acting again"
        }
        failed = []
        for row in rows:
            try:
                self.finish(row["id"], ok=False, result=result)
            except ApprovalError:
                continue
            failed.append(row["id"])
        return failed

    def begin_attempt(self, proposal_id: str) -> bool:
        """Mark the one execution attempt of a claimed proposal; False if it may not start.

        The mark (`started_at`) is the execution's reservation against
        `approvals.max_executions_per_day`: the cap is counted and the mark taken in one write
        transaction, so two processes starting two executions at once cannot both pass a cap of
        one. Over the cap, the proposal fails with the reason instead. A crash after this mark
        and before `finish` leaves the proposal `executing` with a start time: it is never
        retried (at most once); `fail_stale` closes it after the lease.
        """
        with self.store.transaction() as conn:
            p = self._load(conn, proposal_id)
            if p.status != "executing" or p.started_at is not None:
                return False
            problem = self._cap_problem(conn, p)
            if problem is not None:
                self.audit.append(
                    "refusal",
                    "finops",
                    {"proposal_id": p.id, "code": "cap", "message": problem},
                    run_id=p.run_id,
                )
                self.finish(p.id, ok=False, result={"error": f"re-validation failed: {problem}"})
                return False
            cur = conn.execute(
                "UPDATE proposals SET started_at = ?, version = version + 1"
                " WHERE id = ? AND status = 'executing' AND started_at IS NULL",
                (utc_text(self.clock()), proposal_id),
            )
            return cur.rowcount == 1

    def _cap_problem(self, conn: sqlite3.Connection, p: Proposal) -> str | None:
        cap = self.config.approvals.max_executions_per_day
        started = executions_started(conn, p.action, p.id, self.clock())
        if started < cap:
            return None
        return (
            f"{started} {p.action} execution(s) already started today; the "
            f"approvals.max_executions_per_day cap is {cap}"
        )

    def finish(self, proposal_id: str, *, ok: bool, result: Mapping[str, Any]) -> Proposal:
        """Record the outcome of an execution this caller claimed."""
        with self.store.transaction() as conn:
            p = self._load(conn, proposal_id)
            status = "done" if ok else "failed"
            self._set(conn, p, "executing", status, result=dict(result), finished=True)
            payload = {"proposal_id": p.id, "status": status, "result": dict(result)}
            self.audit.append("execution", "finops", payload, run_id=p.run_id)
        return self.get(proposal_id)

    # -- internals ---------------------------------------------------------------------------

    def _needs_two(self, action: str) -> bool:
        return action in self.config.approvals.two_person

    def _valid_voters(self, p: Proposal) -> set[str]:
        """Approvers whose recorded vote still counts: approving, on this hash, and still in the
        allow-list now (a vote by someone removed from `approvers` counts for nothing)."""
        allowed = set(self.config.approvers)
        return {
            v.approver
            for v in p.votes
            if v.decision == "approve" and v.action_hash == p.action_hash and v.approver in allowed
        }

    def _expired(self, p: Proposal) -> bool:
        return self.clock() >= p.expires_at

    def _load(self, conn: sqlite3.Connection, proposal_id: str) -> Proposal:
        row = conn.execute("SELECT * FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
        if row is None:
            raise ApprovalError("not_found", f"no proposal {proposal_id!r}")
        votes = conn.execute(
            "SELECT approver, decision, action_hash, at FROM proposal_votes WHERE proposal_id = ?",
            (proposal_id,),
        ).fetchall()
        return _proposal(row, votes)

    def _refuse(self, conn: sqlite3.Connection, p: Proposal, by: str, code: str, msg: str) -> None:
        """Commit the refusal's audit entry (and any expiry noticed), then raise.

        The caller's `transaction()` rolls back only the empty transaction opened here, so a
        refused decision changes nothing but is still on the record.
        """
        self.audit.append("refusal", by, {"proposal_id": p.id, "code": code, "message": msg})
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        raise ApprovalError(code, msg)

    def _allowed(self, conn: sqlite3.Connection, p: Proposal, by: str) -> None:
        if by not in self.config.approvers:
            self._refuse(
                conn, p, by, "not_allowed", f"{by!r} is not an approver (config `approvers`)"
            )

    def _decidable(
        self, conn: sqlite3.Connection, proposal_id: str, by: str, seen_hash: str | None
    ) -> Proposal:
        p = self._load(conn, proposal_id)
        self._allowed(conn, p, by)
        if p.status != "pending":
            self._refuse(conn, p, by, "already_decided", f"{p.id} is already {p.status}")
        if self._expired(p):
            self._set(conn, p, "pending", "expired")
            self._refuse(
                conn, p, by, "expired", f"{p.id} expired at {p.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        if not p.hash_matches() or (seen_hash is not None and seen_hash != p.action_hash):
            self._refuse(
                conn, p, by, "stale", f"{p.id} changed since it was shown; review it again"
            )
        return p

    def _vote(self, conn: sqlite3.Connection, p: Proposal, by: str) -> None:
        conn.execute(
            "INSERT INTO proposal_votes VALUES (?, ?, 'approve', ?, ?)",
            (p.id, by, p.action_hash, utc_text(self.clock())),
        )

    def _set(
        self,
        conn: sqlite3.Connection,
        p: Proposal,
        expected: str,
        status: str,
        *,
        decided_by: str | None = None,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
        finished: bool = False,
    ) -> None:
        """Compare-and-set the status; any concurrent change makes this raise."""
        now = utc_text(self.clock())
        cur = conn.execute(
            "UPDATE proposals SET status = ?, version = version + 1,"
            " decided_by = coalesce(?, decided_by), decided_at = CASE WHEN ? IS NULL"
            " THEN decided_at ELSE ? END, reason = coalesce(?, reason),"
            " result = coalesce(?, result),"
            " finished_at = CASE WHEN ? THEN ? ELSE finished_at END"
            " WHERE id = ? AND status = ?",
            (
                status,
                decided_by,
                decided_by,
                now,
                reason,
                json.dumps(result, default=str) if result is not None else None,
                finished,
                now,
                p.id,
                expected,
            ),
        )
        if cur.rowcount != 1:
            raise ApprovalError("already_decided", f"{p.id} changed concurrently; try again")


def executions_started(conn: sqlite3.Connection, action: str, exclude: str, now: datetime) -> int:
    """How many executions of `action` (other than proposal `exclude`) started on `now`'s UTC
    day: what `approvals.max_executions_per_day` caps."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    row = conn.execute(
        "SELECT count(*) FROM proposals WHERE action = ? AND id != ? AND started_at >= ?",
        (action, exclude, utc_text(day)),
    ).fetchone()
    return int(row[0])


def _decision(p: Proposal, outcome: str) -> dict[str, Any]:
    return {"proposal_id": p.id, "outcome": outcome, "action_hash": p.action_hash}


def _proposal(row: sqlite3.Row, votes: list[sqlite3.Row]) -> Proposal:
    data = dict(row)
    return Proposal(
        **{k: data[k] for k in ("id", "action", "target", "summary", "currency", "risk")},
        rollback=data["rollback"],
        owner=data["owner"],
        params=json.loads(data["params"]),
        evidence=json.loads(data["evidence"]),
        expected_monthly_saving=Decimal(data["expected_monthly_saving"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        expires_at=datetime.fromisoformat(data["expires_at"]),
        action_hash=data["action_hash"],
        status=data["status"],
        created_by=data["created_by"],
        run_id=data["run_id"],
        decided_by=data["decided_by"],
        decided_at=_dt(data["decided_at"]),
        reason=data["reason"],
        started_at=_dt(data["started_at"]),
        finished_at=_dt(data["finished_at"]),
        result=json.loads(data["result"]) if data["result"] else None,
        votes=[
            Vote(approver=v[0], decision=v[1], action_hash=v[2], at=datetime.fromisoformat(v[3]))
            for v in votes
        ],
    )
