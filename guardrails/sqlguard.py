"""The SQL guard: one read-only SELECT over the warehouse tables, with row and time limits.

Three layers, each sufficient for writes and file access on its own:
1. `check_select` parses the text with sqlglot and admits exactly one query (SELECT, set
   operations, CTEs) whose tables are only the allowed warehouse tables or its own CTEs, with no
   table functions, file paths or system functions anywhere in the tree.
2. `open_readonly` opens the warehouse read-only with external (file and network) access
   disabled and the configuration locked, so even SQL that slipped past the parser cannot write,
   read files, load extensions or turn the settings back on.
3. `run_guarded` enforces `SqlLimits`: on a read-only warehouse file it runs the query in a
   child process (`guardrails/sqlworker.py`) whose address space is capped and which is killed at
   the time limit, because DuckDB's own memory limit and `interrupt()` miss work done while
   planning (constant folding of `list_sum(range(200000000))` ran 48 s at 14 GB in-process);
   elsewhere (an in-memory or writable connection) it interrupts the statement from a timer.
   Either way the rows and the bytes returned are capped, with a note saying what was cut.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import duckdb
import sqlglot
from pydantic import BaseModel
from sqlglot import exp

from guardrails.settings import SqlLimits
from warehouse.db import open_with_retry
from warehouse.errors import QueryError

__all__ = [
    "ALLOWED_TABLES",
    "GuardedQueryResult",
    "SqlLimits",
    "check_select",
    "open_readonly",
    "run_guarded",
]

ALLOWED_TABLES = frozenset({"costs", "ingests"})
_QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_FORBIDDEN_NODES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Copy,
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Use,
    exp.TruncateTable,
    exp.Into,
    exp.LoadData,
    exp.Export,
)
_DENIED_PREFIXES = ("read_", "duckdb_", "pragma_", "sniff_", "glob", "query", "getenv")
_DENIED_SUFFIXES = ("_scan", "_attach")
_READONLY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


_WORKER = Path(__file__).with_name("sqlworker.py")
_MEMORY_ERROR = "query exceeded the {mb} MB memory limit; aggregate more or select less"


class GuardedQueryResult(BaseModel):
    """Rows of one guarded query (JSON-friendly values), and whether a cap cut it (`note` says
    which)."""

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    elapsed_ms: int
    note: str | None = None


def _parse_one(sql: str) -> exp.Expression:
    if not sql.strip():
        raise QueryError("the SQL is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryError(f"exactly one statement is allowed, got {len(statements)}")
    return cast(exp.Expression, statements[0])


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _ctes_in_scope(node: exp.Expression) -> set[str]:
    """CTE names visible where `node` sits: those of the WITH clauses of its ancestors only."""
    names: set[str] = set()
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with") or parent.args.get("with_")
        if isinstance(with_, exp.With):
            names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        parent = parent.parent
    return names


def check_select(sql: str, *, allowed_tables: frozenset[str] = ALLOWED_TABLES) -> str:
    """The normalized single SELECT, or QueryError saying precisely why it is refused."""
    tree = _parse_one(sql)
    if not isinstance(tree, _QUERY_TYPES):
        raise QueryError(f"only SELECT queries are allowed, got {tree.key.upper()}")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise QueryError(f"{node.key.upper()} is not allowed in a read-only query")
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise QueryError(f"table functions are not allowed: {table.this.sql('duckdb')}")
        if table.args.get("catalog") or table.args.get("db"):
            raise QueryError(f"only unqualified tables are allowed, got {table.sql('duckdb')}")
        name = table.name.lower()
        if name not in allowed_tables and name not in _ctes_in_scope(table):
            allowed = ", ".join(sorted(allowed_tables))
            raise QueryError(f"table {table.name!r} is not allowed; query only {allowed}")
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if name.startswith(_DENIED_PREFIXES) or name.endswith(_DENIED_SUFFIXES):
            raise QueryError(f"function {name}() is not allowed in a read-only query")
    return tree.sql(dialect="duckdb")


@functools.cache
def _readonly_config() -> dict[str, str | bool | int | float | list[str]]:
    """`_READONLY_CONFIG` without the settings this DuckDB version does not know."""
    with duckdb.connect() as probe:
        available = {r[0] for r in probe.execute("SELECT name FROM duckdb_settings()").fetchall()}
    return {k: v for k, v in _READONLY_CONFIG.items() if k in available}


def open_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse opened read-only, without file/network access, with settings locked."""
    config = _readonly_config()
    return open_with_retry(path, lambda: duckdb.connect(str(path), read_only=True, config=config))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _execute_with_timeout(
    con: duckdb.DuckDBPyConnection, sql: str, timeout_s: float
) -> tuple[list[str], list[tuple[Any, ...]]]:
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.start()
    try:
        cur = con.execute(sql)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description or []]
    except duckdb.InterruptException:
        raise QueryError(f"query exceeded the {timeout_s:g} s time limit") from None
    except duckdb.Error as exc:
        if fired.is_set():
            raise QueryError(f"query exceeded the {timeout_s:g} s time limit") from None
        raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        timer.cancel()
    return columns, rows


