"""Copy warehouse tables from DuckDB into a Spark engine (tests, benchmarks, migrations).

Each table is written once to a local parquet file with DuckDB's own `COPY` (money stays
DECIMAL(38,12), timestamps stay timezone-less, JSON becomes text) and registered in Spark under
the same name, so both engines answer the same queries over the same rows.
(`tools.vtags.publish` builds on it to copy a virtual-tag allocation, re-keyed for the target.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from warehouse.engines.spark import SparkEngine

__all__ = ["publish_tables"]


def _select_list(con: duckdb.DuckDBPyConnection, table: str) -> str:
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    if not cols:
        raise ValueError(f"table {table!r} is not in the DuckDB warehouse")
    return ", ".join(
        f'CAST("{n}" AS VARCHAR) AS "{n}"' if t == "JSON" else f'"{n}"' for n, t in cols
    )


def publish_tables(
    con: duckdb.DuckDBPyConnection,
    engine: SparkEngine,
    tables: Sequence[str],
    workdir: Path,
    *,
    as_names: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write each DuckDB table to `workdir/<name>.parquet` and register it in `engine`."""
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for table in tables:
        if not table.isidentifier():
            raise ValueError(f"invalid table name {table!r}")
        path = workdir / f"{table}.parquet"
        path.unlink(missing_ok=True)
        con.execute(
            f"COPY (SELECT {_select_list(con, table)} FROM {table}) TO '{path}' (FORMAT parquet)"
        )
        name = (as_names or {}).get(table, table)
        engine.register_parquet(name, path)
        out[name] = path
    return out
