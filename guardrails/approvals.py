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

An execution holds a lease: the claim and the start mark record the executor (`host:pid`) and a
heartbeat time, which the executor renews while the action runs (`renew`, from
`guardrails.heartbeat.Heartbeat`). `fail_stale` closes only executions whose last heartbeat is
older than `approvals.execution_lease_minutes`, however long a live one runs; before closing one
that had started, it has the action re-read its targets (`Observed`) and records what changed,
with the rollback when the change was in fact applied.
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
from guardrails.heartbeat import executor_identity
from guardrails.settings import GuardrailSettings
from warehouse.errors import FinopsError
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "STATUSES",
    "ApprovalError",
    "Decision",
    "Ledger",
    "Observed",
    "Observer",
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
    executor: str | None = None
    heartbeat_at: datetime | None = None
    votes: list[Vote] = Field(default_factory=list)

    def hash_matches(self) -> bool:
        """Whether the stored action, target and parameters still hash to the proposal's hash."""
        return action_hash(self.action, self.target, self.params) == self.action_hash


class Observed(BaseModel):
    """What the action found when it re-read its targets after its executor died.

    `applied`: the change is in place on at least one target (True), on none (False), or the
    action cannot tell whether what differs is its own doing (None: the outcome stays unknown).
    `changes`: one line per target saying how it compares with the plan (e.g. "i-0ab is now
    stopped, the proposal saw running: the change was applied"). `result`: what to record, shaped
    like the execution's own result (`changed`, and `rollback` so `rollback_action` can reverse
    what was applied).
    """

    applied: bool | None
    changes: list[str]
    result: dict[str, Any] = Field(default_factory=dict)


