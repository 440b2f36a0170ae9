"""The append-only, hash-chained audit log.

Every model call, tool call, proposal, decision, refusal and execution is one entry. Each entry's
hash covers its content and the previous entry's hash, so editing, deleting or reordering any
entry breaks the chain from that point on and `verify` names the first bad entry. Appends take the
state store's write lock (two processes cannot fork the chain) and join the caller's transaction,
so a ledger change and its audit entry commit together. Secrets are redacted before writing.

A chain cannot see its own end cut off, nor a chain rewritten and re-hashed from the start: each
append also anchors the entry's hash outside the state database, signed with a key the database
does not hold (`guardrails.anchors`), and `verify` checks the chain against those anchors and
against the approvals ledger (`guardrails.audit_checks`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from guardrails.anchors import AnchorBook, AnchorError
from guardrails.audit_checks import (
    AnchorSummary,
    AuditProblem,
    check_anchors,
    check_ledger,
    ledger_entries,
)
from guardrails.settings import AuditConfig
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditProblem",
    "AuditVerification",
    "prompt_hash",
    "redact",
]

GENESIS = "0" * 64
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(^|[_-])(api[_-]?key|apikey|key|token|secret|password|passwd|authorization|cookie)$",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{8,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{8,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|(?<=Bearer )[A-Za-z0-9._~+/=\-]{8,}",
    re.IGNORECASE,
)


class AuditEntry(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    run_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


LEDGER_KINDS = ("proposal", "decision", "refusal", "expiry", "execution_start", "execution")


class AuditVerification(BaseModel):
    """Result of verifying the chain: ok, or every problem found (`problem` and `first_bad_seq`
    repeat the first one). `anchors` is None when the chain is not anchored."""

    ok: bool
    entries: int
    head: str | None
    first_bad_seq: int | None = None
    problem: str | None = None
    problems: list[AuditProblem] = Field(default_factory=list)
    anchors: AnchorSummary | None = None
    proposals: int = 0


def redact(value: Any) -> Any:
    """A copy of `value` with secret-looking keys and secret-looking strings replaced."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def prompt_hash(parts: Sequence[str]) -> str:
    """SHA-256 of a prompt's text: logged instead of the prompt itself."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(
    prev: str, seq: int, at: str, kind: str, actor: str, run_id: str | None, payload: str
) -> str:
    body = _canonical(
        {"seq": seq, "at": at, "kind": kind, "actor": actor, "run_id": run_id, "payload": payload}
    )
    return hashlib.sha256((prev + body).encode()).hexdigest()


class AuditLog:
    """Append and verify audit entries in the state store.

    `anchors` is where each entry is anchored outside the database; by default the anchor book
    `audit:` would name for this store with the default settings (beside a SQLite state file;
    none for PostgreSQL or an in-memory store). Pass `AnchorBook.for_store(store, config.audit,
    environ)`, or build it with `AuditLog.configured`, to honour the configuration.
    """

    def __init__(
        self,
        store: StateStore,
        clock: Callable[[], datetime],
        anchors: AnchorBook | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.anchors = anchors if anchors is not None else AnchorBook.for_store(store)

    @classmethod
    def configured(
        cls,
        store: StateStore,
        clock: Callable[[], datetime],
        config: AuditConfig,
        environ: Mapping[str, str],
    ) -> AuditLog:
        """The audit log anchored where the `audit:` config section says (the key read from
        `environ` when `audit.key_env` is set there)."""
        return cls(store, clock, AnchorBook.for_store(store, config, environ))

    def append(
        self, kind: str, actor: str, payload: Mapping[str, Any], *, run_id: str | None = None
    ) -> AuditEntry:
        """Add one entry at the head of the chain, and anchor it before it commits."""
        body = _canonical(redact(payload))
        at = utc_text(self.clock())
        anchored: tuple[int, str] | None = None
        try:
            with self.store.transaction() as conn:
                last = conn.execute(
                    "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                digest = _digest(prev, seq, at, kind, actor, run_id, body)
                conn.execute(
                    "INSERT INTO audit_log (seq, at, kind, actor, run_id, payload, prev_hash, hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, at, kind, actor, run_id, body, prev, digest),
                )
                if self.anchors is not None:
                    anchored = (seq, digest)
                    self.anchors.record(seq, digest, at, prev=prev if last else None)
        except BaseException:
            self._void(anchored, at)
            raise
        return AuditEntry(
            seq=seq,
            at=datetime.fromisoformat(at),
            kind=kind,
            actor=actor,
            run_id=run_id,
            payload=json.loads(body),
            prev_hash=prev,
            hash=digest,
        )

    def _void(self, anchored: tuple[int, str] | None, at: str) -> None:
        """Cancel the anchor of an entry whose transaction failed to commit (best effort: an
        anchor left behind makes `verify` report the entry, never hides one)."""
        if anchored is not None and self.anchors is not None:
            with contextlib.suppress(AnchorError, OSError):
                self.anchors.void(anchored[0], anchored[1], at)

    def entries(
        self,
        *,
        kind: str | None = None,
        run_id: str | None = None,
        since_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in chain order, optionally filtered."""
        sql = "SELECT * FROM audit_log WHERE seq > ?"
        params: list[Any] = [since_seq]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            AuditEntry(
                seq=r["seq"],
                at=datetime.fromisoformat(r["at"]),
                kind=r["kind"],
                actor=r["actor"],
                run_id=r["run_id"],
                payload=json.loads(r["payload"]),
                prev_hash=r["prev_hash"],
                hash=r["hash"],
            )
            for r in self.store.query(sql, params)
        ]

    def verify(self) -> AuditVerification:
        """Check the chain's links, its anchors and the ledger; report every problem found.

        The chain's length, the anchor file's size and the ledger are read under the write lock
        (no append is half done then), so a chain growing meanwhile is never reported as cut.
        """
        with self.store.transaction() as conn:
            top = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0] or 0
            size = self.anchors.size() if self.anchors is not None else 0
            proposals = [
                {"id": r["id"], "status": r["status"], "started_at": r["started_at"]}
                for r in conn.execute("SELECT id, status, started_at FROM proposals").fetchall()
            ]
        rows = self.store.query("SELECT * FROM audit_log WHERE seq <= ? ORDER BY seq", (top,))
        head, problems = _walk(rows)
        summary = None
        if self.anchors is not None:
            found, summary = self._check_anchors(rows, size)
            problems += found
        problems += check_ledger(proposals, ledger_entries(_ledger_rows(rows)))
        first_seq = next((p.seq for p in problems if p.seq is not None), None)
        return AuditVerification(
            ok=not problems,
            entries=len(rows),
            head=head,
            first_bad_seq=first_seq,
            problem=problems[0].message if problems else None,
            problems=problems,
            anchors=summary,
            proposals=len(proposals),
        )

    def _check_anchors(
        self, rows: Sequence[Any], size: int
    ) -> tuple[list[AuditProblem], AnchorSummary | None]:
        assert self.anchors is not None
        try:
            read = self.anchors.read(size)
        except AnchorError as exc:
            return [AuditProblem(code="bad_anchor", message=str(exc))], None
        hashes = {int(r["seq"]): str(r["hash"]) for r in rows}
        return check_anchors(hashes, read, self.anchors.key.describe())


