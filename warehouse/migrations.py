"""Numbered, append-only schema migrations for the cost warehouse.

Each migration runs once, inside a transaction, and is recorded in `schema_migrations`. Never edit
a released migration: add the next number. (Pattern from simonw/llm's `migrations.py`.)
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from warehouse.schema import PROVENANCE_COLUMNS, focus_columns

__all__ = ["MIGRATIONS", "applied_versions", "migrate"]

Migration = tuple[int, str, Callable[[], str]]


def _costs_table() -> str:
    cols = [f'"{c.name}" {c.sql_type}' for c in focus_columns()]
    cols += [f'"{name}" {sql_type}' for name, sql_type in PROVENANCE_COLUMNS]
    return "CREATE TABLE costs (\n  " + ",\n  ".join(cols) + "\n)"


def _ingests_table() -> str:
    return """
    CREATE TABLE ingests (
        ingest_id VARCHAR PRIMARY KEY,
        source_name VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        files JSON NOT NULL,
        row_count BIGINT NOT NULL,
        replaced_rows BIGINT NOT NULL,
        periods JSON NOT NULL,
        warnings JSON NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP NOT NULL
    )"""


def _usage_metrics_table() -> str:
    """Business usage per day and virtual tag value, for unit economics (`finops units`).

    One row per CSV line: `value` is normalized as the virtual tag stores values at load time,
    `raw_value` keeps the text as written so reports can re-normalize with the current aliases.
    Loads replace by (source, metric, day); `file` and `loaded_at` are provenance.
    """
    return """
    CREATE TABLE usage_metrics (
        day DATE NOT NULL,
        metric VARCHAR NOT NULL,
        vtag VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        raw_value VARCHAR NOT NULL,
        quantity DECIMAL(38,6) NOT NULL,
        source VARCHAR NOT NULL,
        file VARCHAR,
        loaded_at TIMESTAMP NOT NULL
    )"""


def _inventory_tables() -> str:
    """Cloud and cluster inventory (`resources`) and hourly utilization (`utilization`), written by
    `finops collect` (see `warehouse/inventory`). `resource_id` is what FOCUS `ResourceId` holds for
    the resource, so `resources` joins `costs` on it."""
    return """
CREATE TABLE resources (
  provider VARCHAR NOT NULL, resource_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
  region VARCHAR, account_id VARCHAR, name VARCHAR, state VARCHAR, instance_type VARCHAR,
  attached BOOLEAN, tags JSON, properties JSON, launched_at TIMESTAMP,
  collected_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,
  PRIMARY KEY (provider, resource_id));
CREATE TABLE utilization (
  provider VARCHAR NOT NULL, resource_id VARCHAR NOT NULL, metric VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL, value DOUBLE NOT NULL, unit VARCHAR, source VARCHAR NOT NULL,
  PRIMARY KEY (provider, resource_id, metric, ts));
"""


MIGRATIONS: tuple[Migration, ...] = (
    (1, "create costs (FOCUS 1.2 + provenance)", _costs_table),
    (2, "create ingests log", _ingests_table),
    (3, "create usage_metrics (unit economics)", _usage_metrics_table),
    (4, "create resources and utilization (inventory collectors)", _inventory_tables),
)


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    return {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration in order; return the versions applied now."""
    done = applied_versions(con)
    applied: list[int] = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql())
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
