"""The PostgreSQL backend of the state store: a psycopg 3 connection that speaks the subset of
`sqlite3.Connection` the state store's callers use, so their SQL is written once.

- `execute(sql, params)` translates SQLite SQL (`warehouse.state.sqlcompat.translate_query`) and
  returns a cursor with `fetchone` / `fetchall` / iteration, `rowcount` and `lastrowid` (an
  INSERT into a table with an identity column gets `RETURNING <column>` appended).
- Parameters are bound client-side (`psycopg.ClientCursor`), so a value takes its type from where
  it is used, as in SQLite: `CASE WHEN ? IS NULL …`, `coalesce(?, col)` and `? = 'sent'` work
  without casts. Booleans, dates and datetimes are sent as SQLite stores them (`'1'`/`'0'`,
  ISO text). `numeric` results (`sum` of integers) come back as `int`, or `float` with a fraction.
- `BEGIN IMMEDIATE` becomes `BEGIN` + `pg_advisory_xact_lock(WRITE_LOCK_KEY)`: one writer at a
  time across every process and replica, held until COMMIT / ROLLBACK, exactly SQLite's
  write-lock semantics. Under READ COMMITTED every statement after the lock sees all writes
  committed before it, so a read-check-write inside `transaction()` is a compare-and-set.
  (SERIALIZABLE would need every caller to retry on serialization failures, and several
  transactions call out to the audit log or commit half-way (`Ledger._refuse`); the lock keeps
  their code unchanged. State writes are small, so one writer at a time costs nothing here.)
- Driver errors are re-raised as the matching `sqlite3` exception (`IntegrityError`,
  `OperationalError`, …) chained to the psycopg error, so `except sqlite3.IntegrityError` works on
  both backends. Unlike SQLite, a failed statement aborts the whole PostgreSQL transaction.
- `julianday(text)` is provided as a SQL function (SQLite's day number, UTC).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import ClientCursor
from psycopg.adapt import Dumper, Loader
from psycopg.rows import RowMaker

from warehouse.errors import FinopsError
from warehouse.state.sqlcompat import Row, is_begin_immediate, translate_query

__all__ = [
    "SCHEMA_LOCK_KEY",
    "WRITE_LOCK_KEY",
    "PgConnection",
    "PgCursor",
    "StateConnectionError",
    "connect_checkpoint_conn",
    "redact_url",
    "with_schema_lock",
]

WRITE_LOCK_KEY = 0x46_494E_4F50_5301
"""Advisory lock id of the state store's write transactions ("FINOPS" + 1)."""
SCHEMA_LOCK_KEY = 0x46_494E_4F50_5302
"""Advisory lock id held while LangGraph's checkpoint tables are created."""

_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\"?[A-Za-z_][\w]*\"?)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)

_JULIANDAY = """
CREATE FUNCTION julianday(text) RETURNS double precision
LANGUAGE sql STABLE STRICT SET TimeZone = 'UTC'
AS $$ SELECT (extract(epoch FROM CAST($1 AS timestamptz)) / 86400.0 + 2440587.5)::float8 $$
"""

_ERRORS: tuple[tuple[type[psycopg.Error], type[sqlite3.Error]], ...] = (
    (psycopg.IntegrityError, sqlite3.IntegrityError),
    (psycopg.OperationalError, sqlite3.OperationalError),
    (psycopg.ProgrammingError, sqlite3.OperationalError),
    (psycopg.DataError, sqlite3.DataError),
    (psycopg.InterfaceError, sqlite3.InterfaceError),
    (psycopg.Error, sqlite3.DatabaseError),
)


class StateConnectionError(FinopsError, sqlite3.OperationalError):
    """The PostgreSQL state database cannot be reached (the message names it, password hidden)."""


def redact_url(url: str) -> str:
    """The URL without its password (for error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _as_sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    kind = next(target for source, target in _ERRORS if isinstance(exc, source))
    return kind(str(exc).strip())


class _SqliteBool(Dumper):
    """A bool as SQLite stores it, typed by where it is used ('1' is both a bigint and true)."""

    oid = 0

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _IsoText(Dumper):
    """Dates and datetimes as the ISO text sqlite3's default adapters write."""

    oid = 0

    def dump(self, obj: date) -> bytes:
        return str(obj).encode()


