"""Copy warehouse tables from DuckDB into a Spark engine (tests, benchmarks, migrations).

Each table is written once to a local parquet file with DuckDB's own `COPY` (money stays
DECIMAL(38,12), timestamps stay timezone-less, JSON becomes text) and registered in Spark under
the same name, so both engines answer the same queries over the same rows.

An allocation built by DuckDB is keyed by DuckDB's `hash()` of the deciding columns, which Spark
cannot compute. `publish_allocation` re-keys it: each key's columns (from `vtag_attrs`) are hashed
by the target engine with the same key expression the queries use, and `vtag_meta` is stamped
with the data fingerprint as the target engine sees it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb

from warehouse.engines.base import bind, render, transpile
from warehouse.engines.spark import SparkEngine

__all__ = ["publish_allocation", "publish_tables"]


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


def publish_allocation(con: duckdb.DuckDBPyConnection, engine: SparkEngine, workdir: Path) -> int:
    """Publish `vtag_alloc` and `vtag_meta`, re-keyed for `engine`; returns the key count."""
    from tools.vtags.freshness import FINGERPRINT_SQL, fingerprint_of
    from tools.vtags.sql import key_expression

    meta = con.execute("SELECT key_columns FROM vtag_meta").fetchone()
    if meta is None:
        raise ValueError("no allocation has been built in the DuckDB warehouse")
    columns: list[str] = json.loads(meta[0])
    publish_tables(
        con,
        engine,
        ["vtag_attrs", "vtag_alloc", "vtag_meta"],
        workdir,
        as_names={t: f"src_{t}" for t in ("vtag_attrs", "vtag_alloc", "vtag_meta")},
    )
    rekey = (
        "SELECT a.vtag, m.k, a.month, a.value, a.share, a.provenance, a.detail, a.confidence "
        "FROM src_vtag_alloc AS a JOIN (SELECT k AS src_k, "
        f"{key_expression(columns)} AS k FROM src_vtag_attrs) AS m ON m.src_k = a.k"
    )
    engine.register("vtag_alloc", engine.session.sql(transpile(rekey, engine.dialect)), cache=True)
    fingerprint = fingerprint_of(engine.query(FINGERPRINT_SQL)[0])
    stamped = (
        "SELECT definitions_sha, ? AS fingerprint, key_columns, built_at, seconds, keys "
        "FROM src_vtag_meta"
    )
    stamped_sql = render(bind(stamped, [fingerprint]), engine.dialect)
    engine.register("vtag_meta", engine.session.sql(stamped_sql))
    rows = engine.fetch("SELECT count(*) FROM src_vtag_attrs")
    return int(rows[0][0])
