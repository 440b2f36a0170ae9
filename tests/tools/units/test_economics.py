"""Unit economics: usage CSV loading (strict, atomic, idempotent) and cost per unit by virtual tag
value, exact to the cent on a hand-built warehouse with a shared split, through the functions,
the agent tool and the `finops units` CLI; plus the demo's usage file."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.cli import main as cli_module
from agent.cli import units as cli_units
from agent.config import Config
from tests.helpers.agent import Clock, make_runtime
from tests.helpers.cli import run_cli
from tests.helpers.vtags import Row, add_rows, allocate, config_of
from tools.catalog import registry
from tools.invoke import invoke_tool
from tools.query import DuckDBEngine
from tools.spend.engine import parse_filter
from tools.units.economics import (
    UnitEconomicsResult,
    UsageFileError,
    load_usage_csv,
    unit_economics,
)
from warehouse.db import connect
from warehouse.demo.catalog import WORKLOADS
from warehouse.demo.usage import write_demo_usage
from warehouse.errors import QueryError

FEATURE: dict[str, Any] = {
    "sources": ["feature"],
    "aliases": {"co": "checkout"},
    "inference": {"enabled": False},
    "shared": [
        {
            "id": "shared-db",
            "when": {"ResourceId": "db-1"},
            "method": "fixed",
            "ratios": {"checkout": 3, "search": 1},
        }
    ],
    "default": "unallocated",
}
CONFIG = config_of({"feature": FEATURE})
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HEADER = "date,metric,vtag,value,quantity\n"
USAGE = (
    HEADER
    + "2026-10-01,requests,feature,Checkout,12000\n"
    + "2026-10-02,requests,feature,CO,8000\n"
    + "2026-10-01,requests,feature,search,4000\n"
    + "2026-10-02,requests,feature,Recommendations,1000\n"
)
COST_ROWS = [
    Row(cost="30", day=date(2026, 10, 1), ResourceId="i-1", tags={"feature": "Checkout"}),
    Row(cost="10", day=date(2026, 10, 2), ResourceId="i-2", tags={"feature": "search"}),
    Row(cost="8", day=date(2026, 10, 1), ResourceId="db-1"),
    Row(cost="5", day=date(2026, 10, 2), ResourceId="i-3"),
    Row(cost="100", day=date(2026, 9, 15), ResourceId="i-4", tags={"feature": "checkout"}),
]


def _write(tmp_path: Path, text: str, name: str = "usage.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _usage_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT day, metric, vtag, value, raw_value, quantity, source FROM usage_metrics "
        "ORDER BY ALL"
    ).fetchall()


@pytest.fixture
def warehouse(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    add_rows(con, COST_ROWS)
    allocate(con, CONFIG)
    return con


def _report(con: duckdb.DuckDBPyConnection, config: Config = CONFIG, **kw: Any) -> Any:
    return unit_economics(DuckDBEngine(con), config, metric="requests", vtag="feature", **kw)


def _by_value(result: UnitEconomicsResult) -> dict[str, tuple[Any, ...]]:
    return {r.value: (r.cost, r.quantity, r.unit_cost, r.status) for r in result.rows}


# -- loading ----------------------------------------------------------------------------------


def test_load_normalizes_values_keeps_raw_and_summarizes(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = load_usage_csv(con, _write(tmp_path, USAGE), config=CONFIG, now=NOW)
    assert (result.source, result.rows, result.replaced_rows, result.warnings) == (
        "usage.csv",
        4,
        0,
        [],
    )
    assert result.loaded_at == datetime(2026, 11, 1, 12, 0)
    (series,) = result.series
    assert (series.metric, series.vtag, series.first_day, series.last_day) == (
        "requests",
        "feature",
        date(2026, 10, 1),
        date(2026, 10, 2),
    )
    assert (series.rows, series.values, series.quantity) == (4, 3, Decimal(25000))
    rows = _usage_rows(con)
    assert [(r[3], r[4]) for r in rows] == [
        ("checkout", "Checkout"),
        ("search", "search"),
        ("checkout", "CO"),
        ("recommendations", "Recommendations"),
    ]
    assert {r[6] for r in rows} == {"usage.csv"}


def test_load_accepts_bom_header_case_column_order_blank_lines_gzip_and_vtag_prefix(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = "\ufeffQuantity, VTAG ,Value,Metric,Date\n1.5,vtag:feature,Web App,tasks,2026-10-03\n\n"
    path = tmp_path / "u.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    result = load_usage_csv(con, path, config=CONFIG, source=" analytics ")
    assert result.source == "analytics"
    assert _usage_rows(con) == [
        (date(2026, 10, 3), "tasks", "feature", "web-app", "Web App", Decimal("1.5"), "analytics")
    ]


def test_load_warns_about_undefined_virtual_tags(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _write(tmp_path, HEADER + "2026-10-01,requests,teams,Payments,5\n")
    result = load_usage_csv(con, path, config=CONFIG)
    assert len(result.warnings) == 1 and "'teams' is not defined" in result.warnings[0]
    assert _usage_rows(con)[0][3] == "payments"


BAD_FILES = [
    ("2026-10-32,requests,feature,checkout,1", "line 3, column date: invalid date '2026-10-32'"),
    ("10/01/2026,requests,feature,checkout,1", "line 3, column date: invalid date '10/01/2026'"),
    ("2026-10-01,requests,feature,checkout,-5", "line 3, column quantity: negative quantity -5"),
    ("2026-10-01,requests,feature,checkout,12abc", "line 3, column quantity: '12abc' is not a"),
    ('2026-10-01,requests,feature,checkout,"1,000"', "no thousands separators"),
    ("2026-10-01,requests,feature,checkout,NaN", "line 3, column quantity: 'NaN' is not a finite"),
    ("2026-10-01,requests,feature,checkout,0.0000001", "more than 6 decimal places"),
    ("2026-10-01,,feature,checkout,1", "line 3, column metric: empty metric"),
    ("2026-10-01,  ,feature,checkout,1", "line 3, column metric: empty metric"),
    ("2026-10-01,requests,feature,,1", "line 3, column value: empty value"),
    ("2026-10-01,requests,feature,--,1", "line 3, column value: value '--' is empty once"),
    ("2026-10-01,requests,Team Name,x,1", "line 3, column vtag: invalid virtual tag name"),
    ("2026-10-01,requests,feature,checkout", "line 3: expected 5 fields, found 4"),
]


def _snapshot(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute("SELECT * FROM usage_metrics ORDER BY ALL").fetchall()


@pytest.mark.parametrize(("line", "message"), BAD_FILES)
def test_a_bad_line_fails_with_line_and_column_and_changes_nothing(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, line: str, message: str
) -> None:
    path = _write(tmp_path, USAGE)
    load_usage_csv(con, path, config=CONFIG, now=NOW)
    before = _snapshot(con)
    good_then_bad = HEADER + "2026-10-01,requests,feature,checkout,999\n" + line + "\n"
    with pytest.raises(UsageFileError) as info:
        load_usage_csv(con, _write(tmp_path, good_then_bad), config=CONFIG)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'usage.csv'}, line 3")
    assert info.value.line == 3
    assert _snapshot(con) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; expected a header date,metric,vtag,value,quantity"),
        (HEADER, "no data rows after the header"),
        ("date,metric,vtag,value\n2026-10-01,r,feature,x\n", "line 1: missing column(s) quantity"),
        ("date,metric,vtag,value,quantity,team\n", "line 1: unknown column(s) 'team'"),
        ("date,metric,vtag,value,quantity,date\n", "line 1: duplicate column(s) date"),
        (HEADER + '2026-10-01,"requests,feature,x,1\n', "malformed CSV"),
    ],
)
def test_a_bad_file_fails_clearly_and_changes_nothing(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, text: str, message: str
) -> None:
    load_usage_csv(con, _write(tmp_path, USAGE, "good.csv"), config=CONFIG)
    before = _snapshot(con)
    with pytest.raises(UsageFileError, match=r"usage\.csv") as info:
        load_usage_csv(con, _write(tmp_path, text), config=CONFIG, source="good.csv")
    assert message in str(info.value)
    assert _snapshot(con) == before


def test_missing_and_binary_files_fail_clearly(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(UsageFileError, match=r"nope\.csv: file not found"):
        load_usage_csv(con, tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(UsageFileError, match="cannot read the file as UTF-8 CSV"):
        load_usage_csv(con, tmp_path / "bin.csv")


def test_reloading_replaces_by_source_metric_and_day(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _write(tmp_path, USAGE)
    load_usage_csv(con, path, config=CONFIG)
    first = _usage_rows(con)
    again = load_usage_csv(con, path, config=CONFIG)
    assert (again.rows, again.replaced_rows) == (4, 4)
    assert _usage_rows(con) == first
    corrected = HEADER + "2026-10-02,requests,feature,checkout,9000\n"
    fixed = load_usage_csv(
        con, _write(tmp_path, corrected, "fix.csv"), config=CONFIG, source="usage.csv"
    )
    assert fixed.replaced_rows == 2  # both 2026-10-02 rows of source usage.csv, metric requests
    quantities = {(r[0], r[3]): r[5] for r in _usage_rows(con)}
    assert quantities == {
        (date(2026, 10, 1), "checkout"): Decimal(12000),
        (date(2026, 10, 1), "search"): Decimal(4000),
        (date(2026, 10, 2), "checkout"): Decimal(9000),
    }
    other = load_usage_csv(con, path, config=CONFIG, source="other-export")
    assert other.replaced_rows == 0 and len(_usage_rows(con)) == 7
    added = load_usage_csv(con, path, config=CONFIG, source="other-export", replace=False)
    assert added.replaced_rows == 0 and len(_usage_rows(con)) == 11


# -- unit economics ---------------------------------------------------------------------------


def test_exact_unit_costs_with_shared_split_and_unmatched_values(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    load_usage_csv(warehouse, _write(tmp_path, USAGE), config=CONFIG)
    result = _report(warehouse, per=1000)
    assert (result.since, result.until) == (date(2026, 10, 1), date(2026, 10, 2))
    assert (result.currency, result.cost_metric, result.usage_sources) == (
        "USD",
        "billed",
        ["usage.csv"],
    )
    # checkout: 30 own + 6 (3/4 of the shared 8); search: 10 + 2; September's 100 is outside
    assert _by_value(result) == {
        "checkout": (Decimal(36), Decimal(20000), Decimal("1.8"), "ok"),
        "search": (Decimal(12), Decimal(4000), Decimal(3), "ok"),
        "unallocated": (Decimal(5), None, None, "no_usage"),
        "recommendations": (Decimal(0), Decimal(1000), None, "no_cost"),
    }
    t = result.total
    assert (t.cost, t.quantity, t.unit_cost) == (Decimal(53), Decimal(25000), Decimal("2.12"))
    assert (t.matched_cost, t.matched_quantity, t.matched_unit_cost) == (
        Decimal(48),
        Decimal(24000),
        Decimal(2),
    )
    assert (t.cost_without_usage, t.quantity_without_cost) == (Decimal(5), Decimal(1000))
    assert result.warnings == [] and "vtag_alloc" in result.sql["cost"]


def test_month_grain_filters_and_window(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    load_usage_csv(warehouse, _write(tmp_path, USAGE), config=CONFIG)
    result = _report(
        warehouse, since=date(2026, 9, 1), until=date(2026, 10, 31), grain="month", per=1
    )
    rows = {(r.period, r.value): (r.cost, r.quantity, r.status) for r in result.rows}
    assert rows[(date(2026, 9, 1), "checkout")] == (Decimal(100), None, "no_usage")
    assert rows[(date(2026, 10, 1), "checkout")] == (Decimal(36), Decimal(20000), "ok")
    assert [p.period for p in result.period_totals] == [date(2026, 9, 1), date(2026, 10, 1)]
    assert result.period_totals[1].matched_unit_cost == Decimal("0.002")
    assert result.total.cost == Decimal(153)
    only_ec2 = _report(warehouse, filters=[parse_filter("ResourceId!=db-1")])
    assert _by_value(only_ec2)["checkout"][:3] == (Decimal(30), Decimal(20000), Decimal("0.0015"))


def test_usage_values_follow_the_current_aliases(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    no_alias = config_of({"feature": {**FEATURE, "aliases": {}}})
    load_usage_csv(warehouse, _write(tmp_path, USAGE), config=no_alias)
    assert {r[3] for r in _usage_rows(warehouse)} == {"checkout", "co", "search", "recommendations"}
    assert _by_value(_report(warehouse))["checkout"][1] == Decimal(20000)


def test_warns_when_costs_do_not_cover_the_usage_days(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    late = USAGE + "2026-11-05,requests,feature,checkout,10\n"
    load_usage_csv(warehouse, _write(tmp_path, late), config=CONFIG)
    result = _report(warehouse)
    assert result.until == date(2026, 11, 5)
    assert result.warnings == [
        "usage runs to 2026-11-05 but costs end on 2026-10-02: unit costs are understated "
        "(pass --until to stop at the last cost day)"
    ]
    assert _report(warehouse, until=date(2026, 10, 2)).warnings == []


def test_clear_errors_for_missing_usage_and_unknown_tags(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(QueryError, match="no usage metrics are loaded; load a CSV"):
        _report(warehouse)
    load_usage_csv(warehouse, _write(tmp_path, USAGE), config=CONFIG)
    with pytest.raises(QueryError, match=r"no usage 'tasks' by vtag:feature is loaded; loaded: "):
        unit_economics(DuckDBEngine(warehouse), CONFIG, metric="tasks", vtag="feature")
    with pytest.raises(QueryError, match="virtual tag 'team' is not defined"):
        unit_economics(DuckDBEngine(warehouse), CONFIG, metric="requests", vtag="team")
    with pytest.raises(QueryError, match="before since"):
        _report(warehouse, since=date(2026, 10, 2), until=date(2026, 10, 1))


# -- agent tool and CLI -----------------------------------------------------------------------


def test_agent_tool_reports_with_named_period(tmp_path: Path) -> None:
    home = tmp_path / "h"
    rt = make_runtime(home, Clock(), virtual_tags={"feature": FEATURE})
    con = connect(home / "warehouse.duckdb")
    add_rows(con, COST_ROWS)
    load_usage_csv(con, _write(tmp_path, USAGE), config=CONFIG)
    con.close()
    spec = registry().get("unit_economics_report")
    assert spec.effect == "read" and "Example" in spec.description
    out = invoke_tool(
        registry(),
        rt.tool_context("t", None),
        "unit_economics_report",
        {"metric": "requests", "by": "vtag:feature", "per": 1000, "period": "2026-10"},
    )
    assert out.ok, out.error
    data = out.content["data"]
    assert (data["since"], data["until"], data["currency"]) == ("2026-10-01", "2026-10-31", "USD")
    rows = {r["value"]: r for r in data["rows"]}
    assert Decimal(rows["checkout"]["unit_cost"]) == Decimal("1.8")
    assert rows["recommendations"]["status"] == "no_cost"
    bad = invoke_tool(
        registry(), rt.tool_context("t", None), "unit_economics_report", {"metric": "x"}
    )
    assert not bad.ok and "invalid arguments" in (bad.error or "")
    rt.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not any(g.name == "units" for g in cli_module.app.registered_groups):
        cli_units.register(cli_module.app)  # until agent/cli/main.py registers it
    root = tmp_path / "home"
    root.mkdir()
    (root / "finops.yaml").write_text(
        "virtual_tags:\n  feature:\n"
        "    sources: [feature]\n    aliases: {co: checkout}\n    inference: {enabled: false}\n"
        "    shared:\n      - id: shared-db\n        when: {ResourceId: db-1}\n"
        "        method: fixed\n        ratios: {checkout: 3, search: 1}\n"
    )
    con = connect(root / "warehouse.duckdb")
    add_rows(con, COST_ROWS)
    con.close()
    monkeypatch.setenv("FINOPS_HOME", str(root))
    monkeypatch.setenv("COLUMNS", "200")
    return root


def test_cli_load_and_report(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, USAGE)
    loaded = run_cli(capsys, "units", "load", str(path), "--source", "analytics", "--json")
    assert loaded.code == 0 and loaded.err == ""
    assert (loaded.json()["rows"], loaded.json()["source"]) == (4, "analytics")
    human = run_cli(capsys, "units", "load", str(path), "--source", "analytics")
    assert "Loaded 4 usage rows" in human.out and "replaced 4 earlier rows" in human.out
    doc = run_cli(
        capsys, "units", "report", "--metric", "requests", "--by", "vtag:feature",
        "--per", "1000", "--json",
    ).json()  # fmt: skip
    assert Decimal(doc["total"]["matched_unit_cost"]) == Decimal(2)
    assert {r["value"]: r["status"] for r in doc["rows"]}["unallocated"] == "no_usage"
    out = run_cli(
        capsys, "units", "report", "--metric", "requests", "--by", "vtag:feature", "--per", "1000"
    ).out
    out = " ".join(out.split())  # Rich wraps the title to the table's width
    assert "Cost per 1,000 requests by vtag:feature, billed cost in USD, 2026-10-01 to " in out
    assert "2026-10-02, all spend; usage from analytics" in out
    for text in ("USD 36.00", "20,000", "USD 1.80", "USD 3.00", "no usage", "no cost", "USD 2.12"):
        assert text in out, text
    assert "Not matched: USD 5.00 of cost has no requests usage; 1,000 requests have no cost" in out
    monthly = run_cli(
        capsys, "units", "report", "--metric", "requests", "--by", "vtag:feature",
        "--grain", "month", "--since", "2026-09-01", "--until", "2026-10-31",
    ).out  # fmt: skip
    assert "2026-09-01" in monthly and "cost per request" in monthly


def test_cli_errors_are_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, HEADER + "2026-10-01,requests,feature,checkout,-1\n")
    res = run_cli(capsys, "units", "load", str(bad))
    assert res.code == 1 and res.out == ""
    assert res.err.strip() == (
        f"error: {bad}, line 2, column quantity: negative quantity -1; usage must be >= 0"
    )
    res = run_cli(capsys, "units", "report", "--metric", "requests", "--by", "feature")
    assert res.code == 1 and "vtag:NAME" in res.err
    res = run_cli(capsys, "units", "report", "--metric", "requests", "--by", "vtag:feature")
    assert res.code == 1 and "no usage metrics are loaded" in res.err


# -- demo -------------------------------------------------------------------------------------


def test_demo_usage_is_deterministic_and_covers_every_agent(tmp_path: Path) -> None:
    start, end = date(2026, 8, 30), date(2026, 11, 27)
    a = write_demo_usage(tmp_path / "a.csv", start=start, end=end, seed=7)
    b = write_demo_usage(tmp_path / "b.csv", start=start, end=end, seed=7)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.rows == 90 * (len(WORKLOADS) + 4)
    assert set(a.tasks) == {w.agent_id for w in WORKLOADS} and min(a.tasks.values()) > 0
    with a.path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["date"] for r in rows} == {
        str(date.fromordinal(start.toordinal() + i)) for i in range(90)
    }
    con = duckdb.connect()
    from warehouse.migrations import migrate

    migrate(con)
    demo_config = Config.model_validate(
        {"virtual_tags": {"agent": {"sources": ["agent_id"]}, "team": {"aliases": {"ml": "x"}}}}
    )
    result = load_usage_csv(con, a.path, config=demo_config)
    assert result.warnings == []
    teams = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT value FROM usage_metrics WHERE vtag = 'team'"
        ).fetchall()
    }
    assert teams == {"payments", "search", "web", "ml-platform"}
