"""The SQL guard: the parser admits one SELECT over the warehouse tables, the read-only
connection refuses writes, files and settings on its own, and run_guarded caps rows and time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from guardrails.sqlguard import (
    GuardedQueryResult,
    SqlLimits,
    _execute_with_timeout,
    check_select,
    open_readonly,
    run_guarded,
)
from tests.helpers.warehouse import ingest
from tests.paths import SHARED_DATA
from warehouse.db import connect
from warehouse.errors import QueryError

FOCUS_SAMPLE = SHARED_DATA / "focus" / "focus_sample_1000.csv"
HEAVY = "SELECT count(*) FROM range(100000000000) AS a"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file holding the 1,000-row FOCUS sample, closed again after the ingest."""
    path = tmp_path_factory.mktemp("sqlguard") / "warehouse.duckdb"
    con = connect(path)
    ingest(con, FOCUS_SAMPLE)
    con.close()
    return path


@pytest.fixture
def ro(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_readonly(warehouse)
    yield connection
    connection.close()


# --- layer 1: the parser -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ProviderName, sum(BilledCost) AS cost FROM costs GROUP BY 1 ORDER BY 2 DESC",
        "select * from COSTS where BilledCost > 0",
        "WITH p AS (SELECT ProviderName FROM costs) SELECT count(*) FROM p",
        "SELECT ServiceName FROM costs UNION SELECT x_SourceName FROM ingests",
        "SELECT json_extract_string(Tags, '$.team') AS team FROM costs",
        "SELECT * FROM costs LIMIT 1;",
    ],
)
def test_plain_selects_over_the_warehouse_tables_pass(sql: str) -> None:
    checked = check_select(sql)
    assert checked.upper().lstrip("(").startswith(("SELECT", "WITH"))
    assert ";" not in checked


def test_check_select_returns_regenerated_sql_so_a_trailing_comment_cannot_smuggle() -> None:
    checked = check_select("SELECT 1 FROM costs -- ; DROP TABLE costs")
    assert "--" not in checked
    assert checked.startswith("SELECT 1 FROM costs")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "the SQL is empty"),
        ("   \n\t", "the SQL is empty"),
        ("SELECT 1 FROM costs; SELECT 2 FROM costs", "exactly one statement is allowed, got 2"),
        ("SELECT 1 FROM costs; DROP TABLE costs", "exactly one statement is allowed, got 2"),
        ("SELEC * FROM costs", "SQL does not parse"),
    ],
)
def test_empty_multi_statement_and_garbage_are_refused(sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        check_select(sql)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE TABLE t (x INTEGER)", "CREATE"),
        ("CREATE TABLE t AS SELECT * FROM costs", "CREATE"),
        ("INSERT INTO costs SELECT * FROM costs", "INSERT"),
        ("UPDATE costs SET BilledCost = 0", "UPDATE"),
        ("DELETE FROM costs", "DELETE"),
        ("DROP TABLE costs", "DROP"),
        ("ATTACH 'other.duckdb' AS other", "ATTACH"),
        ("COPY costs TO 'out.csv'", "COPY"),
        ("SET enable_external_access = true", "SET"),
        ("PRAGMA table_info('costs')", "PRAGMA"),
        ("DESCRIBE costs", "DESCRIBE"),
    ],
)
def test_statements_other_than_select_are_refused_by_name(sql: str, kind: str) -> None:
    with pytest.raises(QueryError, match=f"only SELECT queries are allowed, got {kind}"):
        check_select(sql)


