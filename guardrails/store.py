"""The operational state store: one SQLite file (`$FINOPS_HOME/state.db`) for the approvals
ledger, the local tickets table, the audit log and the self-budget meter.

LangGraph's checkpointer lives in the same file (its own tables). Writes that must not race go
through `transaction()`, which takes SQLite's write lock up front (`BEGIN IMMEDIATE`), so a
compare-and-set between two processes is decided by the database, not by timing. Schema changes
are numbered, append-only migrations recorded in `state_migrations`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["STATE_MIGRATIONS", "StateStore", "utc_text"]

STATE_MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "approvals ledger",
        """
        CREATE TABLE proposals (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            params TEXT NOT NULL,
            summary TEXT NOT NULL,
            evidence TEXT NOT NULL,
            expected_monthly_saving TEXT NOT NULL,
            currency TEXT NOT NULL,
            risk TEXT NOT NULL,
            rollback TEXT NOT NULL,
            owner TEXT,
            expires_at TEXT NOT NULL,
            action_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            created_by TEXT NOT NULL,
            run_id TEXT,
            decided_by TEXT,
            decided_at TEXT,
            reason TEXT,
            started_at TEXT,
            finished_at TEXT,
            result TEXT,
            version INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX proposals_status ON proposals (status);
        CREATE TABLE proposal_votes (
            proposal_id TEXT NOT NULL REFERENCES proposals (id),
            approver TEXT NOT NULL,
            decision TEXT NOT NULL,
            action_hash TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (proposal_id, approver)
        );
        """,
    ),
    (
        2,
        "local tickets",
        """
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            owner TEXT,
            priority TEXT NOT NULL,
            status TEXT NOT NULL,
            proposal_id TEXT
        );
        """,
    ),
    (
        3,
        "audit log",
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            run_id TEXT,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        """,
    ),
    (
        4,
        "self-budget meter",
        """
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            run_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cost_usd TEXT NOT NULL,
            prompt_hash TEXT NOT NULL
        );
        CREATE INDEX model_calls_at ON model_calls (at);
        CREATE INDEX model_calls_run ON model_calls (run_id);
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            model TEXT NOT NULL,
            model_calls INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            cost_usd TEXT NOT NULL DEFAULT '0'
        );
        """,
    ),
    (
        5,
        "anomalies",
        """
        CREATE TABLE anomalies (
            id TEXT PRIMARY KEY,
            series TEXT NOT NULL,
            series_key TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
            start_day TEXT NOT NULL,
            end_day TEXT NOT NULL,
            days INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'expected', 'planned',
                'false_positive', 'new_normal', 'resolved', 'muted')),
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            metric TEXT NOT NULL,
            currency TEXT NOT NULL,
            expected TEXT NOT NULL,
            actual TEXT NOT NULL,
            impact TEXT NOT NULL,
            score REAL NOT NULL,
            root_cause TEXT NOT NULL,
            owner TEXT,
            detail TEXT NOT NULL
        );
        CREATE INDEX anomalies_series ON anomalies (series_key, direction);
        CREATE INDEX anomalies_status ON anomalies (status, end_day);
        CREATE TABLE anomaly_feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            anomaly_id TEXT NOT NULL REFERENCES anomalies (id),
            status TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT
        );
        CREATE INDEX anomaly_feedback_anomaly ON anomaly_feedback (anomaly_id);
        CREATE TABLE anomaly_mutes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dimension TEXT NOT NULL,
            value TEXT NOT NULL,
            from_day TEXT NOT NULL,
            until_day TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT
        );
        """,
    ),
    (
        6,
        "alerts",
        """
        CREATE TABLE alert_deliveries (
            dedupe_key TEXT NOT NULL,
            channel TEXT NOT NULL,
            event TEXT NOT NULL,
            alert_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            owner TEXT,
            title TEXT NOT NULL,
            channel_type TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            PRIMARY KEY (dedupe_key, channel, event)
        );
        CREATE INDEX alert_deliveries_updated ON alert_deliveries (updated_at);
        """,
    ),
    (
        7,
        "policy firings",
        """
        CREATE TABLE policy_firings (
            key TEXT PRIMARY KEY,
            budget TEXT NOT NULL,
            period_start TEXT NOT NULL,
            threshold TEXT NOT NULL,
            fired_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            value TEXT NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX policy_firings_budget ON policy_firings (budget, period_start);
        """,
    ),
    (
        8,
        "sweeps",
        """
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            since TEXT NOT NULL,
            until TEXT NOT NULL,
            status TEXT NOT NULL,
            digest TEXT NOT NULL
        );
        CREATE INDEX sweeps_status ON sweeps (status, started_at);
        """,
    ),
    (
        9,
        "runaway flags",
        """
        CREATE TABLE IF NOT EXISTS runaway_flags (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            task_id TEXT NOT NULL DEFAULT '',
            team TEXT,
            status TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_true_at TEXT NOT NULL,
            resolved_at TEXT,
            trigger_received_at TEXT NOT NULL,
            latency_seconds REAL NOT NULL,
            evidence TEXT NOT NULL,
            proposal_ids TEXT NOT NULL DEFAULT '[]'
        );
        CREATE UNIQUE INDEX IF NOT EXISTS runaway_flags_open
            ON runaway_flags (agent_id, rule, task_id) WHERE status = 'open';
        CREATE INDEX IF NOT EXISTS runaway_flags_status ON runaway_flags (status, opened_at);
        """,
    ),
)


def utc_text(moment: datetime) -> str:
    """A timestamp as sortable ISO-8601 text in UTC (how the state store keeps every time)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps in the state store must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _use_wal(conn: sqlite3.Connection, attempts: int = 60) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once (no busy handler) when another
    process opens the same new file at the same moment; retry, done as soon as any opener
    succeeded."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            row = conn.execute("PRAGMA journal_mode").fetchone()
            if row and str(row[0]).lower() == "wal":
                return
            time.sleep(min(0.01 * (attempt + 1), 0.2))


class StateStore:
    """A migrated connection to the state database.

    One instance per process or thread; two instances on the same file are how tests model two
    processes. `path` may be ':memory:' for throwaway use.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 30000")
        if self.path != ":memory:":
            _use_wal(self.conn)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._lock = threading.RLock()
        self._depth = 0
        self.migrate()

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; return the versions applied now."""
        applied: list[int] = []
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS state_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM state_migrations")}
            for version, name, sql in STATE_MIGRATIONS:
                if version in done:
                    continue
                for statement in (s for s in sql.split(";") if s.strip()):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO state_migrations VALUES (?, ?, ?)",
                    (version, name, utc_text(datetime.now(UTC))),
                )
                applied.append(version)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from its first statement.

        Nested use joins the outer transaction, so a ledger transition and its audit entry commit
        together or not at all.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query."""
        with self._lock:
            return list(self.conn.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        self.conn.close()
