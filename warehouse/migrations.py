"""Numbered, append-only schema migrations for the cost warehouse (the DuckDB file).

This is the one list of the warehouse's persistent tables; the state store has its own in
`warehouse.state.migrations`. `warehouse.db.connect` applies every pending migration when it
opens the file, so existing homes upgrade in place. Each migration runs once, inside a
transaction, and is recorded in `schema_migrations`. Never edit a released migration: add the
next number. (Pattern from simonw/llm's `migrations.py`.)

| # | tables | written by |
|---|---|---|
| 1 | costs | `warehouse.ingest` |
| 2 | ingests | `warehouse.ingest` |
| 3 | usage_metrics | `tools.units` |
| 4 | resources, utilization | `warehouse.inventory` (`finops collect`) |
| 5 | usage_events, usage_events_hourly, usage_event_batches, usage_event_tasks | `tools.events` |
| 6 | forecasts | `tools.forecast.store` |
| 7 | vocab, vocab_meta | `tools.vocab.store` |

Tables that migrations 5 and 6 create were made with `CREATE TABLE IF NOT EXISTS` by their
modules before; the migrations use the same statements, so a home that has them keeps its rows.
Derived tables defined by a query and rebuilt wholesale (`CREATE OR REPLACE TABLE … AS <query>`:
the virtual-tag allocation, whose columns follow the configured tags) and TEMP tables are not
schema and are not here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import duckdb

from warehouse.schema import DECIMAL_TYPE, PROVENANCE_COLUMNS, focus_columns

__all__ = ["MIGRATIONS", "Migration", "applied_versions", "ensure_tables", "migrate"]


class Migration(NamedTuple):
    """One numbered schema change: `name` is its one-line description (recorded in
    `schema_migrations`), `sql` returns the DuckDB statements it runs."""

    version: int
    name: str
    sql: Callable[[], str]


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


def _usage_events_tables() -> str:
    """Usage events (`finops serve` / `tools.events.storage`): priced raw events, their hourly
    sums (merged on every flush), one row per accepted request, and finished tasks' costs."""
    return f"""
CREATE TABLE IF NOT EXISTS usage_events (
    event_time TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    batch_id VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    price_model VARCHAR NOT NULL,
    price_as_of VARCHAR NOT NULL,
    agent_id VARCHAR NOT NULL,
    team VARCHAR,
    task_id VARCHAR,
    api_key_id VARCHAR,
    project_id VARCHAR,
    uncached_input_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost {DECIMAL_TYPE} NOT NULL,
    event_id VARCHAR
);
CREATE TABLE IF NOT EXISTS usage_events_hourly (
    hour TIMESTAMP NOT NULL,
    provider VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    price_model VARCHAR NOT NULL,
    price_as_of VARCHAR NOT NULL,
    agent_id VARCHAR NOT NULL,
    team VARCHAR NOT NULL,
    api_key_id VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    uncached_input_tokens HUGEINT NOT NULL,
    cache_read_tokens HUGEINT NOT NULL,
    cache_write_tokens HUGEINT NOT NULL,
    output_tokens HUGEINT NOT NULL,
    cost {DECIMAL_TYPE} NOT NULL,
    events BIGINT NOT NULL,
    unit_input DECIMAL(38,18) NOT NULL,
    unit_cache_read DECIMAL(38,18) NOT NULL,
    unit_cache_write DECIMAL(38,18) NOT NULL,
    unit_output DECIMAL(38,18) NOT NULL,
    PRIMARY KEY (hour, provider, model, price_model, price_as_of, agent_id, team,
                 api_key_id, project_id)
);
CREATE TABLE IF NOT EXISTS usage_event_batches (
    batch_id VARCHAR PRIMARY KEY,
    idempotency_key VARCHAR,
    received_at TIMESTAMP NOT NULL,
    stored_at TIMESTAMP NOT NULL,
    events BIGINT NOT NULL,
    cost {DECIMAL_TYPE} NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_event_tasks (
    agent_id VARCHAR NOT NULL,
    task_id VARCHAR NOT NULL,
    first_time TIMESTAMP NOT NULL,
    last_time TIMESTAMP NOT NULL,
    cost {DECIMAL_TYPE} NOT NULL,
    events BIGINT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
"""


def _forecasts_table() -> str:
    """Stored forecasts (`tools.forecast.store`), refreshed after every ingest. `scope` is the
    filter text ('' = all spend); `dimension`/`value` are '' for the scope total."""
    return """
CREATE TABLE IF NOT EXISTS forecasts (
    refreshed_at TIMESTAMP NOT NULL,
    as_of DATE NOT NULL,
    horizon VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    scope VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    actual_to_date DECIMAL(38, 12) NOT NULL,
    forecast_remaining DECIMAL(38, 12) NOT NULL,
    forecast_total DECIMAL(38, 12) NOT NULL,
    lower_80 DECIMAL(38, 12) NOT NULL,
    upper_80 DECIMAL(38, 12) NOT NULL,
    lower_95 DECIMAL(38, 12) NOT NULL,
    upper_95 DECIMAL(38, 12) NOT NULL,
    model VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    history_days INTEGER NOT NULL,
    PRIMARY KEY (as_of, horizon, scope, dimension, value, metric)
);
"""


def _vocab_tables() -> str:
    """The vocabulary catalog (`tools.vocab`): every dimension's distinct values with spend and
    date range (`vocab`), and what that catalog was built from (`vocab_meta`, one row). Both are
    rebuilt wholesale after each ingest and allocation with `CREATE OR REPLACE TABLE … AS`, cast
    to exactly these columns, so a rebuilt table keeps this schema."""
    return """
CREATE TABLE vocab (
    dimension VARCHAR,
    value VARCHAR,
    label VARCHAR,
    cost DECIMAL(38,12),
    first_day DATE,
    last_day DATE,
    row_count BIGINT
);
CREATE TABLE vocab_meta (
    fingerprint VARCHAR,
    built_at TIMESTAMP,
    seconds DOUBLE,
    currency VARCHAR,
    first_day DATE,
    last_day DATE,
    months VARCHAR,
    entries BIGINT,
    dimensions BIGINT,
    tag_keys BIGINT,
    warnings VARCHAR
);
"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create costs (FOCUS 1.2 + provenance)", _costs_table),
    Migration(2, "create ingests log", _ingests_table),
    Migration(3, "create usage_metrics (unit economics)", _usage_metrics_table),
    Migration(4, "create resources and utilization (inventory collectors)", _inventory_tables),
    Migration(5, "create usage events tables (raw, hourly, batches, tasks)", _usage_events_tables),
    Migration(6, "create forecasts (stored forecasts)", _forecasts_table),
    Migration(7, "create vocab and vocab_meta (vocabulary catalog)", _vocab_tables),
)


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    return {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}


def migrate(
    con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Apply every pending migration in order; return the versions applied now.

    `migrations` is the list to apply (all of them; tests pass a prefix to build an older home).
    """
    done = applied_versions(con)
    applied: list[int] = []
    for version, name, sql in migrations:
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


def ensure_tables(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Apply the pending migrations when any of the tables `names` is missing.

    One catalog read on a connection from `warehouse.db.connect` (migrated when it opened); a
    connection opened some other way gets its tables from this list, never from ad-hoc DDL.
    Call it outside a transaction. Example: `ensure_tables(con, "forecasts")`.
    """
    marks = ", ".join("?" for _ in names)
    found = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        f"AND table_schema = current_schema() AND table_name IN ({marks})",
        list(names),
    ).fetchall()
    if len({r[0] for r in found}) < len(set(names)):
        migrate(con)