def _readonly_file(con: duckdb.DuckDBPyConnection) -> str | None:
    """The path of `con`'s database when it is a file opened read-only, else None."""
    row = con.execute(
        "SELECT path, readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if row is None or not row[0] or not row[1]:
        return None
    return str(row[0])


def _run_in_worker(
    path: str, sql: str, limits: SqlLimits, max_rows: int
) -> tuple[list[str], list[list[Any]], bool, bool]:
    """Run in the capped child process; (columns, rows, more rows existed, cut by bytes)."""
    job = {
        "path": path,
        "sql": sql,
        "config": _readonly_config(),
        "memory_mb": limits.memory_limit_mb,
        "headroom_mb": limits.memory_headroom_mb,
        "threads": limits.threads,
        "max_rows": max_rows,
        "max_bytes": limits.max_result_bytes,
    }
    timeout = limits.timeout_seconds
    try:
        done = subprocess.run(
            [sys.executable, "-I", str(_WORKER)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise QueryError(f"query exceeded the {timeout:g} s time limit") from None
    if done.returncode < 0:  # killed: the address-space cap leaves no room even to fail
        raise QueryError(_MEMORY_ERROR.format(mb=limits.memory_limit_mb))
    try:
        out = json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        out = None
    if not isinstance(out, dict):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise QueryError(f"the query process failed (exit {done.returncode}): {last}")
    if out.get("error") == "memory":
        raise QueryError(_MEMORY_ERROR.format(mb=limits.memory_limit_mb))
    if "error" in out:
        raise QueryError(str(out["error"]))
    return out["columns"], out["rows"], bool(out["more"]), bool(out["cut_by_bytes"])


def _run_in_process(
    con: duckdb.DuckDBPyConnection, sql: str, limits: SqlLimits, max_rows: int
) -> tuple[list[str], list[list[Any]], bool, bool]:
    columns, raw = _execute_with_timeout(con, sql, limits.timeout_seconds)
    rows: list[list[Any]] = []
    size = 2
    for r in raw[:max_rows]:
        row = [_jsonable(v) for v in r]
        size += len(json.dumps(row, default=str)) + 1
        if size > limits.max_result_bytes:
            return columns, rows, True, True
        rows.append(row)
    return columns, rows, len(raw) > max_rows, False


def _note(rows: int, more: bool, cut_by_bytes: bool, limits: SqlLimits) -> str | None:
    if cut_by_bytes:
        return (
            f"result cut at {rows} rows: the {limits.max_result_bytes}-byte result cap was "
            "reached; aggregate, filter or select fewer columns"
        )
    if more:
        return f"result cut at {rows} rows (row cap); more rows exist"
    return None


def run_guarded(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    max_rows: int = 200,
    timeout_s: float | None = None,
    limits: SqlLimits | None = None,
    allowed_tables: frozenset[str] = ALLOWED_TABLES,
) -> GuardedQueryResult:
    """Check, then run within `limits` (time, memory, rows, bytes); `max_rows` and `timeout_s`
    can only tighten them. A query over a limit raises QueryError naming the limit."""
    limits = limits or SqlLimits()
    if timeout_s is not None:
        limits = limits.model_copy(
            update={"timeout_seconds": min(timeout_s, limits.timeout_seconds)}
        )
    rows_cap = max(1, min(int(max_rows), limits.max_rows))
    checked = check_select(sql, allowed_tables=allowed_tables)
    limited = f"SELECT * FROM ({checked}) AS q LIMIT {rows_cap + 1}"
    started = time.perf_counter()
    path = _readonly_file(con)
    if path is not None:
        columns, rows, more, cut = _run_in_worker(path, limited, limits, rows_cap)
    else:
        columns, rows, more, cut = _run_in_process(con, limited, limits, rows_cap)
    elapsed = int((time.perf_counter() - started) * 1000)
    return GuardedQueryResult(
        sql=limited,
        columns=columns,
        rows=rows,
        row_count=len(rows),
        truncated=more or cut,
        elapsed_ms=elapsed,
        note=_note(len(rows), more, cut, limits),
    )
