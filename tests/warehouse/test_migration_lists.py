"""The two migration lists: `warehouse.migrations.MIGRATIONS` (the DuckDB warehouse) and
`warehouse.state.migrations.STATE_MIGRATIONS` (the state store, SQLite or PostgreSQL).

- Each is numbered 1, 2, 3, … with a one-line description per migration.
- A fresh home and an old one (tables made the way earlier code made them, with rows in them)
  end at the latest version with identical table schemas, and the old rows are kept.
- No other module of `warehouse/`, `guardrails/`, `tools/` or `agent/` creates or alters a
  persistent table (the rule is `_offences` below, checked on examples first).
"""

from __future__ import annotations

import ast
import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.servers.postgres import with_database
from warehouse.db import connect
from warehouse.migrations import MIGRATIONS, ensure_tables, migrate
from warehouse.state.migrations import (
    STATE_MIGRATIONS,
    VERSIONS_TABLE,
    StateMigration,
    latest_version,
)
from warehouse.state.sqlcompat import split_statements, translate_ddl
from warehouse.state.store import StateStore, is_postgres_url

ROOT = Path(__file__).resolve().parents[2]

# --- numbering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "numbered",
    [
        [(m.version, m.name) for m in MIGRATIONS],
        [(m.version, m.name) for m in STATE_MIGRATIONS],
    ],
    ids=["warehouse", "state"],
)
def test_numbers_run_from_one_without_gaps_each_with_a_description(
    numbered: list[tuple[int, str]],
) -> None:
    assert [v for v, _ in numbered] == list(range(1, len(numbered) + 1))
    for version, name in numbered:
        assert name.strip() and "\n" not in name and len(name) <= 80, version
    assert len({name for _, name in numbered}) == len(numbered)


def test_latest_state_version_is_the_last_migration() -> None:
    assert latest_version() == len(STATE_MIGRATIONS)


# --- the warehouse: fresh and old homes --------------------------------------------------------

OLD_WAREHOUSE_DDL = (
    # What tools/events/storage.py (DDL) and tools/forecast/store.py (FORECASTS_DDL) ran on every
    # open before the tables became warehouse migrations 5 and 6; copied verbatim.
    """CREATE TABLE IF NOT EXISTS usage_events (
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
        cost DECIMAL(38,12) NOT NULL,
        event_id VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS usage_events_hourly (
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
        cost DECIMAL(38,12) NOT NULL,
        events BIGINT NOT NULL,
        unit_input DECIMAL(38,18) NOT NULL,
        unit_cache_read DECIMAL(38,18) NOT NULL,
        unit_cache_write DECIMAL(38,18) NOT NULL,
        unit_output DECIMAL(38,18) NOT NULL,
        PRIMARY KEY (hour, provider, model, price_model, price_as_of, agent_id, team,
                     api_key_id, project_id)
    )""",
    """CREATE TABLE IF NOT EXISTS usage_event_batches (
        batch_id VARCHAR PRIMARY KEY,
        idempotency_key VARCHAR,
        received_at TIMESTAMP NOT NULL,
        stored_at TIMESTAMP NOT NULL,
        events BIGINT NOT NULL,
        cost DECIMAL(38,12) NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS usage_event_tasks (
        agent_id VARCHAR NOT NULL,
        task_id VARCHAR NOT NULL,
        first_time TIMESTAMP NOT NULL,
        last_time TIMESTAMP NOT NULL,
        cost DECIMAL(38,12) NOT NULL,
        events BIGINT NOT NULL,
        recorded_at TIMESTAMP NOT NULL
    )""",
    """
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
)
""",
)
OLD_TABLES = (
    "usage_events",
    "usage_events_hourly",
    "usage_event_batches",
    "usage_event_tasks",
    "forecasts",
)
LAST_OLD_WAREHOUSE_VERSION = 4
"""The warehouse version of a home made before those tables were migrations."""


