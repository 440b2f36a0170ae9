"""The operational state store: the approvals ledger, the local tickets table, the audit log and
the self-budget meter, in one SQLite file (`$FINOPS_HOME/state.db`, the default) or in PostgreSQL
when `state.url` is `postgresql://…` (several `finops serve` replicas share one store).

LangGraph's checkpointer lives in the same database (its own tables). Writes that must not race go
through `transaction()`, which takes the database's write lock up front (SQLite: `BEGIN
IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock, see `warehouse.state.postgres`), so a
compare-and-set between two processes is decided by the database, not by timing. Callers write
SQLite SQL once; on PostgreSQL it is translated (`warehouse.state.sqlcompat`). Schema changes are
numbered, append-only migrations recorded in `state_migrations`, written once in SQLite DDL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from warehouse.errors import ConfigError
from warehouse.state.sqlcompat import split_statements, translate_ddl

__all__ = [
    "STATE_MIGRATIONS",
    "StateStore",
    "is_postgres_url",
    "resolve_state_target",
    "utc_text",
]

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
    (
        10,
        "ticket links",
        """
        CREATE TABLE ticket_links (
            dedup_key TEXT PRIMARY KEY,
            local_ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            backend TEXT NOT NULL,
            external_key TEXT,
            url TEXT,
            ticket_proposal_id TEXT NOT NULL,
            finding_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE TABLE ticket_tracked (
            dedup_key TEXT NOT NULL REFERENCES ticket_links (dedup_key),
            proposal_id TEXT NOT NULL,
            synced_status TEXT,
            posted TEXT NOT NULL DEFAULT '[]',
            synced_at TEXT,
            PRIMARY KEY (dedup_key, proposal_id)
        );
        CREATE INDEX ticket_tracked_proposal ON ticket_tracked (proposal_id);
        CREATE TABLE ticket_comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            at TEXT NOT NULL,
            body TEXT NOT NULL
        );
        """,
    ),
    (
        11,
        "realized savings",
        """
        CREATE TABLE savings (
            proposal_id TEXT NOT NULL REFERENCES proposals (id),
            resource_id TEXT NOT NULL,
            action TEXT NOT NULL,
            owner TEXT,
            executed_at TEXT NOT NULL,
            estimated_monthly TEXT NOT NULL,
            baseline_daily TEXT,
            actual_daily TEXT,
            measured_daily TEXT,
            post_days INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('measuring', 'measured', 'rolled_back',
                'no_bills')),
            currency TEXT NOT NULL,
            metric TEXT NOT NULL,
            baseline_start TEXT NOT NULL,
            baseline_end TEXT NOT NULL,
            baseline_days INTEGER NOT NULL DEFAULT 0,
            baseline_rows INTEGER NOT NULL DEFAULT 0,
            post_start TEXT NOT NULL,
            post_end TEXT,
            post_rows INTEGER NOT NULL DEFAULT 0,
            rolled_back_at TEXT,
            rollback_id TEXT,
            last_measured_at TEXT NOT NULL,
            PRIMARY KEY (proposal_id, resource_id)
        );
        CREATE INDEX savings_status ON savings (status, executed_at);
        """,
    ),
    (
        12,
        "slack",
        """
        CREATE TABLE slack_events (
            event_key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX slack_events_seen ON slack_events (seen_at);
        CREATE TABLE slack_cards (
            proposal_id TEXT NOT NULL REFERENCES proposals (id),
            channel TEXT NOT NULL,
            ts TEXT,
            shown_status TEXT NOT NULL,
            posted_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (proposal_id, channel)
        );
        """,
    ),
    (
        13,
        "scheduler runs",
        """
        CREATE TABLE scheduler_runs (
            job TEXT NOT NULL,
            fire_time TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'skipped',
                'missed', 'abandoned')),
            claimed_by TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            lease_until TEXT NOT NULL,
            finished_at TEXT,
            coalesced INTEGER NOT NULL DEFAULT 0,
            detail TEXT,
            PRIMARY KEY (job, fire_time)
        );
        CREATE INDEX scheduler_runs_status ON scheduler_runs (job, status);
        """,
    ),
    (
        14,
        "ticket tracking order",
        # When a proposal joined a ticket: the order comments are posted in. SQLite's rowid gave
        # it before, but PostgreSQL's ctid moves on every UPDATE, so it is now a column.
        """
        ALTER TABLE ticket_tracked ADD COLUMN tracked_at TEXT;
        """,
    ),
)


def utc_text(moment: datetime) -> str:
    """A timestamp as sortable ISO-8601 text in UTC (how the state store keeps every time)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps in the state store must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def is_postgres_url(target: str) -> bool:
    """Whether a state target names a PostgreSQL server rather than a SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


def resolve_state_target(url: str | None, default: Path) -> str:
    """`state.url` → what `StateStore` opens: a PostgreSQL URL, or a SQLite file path.

    Example: `resolve_state_target("sqlite:///var/finops/state.db", home)` → "/var/finops/state.db";
    `resolve_state_target(None, home / "state.db")` → the home's file.
    """
    if not url:
        return str(default)
    if is_postgres_url(url):
        return url
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if path:
            return str(Path(path).expanduser())
    raise ConfigError(
        f"state.url {url!r} is not supported; use sqlite:///path/to/state.db or "
        "postgresql://user@host:5432/dbname"
    )


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


def _open_sqlite(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    if path != ":memory:":
        _use_wal(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _postgres() -> Any:
    """The PostgreSQL backend module (psycopg is an optional extra: `.[postgres]`)."""
    try:
        import warehouse.state.postgres as module
    except ImportError as exc:
        raise ConfigError(
            "state.url names a PostgreSQL server but psycopg is not installed; "
            "pip install 'agentic-finops[postgres]'"
        ) from exc
    return module


class StateStore:
    """A migrated connection to the state database.

    `target` is a SQLite file path (':memory:' for throwaway use) or a `postgresql://` URL (see
    `resolve_state_target`). One instance per process or thread; two instances on the same
    database are how tests model two processes. On PostgreSQL, `conn` and the rows of `query`
    are `warehouse.state.postgres` adapters with the same surface as their sqlite3 counterparts
    (`execute`, `fetchone`, `fetchall`, `rowcount`, `lastrowid`; rows by index and by name).
    """

    def __init__(self, target: Path | str) -> None:
        self.path = str(target)
        self.backend: Literal["sqlite", "postgres"] = (
            "postgres" if is_postgres_url(self.path) else "sqlite"
        )
        if self.backend == "postgres":
            self.conn = cast(sqlite3.Connection, _postgres().PgConnection(self.path))
        else:
            self.conn = _open_sqlite(self.path)
        self._lock = threading.RLock()
        self._depth = 0
        self.migrate()

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; return the versions applied now."""
        applied: list[int] = []
        with self.transaction() as conn:
            conn.execute(
                self._ddl(
                    "CREATE TABLE IF NOT EXISTS state_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
            )
            if self.backend == "postgres":
                self._pg().ensure_functions()
            done = {r[0] for r in conn.execute("SELECT version FROM state_migrations")}
            for version, name, sql in STATE_MIGRATIONS:
                if version in done:
                    continue
                for statement in split_statements(sql):
                    conn.execute(self._ddl(statement))
                conn.execute(
                    "INSERT INTO state_migrations VALUES (?, ?, ?)",
                    (version, name, utc_text(datetime.now(UTC))),
                )
                applied.append(version)
        if self.backend == "postgres":
            self._pg().load_identity_columns()
        return applied

    def _ddl(self, statement: str) -> str:
        return translate_ddl(statement) if self.backend == "postgres" else statement

    def _pg(self) -> Any:
        return cast(Any, self.conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its first statement.

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
            if self.backend == "postgres":
                self._pg().ensure_open()
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._rollback()
                raise
            else:
                self._commit()
            finally:
                self._depth = 0

    def _rollback(self) -> None:
        if self.backend == "sqlite":
            self.conn.execute("ROLLBACK")
            return
        with suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    def _commit(self) -> None:
        if self.backend == "postgres" and self._pg().failed:
            self.conn.execute("ROLLBACK")
            raise sqlite3.OperationalError(
                "a statement failed inside this state transaction and PostgreSQL rolled the "
                "whole transaction back; nothing in it was saved"
            )
        self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query."""
        with self._lock:
            if self.backend == "postgres" and not self._depth:
                self._pg().ensure_open()
            return list(self.conn.execute(sql, tuple(params)).fetchall())

    def insert_returning_id(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table with an integer id and return the new row's id.

        Joins the caller's transaction when there is one. Example:
        `store.insert_returning_id("INSERT INTO tickets (...) VALUES (?, ...)", values)` → 7.
        """
        with self.transaction() as conn:
            rowid = conn.execute(sql, tuple(params)).lastrowid
        if rowid is None:
            raise sqlite3.ProgrammingError(f"no id was generated by {sql.strip()[:80]!r}")
        return int(rowid)

    def close(self) -> None:
        self.conn.close()
