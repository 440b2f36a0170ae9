"""Opening the DuckDB warehouse: one place that creates, migrates and hardens the connection."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from warehouse.errors import ConfigError
from warehouse.migrations import migrate

__all__ = ["connect", "open_with_retry", "resolve_warehouse_path"]

LOCK_WAIT_SECONDS = 10.0
"""How long to wait for another process (e.g. `finops events` flushing) to release the file."""


def open_with_retry(
    path: Path, open_fn: Callable[[], duckdb.DuckDBPyConnection]
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to `LOCK_WAIT_SECONDS` while another process holds the
    write lock (DuckDB allows one writer process); then a clear error instead of a traceback."""
    deadline, delay = time.monotonic() + LOCK_WAIT_SECONDS, 0.02
    while True:
        try:
            return open_fn()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                first = str(exc).splitlines()[0]
                raise ConfigError(
                    f"warehouse {path} is locked by another process: {first}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def resolve_warehouse_path(url: str | None, default: Path) -> Path:
    """The DuckDB file of `warehouse.url` (`duckdb:///abs/path`, `duckdb://rel/path`).

    With a Spark URL (`spark://…`, `sc://…`) cost queries run on Spark, and the local file at
    `default` still holds the agent's own tables (inventory, stored forecasts, usage events).
    """
    from warehouse.engines.url import parse_warehouse_url

    path = parse_warehouse_url(url, default).path
    return path if path is not None else default


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating when needed) and migrate the warehouse at `path`.

    The connection is for trusted code paths (ingest, the query layer). Untrusted SQL goes through
    the guarded read-only connection of the SQL guard instead.
    """
    p = Path(path)
    if str(p) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    con = open_with_retry(p, lambda: duckdb.connect(str(p), read_only=read_only))
    if not read_only:
        migrate(con)
    return con