def _walk(rows: Sequence[Any]) -> tuple[str | None, list[AuditProblem]]:
    """Recompute every hash and link: the head, or the first entry that does not verify."""
    prev, expected_seq = GENESIS, 1
    for r in rows:
        problem = None
        if r["seq"] != expected_seq:
            problem = f"entry {expected_seq} is missing (next is {r['seq']})"
        elif r["prev_hash"] != prev:
            problem = f"entry {r['seq']} does not link to the entry before it"
        elif r["hash"] != _digest(
            prev, r["seq"], r["at"], r["kind"], r["actor"], r["run_id"], r["payload"]
        ):
            problem = f"entry {r['seq']} ({r['kind']}) was modified after it was written"
        if problem:
            return None, [AuditProblem(code="chain", message=problem, seq=r["seq"])]
        prev, expected_seq = r["hash"], expected_seq + 1
    return (prev if rows else None), []


def _ledger_rows(rows: Sequence[Any]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(seq, kind, payload) of the entries the ledger writes, skipping unreadable payloads (the
    chain check reports those)."""
    for r in rows:
        if r["kind"] not in LEDGER_KINDS:
            continue
        try:
            payload = json.loads(r["payload"])
        except ValueError:
            continue
        if isinstance(payload, dict):
            yield int(r["seq"]), str(r["kind"]), payload
