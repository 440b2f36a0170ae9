"""Copy a virtual-tag allocation built by DuckDB into a Spark engine (tests, benchmarks).

An allocation built by DuckDB is keyed by DuckDB's `hash()` of the deciding columns, which Spark
cannot compute. `publish_allocation` re-keys it: each key's columns (from `vtag_attrs`) are hashed
by the target engine with the same key expression the queries use, and `vtag_meta` is stamped
with the data fingerprint as the target engine sees it.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tools.vtags.freshness import FINGERPRINT_SQL, fingerprint_of
from tools.vtags.sql import key_expression
from warehouse.engines.base import bind, render, transpile
from warehouse.engines.publish import publish_tables
from warehouse.engines.spark import SparkEngine

__all__ = ["publish_allocation"]


def publish_allocation(con: duckdb.DuckDBPyConnection, engine: SparkEngine, workdir: Path) -> int:
    """Publish `vtag_alloc` and `vtag_meta`, re-keyed for `engine`; returns the key count."""
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