def test_select_into_is_refused() -> None:
    with pytest.raises(QueryError, match="INTO is not allowed"):
        check_select("SELECT * INTO stolen FROM costs")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_parquet('bills.parquet')",
        "SELECT * FROM read_json('page.json')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM parquet_scan('bills.parquet')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM range(10)",
        "SELECT * FROM costs WHERE ProviderName IN (SELECT * FROM read_csv('/etc/passwd'))",
        "SELECT (SELECT count(*) FROM read_text('/etc/passwd')) AS n FROM costs",
    ],
)
def test_table_functions_are_refused_anywhere_in_the_tree(sql: str) -> None:
    with pytest.raises(QueryError, match="table functions are not allowed"):
        check_select(sql)


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT read_text('/etc/passwd') FROM costs", "read_text"),
        ("SELECT getenv('HOME') FROM costs", "getenv"),
    ],
)
def test_file_and_system_scalar_functions_are_refused(sql: str, name: str) -> None:
    with pytest.raises(QueryError, match=rf"function {name}\(\) is not allowed"):
        check_select(sql)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM main.costs", "only unqualified tables are allowed, got main.costs"),
        ("SELECT * FROM w.main.costs", "only unqualified tables are allowed"),
        ("SELECT * FROM proposals", "table 'proposals' is not allowed; query only costs, ingests"),
        ("SELECT * FROM sqlite_master", "table 'sqlite_master' is not allowed"),
        ("SELECT * FROM '/etc/passwd'", "table '/etc/passwd' is not allowed"),
        ("SELECT * FROM costs JOIN duckdb_databases ON true", "'duckdb_databases' is not allowed"),
    ],
)
def test_qualified_unknown_and_path_tables_are_refused(sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        check_select(sql)


def test_allowed_tables_can_be_narrowed() -> None:
    only_costs = frozenset({"costs"})
    check_select("SELECT * FROM costs", allowed_tables=only_costs)
    with pytest.raises(QueryError, match="table 'ingests' is not allowed; query only costs"):
        check_select("SELECT * FROM ingests", allowed_tables=only_costs)


def test_a_cte_name_does_not_admit_the_same_table_outside_its_scope() -> None:
    sql = (
        "SELECT * FROM (WITH duckdb_databases AS (SELECT 1 AS x) SELECT * FROM duckdb_databases)"
        " AS a, duckdb_databases"
    )
    with pytest.raises(QueryError, match="duckdb_databases"):
        check_select(sql)


# --- layer 2: the read-only connection on its own --------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO costs SELECT * FROM costs LIMIT 1",
        "DELETE FROM costs",
        "UPDATE costs SET BilledCost = 0",
        "DROP TABLE costs",
        "CREATE TABLE stolen AS SELECT * FROM costs",
    ],
)
def test_readonly_connection_refuses_writes(ro: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(duckdb.Error, match="read-only"):
        ro.execute(sql)
    assert ro.execute("SELECT count(*) FROM costs").fetchone() == (1000,)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_text('/etc/hostname')",
    ],
)
def test_readonly_connection_refuses_file_reads(ro: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        ro.execute(sql).fetchall()


def test_readonly_connection_refuses_file_writes_and_attach(
    ro: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(duckdb.PermissionException):
        ro.execute(f"COPY costs TO '{out}'")
    assert not out.exists()
    other = tmp_path / "other.duckdb"
    with pytest.raises(duckdb.PermissionException):
        ro.execute(f"ATTACH '{other}' AS other")
    assert not other.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET autoload_known_extensions = true",
    ],
)
def test_readonly_connection_settings_are_locked(ro: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(duckdb.Error, match="configuration has been locked"):
        ro.execute(sql)
    row = ro.execute(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')"
    ).fetchone()
    assert row == (False, True)


def test_readonly_connection_cannot_load_extensions(ro: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error):
        ro.execute("LOAD httpfs")


# --- layer 3: run_guarded and the time limit ------------------------------------------------


def test_run_guarded_returns_json_friendly_rows(ro: duckdb.DuckDBPyConnection) -> None:
    result = run_guarded(
        ro,
        "SELECT count(*) AS n, sum(BilledCost) AS total, min(ChargePeriodStart) AS first"
        " FROM costs",
    )
    assert isinstance(result, GuardedQueryResult)
    assert result.columns == ["n", "total", "first"]
    assert result.row_count == 1 and not result.truncated
    n, total, first = result.rows[0]
    expected = ro.execute("SELECT sum(BilledCost), min(ChargePeriodStart) FROM costs").fetchone()
    assert expected is not None
    assert n == 1000
    assert isinstance(total, str) and total == str(expected[0])
    assert first == expected[1].isoformat()
    result.model_dump_json()  # JSON-serializable as the tool returns it


def test_row_cap_truncates_and_flags_it(ro: duckdb.DuckDBPyConnection) -> None:
    result = run_guarded(ro, "SELECT BilledCost FROM costs", max_rows=7)
    assert result.row_count == 7 and len(result.rows) == 7
    assert result.truncated
    assert "LIMIT 8" in result.sql


def test_row_cap_exactly_met_is_not_truncated(ro: duckdb.DuckDBPyConnection) -> None:
    result = run_guarded(ro, "SELECT BilledCost FROM costs", max_rows=1000)
    assert result.row_count == 1000 and not result.truncated
    result = run_guarded(ro, "SELECT BilledCost FROM costs", max_rows=999)
    assert result.row_count == 999 and result.truncated


def test_row_cap_wraps_a_query_with_its_own_larger_limit(ro: duckdb.DuckDBPyConnection) -> None:
    result = run_guarded(ro, "SELECT BilledCost FROM costs LIMIT 500", max_rows=3)
    assert result.row_count == 3 and result.truncated


def test_run_guarded_refuses_before_executing(ro: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError, match="only SELECT"):
        run_guarded(ro, "DELETE FROM costs")
    with pytest.raises(QueryError, match="table functions are not allowed"):
        run_guarded(ro, "SELECT * FROM read_csv('/etc/passwd')")


def test_run_guarded_reports_engine_errors_as_query_errors(ro: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError, match=r"query failed: .*NoSuchColumn"):
        run_guarded(ro, "SELECT NoSuchColumn FROM costs")


def test_timeout_interrupts_a_heavy_query(ro: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError, match=r"query exceeded the 0\.2 s time limit"):
        _execute_with_timeout(ro, HEAVY, 0.2)
    # the connection is still usable afterwards
    assert ro.execute("SELECT count(*) FROM costs").fetchone() == (1000,)


def test_run_guarded_times_out_a_cross_join(ro: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError, match=r"exceeded the 0\.2 s time limit"):
        run_guarded(ro, "SELECT count(*) FROM costs a, costs b, costs c, costs d", timeout_s=0.2)
    assert run_guarded(ro, "SELECT count(*) AS n FROM costs").rows == [[1000]]


def test_a_fast_query_finishes_within_the_limit(ro: duckdb.DuckDBPyConnection) -> None:
    columns, rows = _execute_with_timeout(ro, "SELECT count(*) AS n FROM costs", 5.0)
    assert columns == ["n"] and rows == [(1000,)]


# --- issue 18, point 6: runaway queries stay within the limits ------------------------------

CROSS = "SELECT count(*) FROM costs a, costs b, costs c, costs d"
TIGHT = SqlLimits(timeout_seconds=2.0, memory_limit_mb=64, memory_headroom_mb=512)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT list_sum(range(200000000)) AS s",  # constant-folded while planning: 48 s, 14 GB
        "SELECT length(string_agg(repeat('x', 1000), ',')) AS n FROM costs a, costs b",
        "SELECT length(repeat('x', 1500000000)) AS n",
    ],
)
def test_runaway_queries_stop_at_the_memory_or_time_limit(
    ro: duckdb.DuckDBPyConnection, sql: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(QueryError, match=r"exceeded the (64 MB memory|2 s time) limit"):
        run_guarded(ro, sql, limits=TIGHT)
    assert time.perf_counter() - started < 4.0
    assert run_guarded(ro, "SELECT count(*) AS n FROM costs", limits=TIGHT).rows == [[1000]]


def test_a_slow_query_is_stopped_at_the_time_limit(ro: duckdb.DuckDBPyConnection) -> None:
    limits = SqlLimits(timeout_seconds=0.5)
    started = time.perf_counter()
    with pytest.raises(QueryError, match=r"exceeded the 0\.5 s time limit"):
        run_guarded(ro, CROSS, limits=limits)
    assert time.perf_counter() - started < 2.0
    assert run_guarded(ro, "SELECT count(*) AS n FROM costs").rows == [[1000]]  # still usable


def test_a_large_result_is_cut_at_the_byte_cap_with_a_note(ro: duckdb.DuckDBPyConnection) -> None:
    limits = SqlLimits(max_result_bytes=10_000)
    result = run_guarded(ro, "SELECT repeat('x', 1000) AS pad FROM costs", limits=limits)
    assert result.truncated and 0 < result.row_count < 10
    assert len(json.dumps(result.rows)) <= 10_000
    assert result.note is not None and "10000-byte result cap" in result.note


def test_the_row_cap_sets_a_note(ro: duckdb.DuckDBPyConnection) -> None:
    result = run_guarded(ro, "SELECT BilledCost FROM costs", max_rows=5)
    assert result.row_count == 5 and result.truncated
    assert result.note == "result cut at 5 rows (row cap); more rows exist"
    whole = run_guarded(ro, "SELECT count(*) AS n FROM costs")
    assert not whole.truncated and whole.note is None


def test_a_caller_can_only_tighten_the_configured_limits(ro: duckdb.DuckDBPyConnection) -> None:
    limits = SqlLimits(max_rows=3)
    assert (
        run_guarded(ro, "SELECT BilledCost FROM costs", max_rows=50, limits=limits).row_count == 3
    )
    with pytest.raises(QueryError, match=r"exceeded the 0\.5 s time limit"):
        run_guarded(ro, CROSS, timeout_s=30, limits=SqlLimits(timeout_seconds=0.5))