def _duckdb_schema(con: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    columns = con.execute(
        "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'main' ORDER BY 1, 2"
    ).fetchall()
    constraints = con.execute(
        "SELECT table_name, constraint_type, constraint_column_names::VARCHAR, expression "
        "FROM duckdb_constraints() WHERE schema_name = 'main'"
    ).fetchall()
    indexes = con.execute(
        "SELECT table_name, index_name, sql FROM duckdb_indexes() WHERE schema_name = 'main'"
    ).fetchall()
    return {
        "columns": columns,
        "constraints": sorted(constraints, key=str),
        "indexes": sorted(indexes, key=str),
    }


_SAMPLE = {"TIMESTAMP": "TIMESTAMP '2026-10-01 00:00:00'", "DATE": "DATE '2026-10-01'"}


def _insert_one_row(con: duckdb.DuckDBPyConnection, table: str) -> None:
    types = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    values = [_SAMPLE.get(t, "'x'" if t == "VARCHAR" else f"CAST(1 AS {t})") for (t,) in types]
    con.execute(f"INSERT INTO {table} VALUES ({', '.join(values)})")


def _old_warehouse(path: Path, *, with_old_tables: bool) -> None:
    con = duckdb.connect(str(path))
    try:
        migrate(con, [m for m in MIGRATIONS if m.version <= LAST_OLD_WAREHOUSE_VERSION])
        if with_old_tables:
            for statement in OLD_WAREHOUSE_DDL:
                con.execute(statement)
            for table in OLD_TABLES:
                _insert_one_row(con, table)
    finally:
        con.close()


@pytest.mark.parametrize("with_old_tables", [True, False], ids=["old-tables", "no-old-tables"])
def test_an_old_warehouse_upgrades_in_place_to_the_fresh_schema(
    tmp_path: Path, with_old_tables: bool
) -> None:
    fresh = connect(tmp_path / "fresh.duckdb")
    old_path = tmp_path / "old.duckdb"
    _old_warehouse(old_path, with_old_tables=with_old_tables)
    upgraded = connect(old_path)
    try:
        versions = upgraded.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
        assert _duckdb_schema(upgraded) == _duckdb_schema(fresh)
        for table in OLD_TABLES:
            rows = upgraded.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert rows == ((1,) if with_old_tables else (0,)), table
        assert migrate(upgraded) == []
    finally:
        upgraded.close()
        fresh.close()


def test_ensure_tables_migrates_a_connection_opened_elsewhere(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "raw.duckdb"))
    try:
        ensure_tables(con, "forecasts", "usage_events")
        count = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert count == (len(MIGRATIONS),)
        ensure_tables(con, "forecasts")
        assert con.execute("SELECT count(*) FROM forecasts").fetchone() == (0,)
    finally:
        con.close()


