"""The operational state store: the approvals ledger, the local tickets table, the audit log and
the self-budget meter, in one SQLite file (`$FINOPS_HOME/state.db`, the default) or in PostgreSQL
when `state.url` is `postgresql://…` (several `finops serve` replicas share one store).

LangGraph's checkpointer lives in the same database (its own tables). Writes that must not race go
through `transaction()`, which takes the database's write lock up front (SQLite: `BEGIN
IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock, see `warehouse.state.postgres`), so a
compare-and-set between two processes is decided by the database, not by timing. Callers write
SQLite SQL once; on PostgreSQL it is translated (`warehouse.state.sqlcompat`). The schema is the
numbered, append-only list in `warehouse.state.migrations`, applied when a store opens and
recorded in `state_migrations`.
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
from warehouse.state.migrations import STATE_MIGRATIONS, VERSIONS_TABLE
from warehouse.state.sqlcompat import split_statements, translate_ddl

__all__ = [
    "STATE_MIGRATIONS",
    "StateStore",
    "is_postgres_url",
    "resolve_state_target",
    "utc_text",
]


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
            conn.execute(self._ddl(VERSIONS_TABLE))
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
