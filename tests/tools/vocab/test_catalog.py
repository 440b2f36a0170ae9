"""The catalog as built from warehouses: what it holds, that its figures are the spend engine's,
where it is stored, and when it is rebuilt (after ingests and allocations, never otherwise)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from tests.helpers.vtags import Row, add_rows, allocate, config_of, spend_by
from tests.helpers.warehouse import ingest
from tools.query import DuckDBEngine
from tools.spend.engine import Filter, SpendQuery, spend
from tools.vocab import store
from tools.vocab.catalog import (
    ensure_vocabulary,
    load_vocabulary,
    refresh_after_change,
    refresh_summary,
    refresh_vocabulary,
)
from tools.vocab.sql import VOCAB_COLUMNS
from warehouse.db import connect

from .conftest import FOCUS

CENT = Decimal("0.01")


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT)


def test_the_real_cur_catalogue(cur_con: duckdb.DuckDBPyConnection) -> None:
    vocab = load_vocabulary(DuckDBEngine(cur_con), Config())
    assert vocab.currency == "USD"
    assert (vocab.first_day, vocab.last_day) == (date(2018, 10, 1), date(2018, 10, 31))
    assert vocab.months == [date(2018, 10, 1)]
    glue = vocab.entry("ServiceName", "AWS Glue")
    assert glue is not None and _cents(glue.cost) == Decimal("2389.33")
    assert glue.rows == 1859 and glue.first_day == date(2018, 10, 1)
    assert vocab.entries("ServiceName")[0].value == "AWS Glue"  # highest spend first
    assert len(vocab.entries("ServiceName")) == 16
    dims = vocab.dimensions()
    assert dims[:2] == ["ProviderName", "ServiceName"]
    assert "SubAccountName" not in dims  # all null in this CUR: skipped, not empty
    assert "ResourceName" not in dims and "SkuMeter" not in dims
    assert {"cost_center", "department", "environment", "workload"} <= set(vocab.tag_keys())
    assert vocab.entries("tag:department")[0].value == "CentralIT"
    region = vocab.entry("RegionId", "us-east-1")
    assert region is not None and region.label == "US East (N. Virginia)"
    by_name = vocab.lookup("us east (n. virginia)", ["RegionId"])
    assert [(m.entry.value, m.how) for m in by_name] == [("us-east-1", "label")]
    account = vocab.entry("SubAccountId", "836060457634")
    assert account is not None and account.label is None


@pytest.mark.parametrize(
    "dimension",
    ["ProviderName", "ServiceName", "RegionId", "RegionName", "SubAccountId", "tag:department"],
)
def test_every_figure_is_the_spend_engines(
    cur_con: duckdb.DuckDBPyConnection, dimension: str
) -> None:
    """Each value's cost is what `finops spend --filter DIM=value` reports, to the cent, and a
    dimension's values add up to the spend that has a value for it."""
    engine, config = DuckDBEngine(cur_con), Config()
    vocab = load_vocabulary(engine, config)
    by = spend(engine, config, SpendQuery(by=[dimension]))
    expected = {r.dimensions[dimension]: _cents(r.cost) for r in by.rows}
    expected.pop("(none)", None)
    got = {e.value: _cents(e.cost) for e in vocab.entries(dimension)}
    assert got == expected
    first = vocab.entries(dimension)[0]
    one = spend(
        engine, config, SpendQuery(filters=[Filter(dimension=dimension, values=[first.value])])
    )
    assert _cents(one.total) == _cents(first.cost)
    assert vocab.spend_of(dimension, first.value) == first.cost
    window = vocab.spend_of(dimension, first.value, date(2018, 10, 1), date(2018, 10, 10))
    assert window is not None and Decimal(0) < abs(window) <= abs(first.cost) + CENT


def test_the_focus_sample_with_labels_both_ways(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, FOCUS, config=Config())
    vocab = load_vocabulary(DuckDBEngine(con), Config())
    assert [e.value for e in vocab.entries("ProviderName")] == ["AWS", "Microsoft", "Oracle"]
    pairs = con.execute(
        "SELECT SubAccountName, count(DISTINCT SubAccountId) FROM costs "
        "WHERE SubAccountName IS NOT NULL GROUP BY 1"
    ).fetchall()
    names = {e.value: e for e in vocab.entries("SubAccountName")}
    assert set(names) == {n for n, _ in pairs}
    for name, ids in pairs:
        assert (names[name].label is not None) == (ids == 1), name  # a label only if unique
    labelled = [e for e in names.values() if e.label]
    assert len(labelled) > 10
    for e in labelled:
        back = vocab.entry("SubAccountId", e.label or "")
        assert back is not None and back.label == e.value and back.cost == e.cost
    total = con.execute("SELECT sum(BilledCost) FROM costs").fetchone()
    assert total is not None
    assert sum(e.cost for e in vocab.entries("ProviderName")) == total[0]
    assert sum(e.rows for e in vocab.entries("ChargeCategory")) == 1000
    assert {"application", "environment", "business_unit"} <= set(vocab.tag_keys())
    assert "ChargeClass" not in vocab.dimensions()  # absent from the sample


def test_an_empty_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    engine = DuckDBEngine(con)
    result = refresh_vocabulary(engine, Config())
    assert (result.rebuilt, result.stored, result.entries, result.error) == (True, True, 0, None)
    vocab = load_vocabulary(engine, Config())
    assert len(vocab) == 0 and vocab.dimensions() == [] and vocab.months == []
    assert vocab.first_day is None and vocab.last_day is None
    assert vocab.lookup("EC2") == [] and vocab.closest("Glu") == []
    assert ensure_vocabulary(engine, Config()).rebuilt is False