# --- the state store: fresh and old homes (SQLite and PostgreSQL) ------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_targets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty state databases on the same backend: (fresh, old)."""
    if request.param == "sqlite":
        yield str(tmp_path / "fresh.db"), str(tmp_path / "old.db")
        return
    import psycopg

    server = str(request.getfixturevalue("pg_server"))
    names = [f"finops_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with psycopg.connect(server, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server, names[0]), with_database(server, names[1])
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_raw(target: str, statements: Sequence[str]) -> None:
    """Run SQLite-dialect statements on a state database without the store (an older program)."""
    if is_postgres_url(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as pg:
            for statement in statements:
                ddl = statement.lstrip().upper().startswith(("CREATE", "ALTER"))
                pg.execute(translate_ddl(statement) if ddl else statement)
        return
    with sqlite3.connect(target) as lite:
        for statement in statements:
            lite.execute(statement)
    lite.close()


def _old_state(target: str, migrations: Sequence[StateMigration]) -> None:
    """A state database migrated the way the store did, up to the last of `migrations`."""
    statements = [VERSIONS_TABLE]
    for m in migrations:
        statements += split_statements(m.sql)
        statements.append(
            f"INSERT INTO state_migrations VALUES ({m.version}, '{m.name}', "
            "'2026-01-01T00:00:00.000000+00:00')"
        )
    _run_raw(target, statements)


OLD_STATE_ROWS = (
    "INSERT INTO tickets (created_at, title, body, owner, priority, status) "
    "VALUES ('2026-01-01', 'Idle EC2', 'body', 'payments', 'low', 'open')",
    "INSERT INTO ticket_links (dedup_key, local_ticket_id, backend, ticket_proposal_id, "
    "created_at, updated_at) VALUES ('k1', 1, 'local', 'p0', '2026-01-01', '2026-01-01')",
    "INSERT INTO ticket_tracked (dedup_key, proposal_id) VALUES ('k1', 'p1')",
    "INSERT INTO audit_log VALUES (1, '2026-01-01', 'proposal', 'sweep', NULL, '{}', '', 'h1')",
)


def _state_schema(store: StateStore) -> dict[str, list[Any]]:
    if store.backend == "postgres":
        return {
            "columns": [
                tuple(r)
                for r in store.query(
                    "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
                    "column_default, collation_name, is_identity FROM information_schema.columns "
                    "WHERE table_schema = current_schema() ORDER BY 1, 2"
                )
            ],
            "indexes": [
                tuple(r)
                for r in store.query(
                    "SELECT tablename, indexname, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() ORDER BY 1, 2"
                )
            ],
            "constraints": [
                tuple(r)
                for r in store.query(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
                    "ORDER BY 1, 2"
                )
            ],
        }
    tables = [
        str(r[0])
        for r in store.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {
        "master": [
            tuple(r)
            for r in store.query(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE "
                "'sqlite_%' ORDER BY type, name"
            )
        ],
        "columns": [
            (t, *tuple(r)) for t in tables for r in store.query(f"PRAGMA table_xinfo({t})")
        ],
        "indexes": [
            (t, *tuple(r)[1:]) for t in tables for r in store.query(f"PRAGMA index_list({t})")
        ],
        "foreign_keys": [
            (t, *tuple(r)) for t in tables for r in store.query(f"PRAGMA foreign_key_list({t})")
        ],
    }


@pytest.mark.parametrize("old_version", [3, 9, len(STATE_MIGRATIONS) - 1, len(STATE_MIGRATIONS)])
def test_an_old_state_store_upgrades_in_place_to_the_fresh_schema(
    two_targets: tuple[str, str], old_version: int
) -> None:
    fresh_target, old_target = two_targets
    _old_state(old_target, STATE_MIGRATIONS[:old_version])
    kept = OLD_STATE_ROWS if old_version >= 10 else OLD_STATE_ROWS[-1:]
    _run_raw(old_target, kept)
    fresh, upgraded = StateStore(fresh_target), StateStore(old_target)
    try:
        recorded = upgraded.query("SELECT version, name FROM state_migrations ORDER BY version")
        assert [tuple(r) for r in recorded] == [(m.version, m.name) for m in STATE_MIGRATIONS]
        assert upgraded.migrate() == []
        assert _state_schema(upgraded) == _state_schema(fresh)
        assert upgraded.query("SELECT hash FROM audit_log")[0][0] == "h1"
        if old_version >= 10:
            tracked = upgraded.query("SELECT proposal_id, tracked_at FROM ticket_tracked")
            assert [tuple(r) for r in tracked] == [("p1", None)]
    finally:
        fresh.close()
        upgraded.close()


# --- nothing else creates a persistent table ---------------------------------------------------

SCANNED = ("agent", "tools", "guardrails", "warehouse")
MIGRATION_MODULES = {Path("warehouse/migrations.py"), Path("warehouse/state/migrations.py")}

_CREATE_TABLE = re.compile(
    r"""\bCREATE\s+(?:OR\s+REPLACE\s+)?(?P<temp>(?:TEMP|TEMPORARY)\s+)?TABLE\s+
        (?P<guard>IF\s+NOT\s+EXISTS\s+)?(?:[^\s(]+\s*)?(?P<query>AS\b)?""",
    re.IGNORECASE | re.VERBOSE,
)
_SCHEMA_CHANGE = re.compile(r"\b(?:ALTER\s+TABLE|CREATE\s+(?:UNIQUE\s+)?INDEX)\b", re.IGNORECASE)


def _persistent_ddl(text: str) -> list[str]:
    """The statements in `text` that define or change a persistent table's schema.

    Offences: `CREATE TABLE` with a column list (or anything but a query), any
    `CREATE TABLE IF NOT EXISTS` (a table kept across runs by construction), `ALTER TABLE`,
    `CREATE [UNIQUE] INDEX`. Allowed: `TEMP`/`TEMPORARY` tables (gone with the connection), and
    derived tables defined by a query, `CREATE [OR REPLACE] TABLE t AS <query>` (rebuilt
    wholesale from migrated tables, e.g. the virtual-tag allocation whose columns follow the
    configured tags). Views are not tables.
    """
    found = []
    for m in _CREATE_TABLE.finditer(text):
        if m.group("temp") or (m.group("query") and not m.group("guard")):
            continue
        found.append(" ".join(text[m.start() : m.end() + 30].split()))
    found += [
        " ".join(text[m.start() : m.end() + 30].split()) for m in _SCHEMA_CHANGE.finditer(text)
    ]
    return found


def _code_strings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every string the code can run: literals and f-strings (each `{…}` as
    `{}`), not documentation (a string that is a statement of its own: docstrings, and the
    strings documenting a constant)."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            yield node.lineno, str(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def _offences(source: str) -> list[str]:
    return [
        f"{line}: {ddl}" for line, text in _code_strings(source) for ddl in _persistent_ddl(text)
    ]


def test_the_checker_tells_schema_from_scratch_tables() -> None:
    flagged = '''
con.execute("CREATE TABLE t (a INT)")
con.execute("""create table if not exists t2 (
    a INT)""")
con.execute(f"CREATE TABLE {name} (a INT)")
con.execute("CREATE TABLE IF NOT EXISTS t3 AS SELECT 1 AS a")
con.execute("ALTER TABLE t ADD COLUMN b INT")
con.execute("CREATE UNIQUE INDEX i ON t (a)")
con.execute("CREATE TABLE " + name + " (a INT)")
'''
    assert len(_offences(flagged)) == 7, _offences(flagged)
    allowed = '''
"""A docstring may say CREATE TABLE t (a INT)."""
X = 1
"""So may a constant's: CREATE TABLE IF NOT EXISTS t (a INT)."""
con.execute("CREATE OR REPLACE TEMP TABLE scratch AS SELECT 1")
con.execute("CREATE TEMPORARY TABLE scratch2 (a INT)")
con.execute("CREATE OR REPLACE TABLE vtag_meta AS SELECT 1 AS a")
con.execute(f"CREATE OR REPLACE TABLE vtag_keys AS SELECT {cols} FROM costs")
con.execute("CREATE VIEW v AS SELECT 1")
'''
    assert _offences(allowed) == []


def test_no_module_but_the_migration_lists_creates_a_persistent_table() -> None:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in MIGRATION_MODULES:
                continue
            found += [f"{relative}:{o}" for o in _offences(path.read_text(encoding="utf-8"))]
    assert not found, (
        "schema outside warehouse/migrations.py and warehouse/state/migrations.py:\n"
        + ("\n".join(found))
    )


def test_the_migration_lists_are_what_the_checker_sees() -> None:
    for module in MIGRATION_MODULES:
        assert _offences((ROOT / module).read_text(encoding="utf-8")), module