Observer = Callable[[Proposal], Observed | None]
"""Re-reads a dead execution's targets through its action (None: the action cannot tell)."""


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
            self._beat(conn, p.id, executor_identity())
            self.audit.append("execution_start", executor, {"proposal_id": p.id}, run_id=p.run_id)
        return self.get(proposal_id)

    def fail_stale(self, observe: Observer | None = None) -> list[str]:
        """Close every execution whose executor stopped renewing its lease; return their ids.

        An execution is dead once its last heartbeat (`renew`; before migration 16, its start)
        is older than `approvals.execution_lease_minutes`; a live one renews it however long it
        runs, so it is never closed here. A dead one is never executed again (at most once). One
        that died before its start mark changed nothing and fails saying so. One that had started
        is re-read through `observe` (its action's own read path, outside any transaction): the
        proposal ends `done` with what changed and its rollback when the change was in fact
        applied, `failed` with what was found when it was not, and `failed`, outcome unknown,
        when the targets could not be read.
        """
        closed = []
        for p in self._dead():
            observed, problem = None, None
            if p.started_at is not None and observe is not None:
                try:
                    observed = observe(p)
                except Exception as exc:  # the cloud could not be read: the outcome stays unknown
                    problem = f"{type(exc).__name__}: {exc}"
            if self._close_dead(p, observed, problem):
                closed.append(p.id)
        return closed

    def renew(self, proposal_id: str, executor: str | None = None) -> bool:
        """Renew the lease of an execution `executor` (default: this process) is running; False
        when it is not running it any more (finished, or declared dead meanwhile)."""
        with self.store.transaction() as conn:
            return self._beat(conn, proposal_id, executor or executor_identity(), renew=True)

    def _beat(
        self, conn: sqlite3.Connection, proposal_id: str, executor: str, *, renew: bool = False
    ) -> bool:
        sql = "UPDATE proposals SET heartbeat_at = ?, executor = ? WHERE id = ? AND status = ?"
        params: tuple[str, ...] = (utc_text(self.clock()), executor, proposal_id, "executing")
        if renew:
            sql += " AND executor = ?"
            params += (executor,)
        return bool(conn.execute(sql, params).rowcount == 1)

    def _dead(self) -> list[Proposal]:
        """Executions whose last sign of life is older than the lease."""
        cutoff = utc_text(self.clock() - self._lease())
        rows = self.store.query(
            "SELECT id FROM proposals WHERE status = 'executing'"
            " AND coalesce(heartbeat_at, started_at, decided_at) <= ?",
            (cutoff,),
        )
        return [self.get(r["id"]) for r in rows]

    def _lease(self) -> timedelta:
        return timedelta(minutes=self.config.approvals.execution_lease_minutes)

    def _close_dead(self, seen: Proposal, observed: Observed | None, problem: str | None) -> bool:
        """Record the end of the dead execution `seen`, unless it renewed its lease or finished
        since it was read (then it is alive, or another process closed it)."""
        with self.store.transaction() as conn:
            p = self._load(conn, seen.id)
            last = p.heartbeat_at or p.started_at or p.decided_at
            if p.status != "executing" or (last and last > self.clock() - self._lease()):
                return False
            ok, result = _dead_result(p, observed, problem, self._lease(), self.clock())
            status = "done" if ok else "failed"
            self._set(conn, p, "executing", status, result=result, finished=True)
            payload = {"proposal_id": p.id, "status": status, "result": result}
            self.audit.append("execution", "finops", payload, run_id=p.run_id)
        return True

    def begin_attempt(self, proposal_id: str) -> bool:
        """Mark the one execution attempt of a claimed proposal (its start, and the first beat of
        its lease, by this process); False if it may not start.

        The mark (`started_at`) is the execution's reservation against
        `approvals.max_executions_per_day`: the cap is counted and the mark taken in one write
        transaction, so two processes starting two executions at once cannot both pass a cap of
        one. Over the cap, the proposal fails with the reason instead. A crash after this mark
        and before `finish` leaves the proposal `executing` with a start time: it is never
        retried (at most once); once its heartbeat stops, `fail_stale` closes it after the lease.
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
            now = utc_text(self.clock())
            cur = conn.execute(
                "UPDATE proposals SET started_at = ?, heartbeat_at = ?, executor = ?,"
                " version = version + 1"
                " WHERE id = ? AND status = 'executing' AND started_at IS NULL",
                (now, now, executor_identity(), proposal_id),
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
        """Record the outcome of an execution this caller claimed.

        An execution that was declared dead meanwhile (its lease lapsed: a database unreachable
        for longer than the lease, clocks far apart) still records its own outcome, the one
        that counts, with what `fail_stale` had recorded kept under `late.declared_dead`.
        """
        with self.store.transaction() as conn:
            p = self._load(conn, proposal_id)
            status = "done" if ok else "failed"
            recorded, expected = dict(result), "executing"
            if p.status in ("done", "failed") and (p.result or {}).get("lease_expired"):
                recorded["late"] = {"declared_dead": p.result}
                expected = p.status
            self._set(conn, p, expected, status, result=recorded, finished=True)
            payload = {"proposal_id": p.id, "status": status, "result": recorded}
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


def _dead_result(
    p: Proposal,
    observed: Observed | None,
    problem: str | None,
    lease: timedelta,
    now: datetime,
) -> tuple[bool, dict[str, Any]]:
    """(applied, result) of a dead execution: what the re-read found, or why it is unknown."""
    last = p.heartbeat_at or p.started_at or p.decided_at
    expired = {
        "executor": p.executor,
        "last_heartbeat": last.isoformat() if last else None,
        "lease": str(lease),
        "declared_dead_at": now.isoformat(),
    }
    died = f"the executor ({p.executor or 'unknown'}) stopped renewing its lease of {lease}"
    if p.started_at is None:
        error = f"{died} before executing; nothing was changed"
        return False, {"error": error, "lease_expired": expired}
    if observed is None:
        why = f" (re-reading the targets failed: {problem})" if problem else ""
        error = f"{died}; outcome unknown{why}: check the target before acting again"
        return False, {"error": error, "lease_expired": expired}
    seen = "; ".join(observed.changes) or "no target"
    result = {**observed.result, "lease_expired": expired, "observed": observed.changes}
    if observed.applied:
        return True, {**result, "note": f"{died}; re-read after it died: {seen}"}
    if observed.applied is None:
        error = f"{died}; outcome unknown (re-read: {seen}): check the target before acting again"
        return False, {**result, "error": error}
    return False, {**result, "error": f"{died}; re-read after it died, not applied: {seen}"}


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
        executor=data.get("executor"),
        heartbeat_at=_dt(data.get("heartbeat_at")),
        votes=[
            Vote(approver=v[0], decision=v[1], action_hash=v[2], at=datetime.fromisoformat(v[3]))
            for v in votes
        ],
    )