def test_stored_in_the_warehouse_and_rebuilt_only_when_the_data_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = connect(tmp_path / "warehouse.duckdb")
    engine = DuckDBEngine(con)
    add_rows(con, [Row(cost="10", ServiceName="Amazon Simple Storage Service")])
    first = refresh_after_change(engine, Config())
    assert first.rebuilt and first.stored and first.entries > 0
    assert con.execute("SELECT count(*) FROM vocab").fetchone() == (first.entries,)
    assert refresh_after_change(engine, Config()).rebuilt is False

    def no_build(*_a: object, **_k: object) -> None:
        raise AssertionError("rebuilt although nothing changed")

    con.close()
    con = connect(tmp_path / "warehouse.duckdb")  # another process: reads what is stored
    monkeypatch.setattr("tools.vocab.catalog.build_catalog", no_build)
    stored = load_vocabulary(DuckDBEngine(con), Config())
    assert stored.entry("ServiceName", "Amazon Simple Storage Service") is not None
    monkeypatch.undo()

    ingest(con, FOCUS, config=Config())
    again = refresh_after_change(DuckDBEngine(con), Config())
    assert again.rebuilt and again.entries > first.entries
    fresh = load_vocabulary(DuckDBEngine(con), Config())
    assert fresh.entry("ServiceName", "Azure Machine Learning") is not None
    assert refresh_summary(again).startswith("vocabulary refreshed: ")
    con.close()


def test_a_rebuilt_table_keeps_the_migration_schema(tmp_path: Path) -> None:
    def schema(c: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
        return c.execute(
            "SELECT table_name, ordinal_position, column_name, data_type, is_nullable "
            "FROM information_schema.columns WHERE table_name IN ('vocab', 'vocab_meta') "
            "ORDER BY 1, 2"
        ).fetchall()

    fresh = connect(tmp_path / "fresh.duckdb")
    built = connect(tmp_path / "built.duckdb")
    add_rows(built, [Row(cost="1", tags={"team": "web"})])
    refresh_vocabulary(DuckDBEngine(built), Config())
    assert schema(built) == schema(fresh)
    assert [c[2] for c in schema(fresh) if c[0] == "vocab"] == [n for n, _t in VOCAB_COLUMNS]
    fresh.close()
    built.close()


def test_a_read_only_connection_builds_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    add_rows(con, [Row(cost="3", ServiceName="AWS Glue")])
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    vocab = load_vocabulary(DuckDBEngine(ro), Config())
    assert vocab.entry("ServiceName", "AWS Glue") is not None
    assert ro.execute("SELECT count(*) FROM vocab_meta").fetchone() == (0,)
    assert refresh_vocabulary(DuckDBEngine(ro), Config()).stored is False
    ro.close()


def test_virtual_tags_follow_the_allocation(tmp_path: Path) -> None:
    con = connect(tmp_path / "warehouse.duckdb")
    engine = DuckDBEngine(con)
    add_rows(
        con,
        [
            Row(cost="100", ResourceId="i-1", tags={"team": "payments"}),
            Row(cost="50", ResourceId="i-2", tags={"Team": "Search"}),
            Row(cost="30", ResourceId="i-3", ServiceName="AWS Data Transfer"),
        ],
    )
    config = config_of(
        {
            "team": {
                "sources": ["team"],
                "inference": {"enabled": False},
                "shared": [
                    {
                        "id": "transfer",
                        "when": {"ServiceName": "AWS Data Transfer"},
                        "method": "proportional",
                    }
                ],
            }
        }
    )
    before = refresh_after_change(engine, config)
    assert before.rebuilt and any("virtual tags" in w for w in before.warnings)
    assert "vtag:team" not in load_vocabulary(engine, config).dimensions()
    allocate(con, config)
    after = refresh_after_change(engine, config)
    assert after.rebuilt and not after.warnings
    vocab = load_vocabulary(engine, config)
    assert vocab.virtual_tags() == ["team"]
    got = {e.value: _cents(e.cost) for e in vocab.entries("vtag:team")}
    assert got == {k: _cents(v) for k, v in spend_by(con, config, "team").items()}
    assert got == {"payments": Decimal("120.00"), "search": Decimal("60.00")}
    assert [m.entry.dimension for m in vocab.lookup("payments")] == ["vtag:team", "tag:team"]
    con.close()


def test_a_costs_table_without_some_columns(tmp_path: Path) -> None:
    """A lakehouse table may lack FOCUS columns: they are probed one by one and skipped."""
    con = duckdb.connect(str(tmp_path / "lake.duckdb"))
    con.execute(
        "CREATE TABLE costs AS SELECT * FROM (VALUES ('AWS', 'AWS Glue', 5.0::DECIMAL(38,12), "
        "TIMESTAMP '2026-10-01', 'USD')) AS t(ProviderName, ServiceName, BilledCost, "
        "ChargePeriodStart, BillingCurrency)"
    )
    snapshot = store.build_catalog(DuckDBEngine(con), Config(), store=False)
    assert sorted({r[0] for r in snapshot.rows or []}) == ["ProviderName", "ServiceName"]
    assert snapshot.meta.months == [date(2026, 10, 1)]
    con.close()


def test_the_hook_reports_instead_of_raising(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "nothing.duckdb"))
    result = refresh_after_change(DuckDBEngine(con), Config())
    assert result.error and "no `costs` table" in result.error and not result.rebuilt
    assert refresh_summary(result).startswith("warning: vocabulary not refreshed: ")
    con.close()