class _SqliteNumber(Loader):
    """`numeric` results as SQLite returns them: int when whole, float otherwise."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    names = [c.name for c in cursor.description or ()]
    index = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
    return lambda values: Row(names, index, values)


class PgCursor:
    """The result of one `PgConnection.execute`."""

    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Row]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row


class PgConnection:
    """A psycopg connection in autocommit mode with SQLite's statement surface."""

    def __init__(self, url: str, *, connect_timeout: int = 30) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self.identity_columns: dict[str, str] = {}
        self._raw = self._open()

    def _open(self) -> psycopg.Connection[Row]:
        try:
            raw = psycopg.Connection.connect(
                self.url,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                cursor_factory=ClientCursor,
                row_factory=_row_factory,
                application_name="finops-state",
            )
        except psycopg.Error as exc:
            raise StateConnectionError(
                f"cannot connect to the state database {redact_url(self.url)}: {exc}"
            ) from exc
        raw.adapters.register_dumper(bool, _SqliteBool)
        raw.adapters.register_dumper(date, _IsoText)
        raw.adapters.register_dumper(datetime, _IsoText)
        raw.adapters.register_loader("numeric", _SqliteNumber)
        return raw

    def ensure_open(self) -> None:
        """Reconnect when the server dropped the connection (only between transactions)."""
        if self._raw.closed or self._raw.broken:
            self._raw = self._open()

    @property
    def in_transaction(self) -> bool:
        return self._raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def failed(self) -> bool:
        """Whether the open transaction was aborted by a failed statement."""
        return self._raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Run one SQLite-dialect statement."""
        if is_begin_immediate(sql):
            self._run("BEGIN", ())
            return self._run("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        text = translate_query(sql)
        returning = self._identity_of(sql)
        if returning:
            text = f"{text.rstrip().rstrip(';')} RETURNING {returning}"
        return self._run(text, tuple(params), returning=bool(returning))

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> PgCursor:
        total, last = 0, None
        for params in seq:
            cur = self.execute(sql, params)
            total, last = total + max(cur.rowcount, 0), cur.lastrowid
        return PgCursor([], total, last)

    def _identity_of(self, sql: str) -> str | None:
        m = _INSERT.match(sql)
        if not m or _RETURNING.search(sql):
            return None
        return self.identity_columns.get(m.group(1).strip('"').lower())

    def _run(self, text: str, params: tuple[Any, ...], *, returning: bool = False) -> PgCursor:
        try:
            with self._raw.cursor() as cur:
                cur.execute(text, params)
                rows = cur.fetchall() if cur.description is not None else []
                count = cur.rowcount
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        if returning:
            return PgCursor([], count, int(rows[-1][0]) if rows else None)
        return PgCursor(rows, count, None)

    def load_identity_columns(self) -> None:
        """Learn which tables have an identity column (for `lastrowid`)."""
        rows = self._run(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE is_identity = 'YES' AND table_schema = current_schema()",
            (),
        ).fetchall()
        self.identity_columns = {str(r[0]).lower(): str(r[1]) for r in rows}

    def ensure_functions(self) -> None:
        """Create the SQLite functions callers use (inside the migration transaction)."""
        row = self._run("SELECT to_regprocedure('julianday(text)')", ()).fetchone()
        if row is None or row[0] is None:
            self._run(_JULIANDAY, ())

    def close(self) -> None:
        self._raw.close()


def connect_checkpoint_conn(url: str) -> psycopg.Connection[Any]:
    """A connection for LangGraph's `PostgresSaver` (autocommit, dict rows, no prepares)."""
    from psycopg.rows import dict_row

    try:
        return psycopg.Connection.connect(
            url, autocommit=True, prepare_threshold=0, row_factory=dict_row
        )
    except psycopg.Error as exc:
        raise StateConnectionError(
            f"cannot connect to the checkpoint database {redact_url(url)}: {exc}"
        ) from exc


def with_schema_lock(conn: psycopg.Connection[Any], work: Callable[[], None]) -> None:
    """Run `work` holding the schema advisory lock (concurrent first starts create tables once)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
    try:
        work()
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
