"""Opening the DuckDB warehouse: one place that creates, migrates and hardens the connection."""

from __future__ import annotations

from pathlib import Path

import duckdb

from agent.errors import ConfigError
from warehouse.migrations import migrate

__all__ = ["connect", "resolve_warehouse_path"]


def resolve_warehouse_path(url: str | None, default: Path) -> Path:
    """Turn `warehouse.url` (`duckdb:///abs/path` or `duckdb://rel/path`) into a file path."""
    if not url:
        return default
    if not url.startswith("duckdb://"):
        raise ConfigError(
            f"warehouse.url {url!r} is not supported by this build; use duckdb:///path/to/file.duckdb"
        )
    return Path(url.removeprefix("duckdb://")).expanduser()


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating when needed) and migrate the warehouse at `path`.

    The connection is for trusted code paths (ingest, the query layer). Untrusted SQL goes through
    the guarded read-only connection of the SQL guard instead.
    """
    p = Path(path)
    if str(p) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(p), read_only=read_only)
    if not read_only:
        migrate(con)
    return con
