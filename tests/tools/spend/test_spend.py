"""Spend queries checked against independent computations over the source file."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest
from tools.query import DuckDBEngine, resolve_dimension, transpile
from tools.spend.engine import SpendQuery, parse_filter, spend, top_movers, unit_cost
from warehouse.errors import QueryError


@pytest.fixture
def rows(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "focus/focus_sample_1000.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def engine(con: duckdb.DuckDBPyConnection, shared_data: Path) -> DuckDBEngine:
    ingest(con, shared_data / "focus/focus_sample_1000.csv")
    return DuckDBEngine(con)


def _sum(rows: list[dict[str, str]], key: str, metric: str = "BilledCost") -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        value = r[metric]
        out[r[key] if r[key] != "NULL" else "(none)"] += Decimal(value if value != "NULL" else 0)
    return dict(out)


def test_breakdown_by_column(engine: DuckDBEngine, rows: list[dict[str, str]]) -> None:
    result = spend(engine, Config(), SpendQuery(by=["servicename"]))
    got = {r.dimensions["ServiceName"]: r.cost for r in result.rows}
    assert got == _sum(rows, "ServiceName")
    assert result.total == sum(_sum(rows, "ServiceName").values())
    assert result.currency == "USD" and result.by == ["ServiceName"]
    assert [r.cost for r in result.rows] == sorted((r.cost for r in result.rows), reverse=True)


def test_effective_and_list_metrics(engine: DuckDBEngine, rows: list[dict[str, str]]) -> None:
    for metric, column in [("effective", "EffectiveCost"), ("list", "ListCost")]:
        result = spend(engine, Config(), SpendQuery(by=["ProviderName"], metric=metric))
        got = {r.dimensions["ProviderName"]: r.cost for r in result.rows}
        assert got == _sum(rows, "ProviderName", column)


def test_two_dimensions_top_n_with_other(engine: DuckDBEngine, rows: list[dict[str, str]]) -> None:
    result = spend(engine, Config(), SpendQuery(by=["ProviderName", "ServiceName"], top=3))
    assert len(result.rows) == 4
    assert result.rows[-1].dimensions == {"ProviderName": "(other)", "ServiceName": "(other)"}
    pairs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        pairs[(r["ProviderName"], r["ServiceName"])] += Decimal(r["BilledCost"])
    ranked = sorted(pairs.values(), reverse=True)
    assert [r.cost for r in result.rows[:3]] == ranked[:3]
    assert result.rows[-1].cost == sum(ranked[3:])


def test_daily_grain_with_filter_and_period(
    engine: DuckDBEngine, rows: list[dict[str, str]]
) -> None:
    query = SpendQuery(
        grain="day",
        since=date(2024, 9, 10),
        until=date(2024, 9, 12),
        filters=[parse_filter("ProviderName=AWS")],
    )
    result = spend(engine, Config(), query)
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for r in rows:
        day = datetime.fromisoformat(r["ChargePeriodStart"]).date()
        if r["ProviderName"] == "AWS" and date(2024, 9, 10) <= day <= date(2024, 9, 12):
            expected[day] += Decimal(r["BilledCost"])
    assert {r.period: r.cost for r in result.rows} == expected
    assert (result.since, result.until) == (date(2024, 9, 10), date(2024, 9, 12))


def test_negated_filter_and_tag_dimension(engine: DuckDBEngine, rows: list[dict[str, str]]) -> None:
    result = spend(
        engine,
        Config(),
        SpendQuery(by=["tag:application"], filters=[parse_filter("ProviderName!=AWS")]),
    )
    import json

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["ProviderName"] == "AWS":
            continue
        tags = json.loads(r["Tags"]) if r["Tags"] != "NULL" else {}
        expected[tags.get("application", "(none)")] += Decimal(r["BilledCost"])
    assert {r.dimensions["tag:application"]: r.cost for r in result.rows} == expected


def test_movers_compare_equal_periods(engine: DuckDBEngine, rows: list[dict[str, str]]) -> None:
    result = top_movers(
        engine,
        Config(),
        by=["ServiceName"],
        since=date(2024, 9, 16),
        until=date(2024, 9, 30),
        top=3,
    )
    assert (result.previous_since, result.previous_until) == (date(2024, 9, 1), date(2024, 9, 15))
    cur: dict[str, Decimal] = defaultdict(Decimal)
    prev: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        day = datetime.fromisoformat(r["ChargePeriodStart"]).date()
        if date(2024, 9, 16) <= day <= date(2024, 9, 30):
            cur[r["ServiceName"]] += Decimal(r["BilledCost"])
        elif date(2024, 9, 1) <= day <= date(2024, 9, 15):
            prev[r["ServiceName"]] += Decimal(r["BilledCost"])
    deltas = sorted((abs(cur[k] - prev[k]) for k in set(cur) | set(prev)), reverse=True)
    assert [abs(r.delta) for r in result.rows] == deltas[:3]
    assert result.current_total == sum(cur.values())
    assert result.previous_total == sum(prev.values())


def test_unit_cost(engine: DuckDBEngine, rows: list[dict[str, str]]) -> None:
    result = unit_cost(engine, Config(), unit="Requests", per=1_000_000, by=["ServiceName"])
    cost: dict[str, Decimal] = defaultdict(Decimal)
    qty: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["ConsumedUnit"] == "Requests":
            cost[r["ServiceName"]] += Decimal(r["BilledCost"])
            qty[r["ServiceName"]] += Decimal(r["ConsumedQuantity"])
    for row in result.rows:
        name = row.dimensions["ServiceName"]
        assert row.cost == cost[name] and row.quantity == qty[name]
        assert row.unit_cost == cost[name] / qty[name] * 1_000_000


def test_fx_conversion_and_missing_rate(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    src = shared_data / "focus/focus_sample_1000.csv"
    with src.open(newline="", encoding="utf-8") as fh:
        data = list(csv.reader(fh))
    data[1][data[0].index("BillingCurrency")] = "EUR"
    data[1][data[0].index("BilledCost")] = "10"
    path = tmp_path / "eur.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(data)
    config = Config(fx_rates={"EUR": Decimal("1.5")})
    ingest(con, path, config=config)
    engine = DuckDBEngine(con)
    usd_only = con.execute(
        "SELECT sum(BilledCost) FROM costs WHERE BillingCurrency='USD'"
    ).fetchone()
    assert usd_only is not None
    assert spend(engine, config, SpendQuery()).total == usd_only[0] + Decimal(15)
    with pytest.raises(QueryError, match="EUR with no fx_rates entry"):
        spend(engine, Config(), SpendQuery())


@pytest.mark.parametrize("bad", ["nonsense", "BilledCost", "tag:", 'tag:a"b'])
def test_invalid_dimensions_are_explained(engine: DuckDBEngine, bad: str) -> None:
    with pytest.raises(QueryError):
        spend(engine, Config(), SpendQuery(by=[bad]))


def test_vtag_is_reserved_for_allocation() -> None:
    with pytest.raises(QueryError, match="virtual_tags"):
        resolve_dimension("vtag:team")


def test_filter_values_are_escaped(engine: DuckDBEngine) -> None:
    hostile = "x' OR '1'='1"
    result = spend(engine, Config(), SpendQuery(filters=[parse_filter(f"ServiceName={hostile}")]))
    assert result.rows == [] or result.total == 0
    assert "x'' OR ''1''=''1" in result.sql


@pytest.mark.parametrize("bad", ["ServiceName", "=x", "ServiceName="])
def test_malformed_filters(bad: str) -> None:
    with pytest.raises(QueryError, match="invalid filter"):
        parse_filter(bad)


@pytest.mark.parametrize("dialect", ["spark", "trino", "snowflake", "bigquery"])
def test_queries_transpile_to_distributed_dialects(engine: DuckDBEngine, dialect: str) -> None:
    result = spend(
        engine, Config(), SpendQuery(by=["ServiceName", "tag:team"], grain="month", top=5)
    )
    rendered = transpile(result.sql, dialect)
    assert "costs" in rendered and "json_extract_string" not in rendered.lower()
