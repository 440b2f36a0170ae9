"""The append-only, hash-chained audit log.

Every model call, tool call, proposal, decision, refusal and execution is one entry. Each entry's
hash covers its content and the previous entry's hash, so editing, deleting or reordering any
entry breaks the chain from that point on and `verify` names the first bad entry. Appends take the
state store's write lock (two processes cannot fork the chain) and join the caller's transaction,
so a ledger change and its audit entry commit together. Secrets are redacted before writing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from warehouse.state.store import StateStore, utc_text

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "AuditVerification", "prompt_hash", "redact"]

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


class AuditVerification(BaseModel):
    """Result of walking the chain: ok, or the first entry that does not verify and why."""

    ok: bool
    entries: int
    head: str | None
    first_bad_seq: int | None = None
    problem: str | None = None


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
    """Append and verify audit entries in the state store."""

    def __init__(self, store: StateStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def append(
        self, kind: str, actor: str, payload: Mapping[str, Any], *, run_id: str | None = None
    ) -> AuditEntry:
        """Add one entry at the head of the chain."""
        body = _canonical(redact(payload))
        at = utc_text(self.clock())
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
        """Recompute every hash and link; report the first entry that does not verify."""
        rows = self.store.query("SELECT * FROM audit_log ORDER BY seq")
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
                return AuditVerification(
                    ok=False, entries=len(rows), head=None, first_bad_seq=r["seq"], problem=problem
                )
            prev, expected_seq = r["hash"], expected_seq + 1
        return AuditVerification(ok=True, entries=len(rows), head=prev if rows else None)
