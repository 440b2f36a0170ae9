"""OpenCost, Snowflake and mapped-CSV connectors: totals against the sources, scopes, bad input."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest, snapshot
from tests.paths import FIXTURES
from warehouse.errors import IngestError
from warehouse.ingest import detect_format
from warehouse.ingest.base import LocalFile
from warehouse.settings import SnowflakeConfig

OPENCOST = FIXTURES / "opencost"
SNOWFLAKE = FIXTURES / "snowflake"
MAPPED = FIXTURES / "mapped"
REAL_OPENCOST = "opencost/allocation_compute_example_response.json"


def _allocations(path: Path) -> list[tuple[str, dict]]:
    doc = json.loads(path.read_text(), parse_float=Decimal)
    return [(name, a) for s in doc["data"] for name, a in s.items()]


def _csv_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _total(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> Decimal:
    row = con.execute(f"SELECT coalesce(sum(BilledCost), 0) FROM costs WHERE {where}").fetchone()
    assert row is not None
    return Decimal(row[0])


# --- OpenCost -------------------------------------------------------------------------------


def test_opencost_real_response_totals(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / REAL_OPENCOST
    ingest(con, path, fmt="opencost")
    allocations = _allocations(path)
    expected = sum(a["totalCost"] - a["externalCost"] for _, a in allocations)
    assert _total(con) == expected == Decimal("0.456113")
    per_alloc = dict(
        con.execute("SELECT ResourceName, sum(BilledCost) FROM costs GROUP BY 1").fetchall()
    )
    assert per_alloc == {n: a["totalCost"] for n, a in allocations if a["totalCost"]}
    cpu = con.execute(
        "SELECT BilledCost, ConsumedQuantity, ConsumedUnit, ResourceId, ResourceType,"
        " SubAccountId, BillingAccountId, ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart,"
        " Tags->>'controller', Tags->>'namespace', ProviderName, ServiceCategory"
        " FROM costs WHERE ResourceName = 'opencost' AND SkuMeter = 'CPU'"
    ).fetchone()
    assert cpu == (
        Decimal("0.01817"), Decimal("0.95949"), "Core-Hours", "opencost-75dc7dcc49-xdx5t", "Pod",
        "cluster-one", "cluster-one", datetime(2023, 1, 18, 11, 38, 45),
        datetime(2023, 1, 20, 11, 38, 45), datetime(2023, 1, 1), "opencost", "opencost",
        "Kubernetes", "Compute",
    )  # fmt: skip


def test_opencost_cost_types_labels_and_external_cost(con: duckdb.DuckDBPyConnection) -> None:
    path = OPENCOST / "allocation_daily_aug01_02.json"
    ingest(con, path, fmt="opencost")
    allocations = _allocations(path)
    assert _total(con) == sum(a["totalCost"] - a["externalCost"] for _, a in allocations)
    meters = dict(
        con.execute(
            "SELECT SkuMeter, sum(BilledCost) FROM costs"
            " WHERE ResourceName LIKE 'checkout/%' AND ChargePeriodStart = '2025-08-01'"
            " GROUP BY 1"
        ).fetchall()
    )
    checkout = allocations[0][1]
    assert meters == {
        "CPU": checkout["cpuCost"] + checkout["cpuCostAdjustment"],
        "RAM": checkout["ramCost"],
        "Persistent Volume": checkout["pvCost"],
        "Network": checkout["networkCost"],
        "Load Balancer": checkout["loadBalancerCost"],
    }
    tags = con.execute(
        "SELECT DISTINCT Tags->>'team', Tags->>'cost_center', Tags->>'pod', Tags->>'provider_id'"
        " FROM costs WHERE ResourceName LIKE 'checkout/%'"
    ).fetchall()
    assert tags == [("payments", "CC-42", "checkout-api-6d9f7c9b5-x2k4p", "i-0a1b2c3d4e5f67890")]
    gpu = con.execute(
        "SELECT ConsumedQuantity, ConsumedUnit, ServiceCategory FROM costs"
        " WHERE SkuMeter = 'GPU' AND ChargePeriodStart = '2025-08-02'"
    ).fetchall()
    assert gpu == [(Decimal(24), "GPU-Hours", "Compute")]
    ram_gib = con.execute(
        "SELECT ConsumedQuantity FROM costs WHERE ResourceName = '__idle__' AND SkuMeter = 'RAM'"
    ).fetchall()
    assert ram_gib == [(Decimal(300),), (Decimal(300),)]


def test_opencost_requery_replaces_overlapping_days(con: duckdb.DuckDBPyConnection) -> None:
    first, second = (
        OPENCOST / "allocation_daily_aug01_02.json",
        OPENCOST / "allocation_daily_aug02_03.json",
    )
    ingest(con, first, fmt="opencost")
    day1 = _total(con, "ChargePeriodStart = '2025-08-01'")
    report = ingest(con, second, fmt="opencost")
    assert report.replaced_rows > 0
    by_day: dict[str, Decimal] = {}
    for _, a in _allocations(second):
        day = a["window"]["start"][:10]
        by_day[day] = by_day.get(day, Decimal(0)) + a["totalCost"] - a["externalCost"]
    assert _total(con, "ChargePeriodStart = '2025-08-01'") == day1
    assert _total(con, "ChargePeriodStart = '2025-08-02'") == by_day["2025-08-02"]
    assert _total(con, "ChargePeriodStart = '2025-08-03'") == by_day["2025-08-03"]


def test_opencost_bad_cost_value(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    doc = json.loads((OPENCOST / "allocation_daily_aug01_02.json").read_text())
    doc["data"][1]["ml/trainer-0"]["gpuCost"] = "lots"
    bad = tmp_path / "allocation.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(IngestError) as caught:
        ingest(con, bad, fmt="opencost")
    assert str(bad) in str(caught.value)
    assert "allocation set 2, allocation 'ml/trainer-0': gpuCost" in str(caught.value)
    assert snapshot(con)[0] == 0


# --- Snowflake ------------------------------------------------------------------------------


def test_snowflake_warehouse_metering_totals(con: duckdb.DuckDBPyConnection) -> None:
    path = SNOWFLAKE / "warehouse_metering_history.csv"
    config = Config(snowflake=SnowflakeConfig(credit_price=Decimal("2.75"), account_name="acme"))
    report = ingest(con, path, config=config, fmt="snowflake")
    rows = _csv_rows(path)
    credits = sum(Decimal(r["CREDITS_USED"]) for r in rows)
    assert report.rows == len(rows) == 12
    assert _total(con) == credits * Decimal("2.75")
    per_wh = dict(
        con.execute("SELECT ResourceName, sum(ConsumedQuantity) FROM costs GROUP BY 1").fetchall()
    )
    for wh in ("COMPUTE_WH", "ETL_WH_LARGE"):
        assert per_wh[wh] == sum(
            Decimal(r["CREDITS_USED"]) for r in rows if r["WAREHOUSE_NAME"] == wh
        )
    first = con.execute(
        "SELECT ChargePeriodStart, BillingPeriodStart, ConsumedUnit, PricingUnit, PricingQuantity,"
        " PricingCurrencyEffectiveCost, PricingCurrencyListUnitPrice, ListUnitPrice,"
        " ContractedUnitPrice, BillingCurrency, SubAccountId, ResourceId, ServiceSubcategory"
        " FROM costs ORDER BY ChargePeriodStart, ResourceName LIMIT 1"
    ).fetchone()
    # 2025-07-31 22:00 at -07:00 is 05:00 UTC on August 1st: billed in August, not July
    assert first == (
        datetime(2025, 8, 1, 5), datetime(2025, 8, 1), "Credits", "Credits",
        Decimal(rows[0]["CREDITS_USED"]), Decimal(rows[0]["CREDITS_USED"]), 1, Decimal("2.75"),
        Decimal("2.75"), "USD", "acme", "101", "Data Warehouses",
    )  # fmt: skip
    currencies = con.execute("SELECT DISTINCT PricingCurrency FROM costs").fetchall()
    assert currencies == [("Credits",)]  # a virtual currency keeps its name (not upper-cased)


def test_snowflake_metering_and_daily_history(con: duckdb.DuckDBPyConnection) -> None:
    hourly, daily = SNOWFLAKE / "metering_history.csv", SNOWFLAKE / "metering_daily_history.csv"
    ingest(con, hourly, fmt="snowflake", source="sf-hourly")
    ingest(con, daily, fmt="snowflake", source="sf-daily")
    hourly_credits = sum(Decimal(r["CREDITS_USED"]) for r in _csv_rows(hourly))
    billed_credits = sum(Decimal(r["CREDITS_BILLED"]) for r in _csv_rows(daily))
    assert _total(con, "x_SourceName = 'sf-hourly'") == hourly_credits * 3
    assert _total(con, "x_SourceName = 'sf-daily'") == billed_credits * 3
    categories = con.execute(
        "SELECT SkuId, ServiceCategory, ServiceSubcategory, ResourceName, Tags->>'database'"
        " FROM costs WHERE x_SourceName = 'sf-hourly' ORDER BY ChargePeriodStart, SkuId"
    ).fetchall()
    assert categories == [
        ("PIPE", "Databases", "Other (Databases)", "RAW.EVENTS.EVENTS_PIPE", "RAW"),
        ("WAREHOUSE_METERING", "Databases", "Data Warehouses", "COMPUTE_WH", None),
        ("AUTO_CLUSTERING", "Databases", "Other (Databases)", "ORDERS", "SALES"),
        ("AI_SERVICES", "AI and Machine Learning", "Generative AI", "AI_SERVICES", None),
        ("SERVERLESS_TASK", "Databases", "Other (Databases)", "NIGHTLY_ROLLUP", "SALES"),
    ]
    ends = con.execute(
        "SELECT DISTINCT ChargePeriodEnd - ChargePeriodStart FROM costs"
        " WHERE x_SourceName = 'sf-daily'"
    ).fetchall()
    assert [str(e[0]) for e in ends] == ["1 day, 0:00:00"]


def test_snowflake_reexport_replaces_only_its_days(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = SNOWFLAKE / "metering_daily_history.csv"
    ingest(con, path, fmt="snowflake")
    lines = path.read_text().splitlines()
    later = tmp_path / "daily.csv"
    later.write_text("\n".join([lines[0], lines[3].replace("13.250000000", "20.000000000")]) + "\n")
    report = ingest(con, later, fmt="snowflake")
    assert report.replaced_rows == 1
    assert _total(con, "ChargePeriodStart = '2025-08-02'") == Decimal(60)
    assert (
        _total(con, "ChargePeriodStart = '2025-08-01'") == (Decimal("40.25") + Decimal("2.75")) * 3
    )


def test_snowflake_bad_credits_located(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    ingest(con, SNOWFLAKE / "metering_history.csv", fmt="snowflake")
    before = snapshot(con)
    text = (SNOWFLAKE / "warehouse_metering_history.csv").read_text().splitlines()
    text[3] = text[3].replace("0.984444444", "n/a")
    bad = tmp_path / "wmh.csv"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(IngestError) as caught:
        ingest(con, bad, fmt="snowflake")
    err = caught.value
    assert (err.file, err.row, err.column) == (str(bad), 3, "CREDITS_USED")
    assert snapshot(con) == before


# --- mapped CSV -----------------------------------------------------------------------------


def test_mapped_databricks_csv(con: duckdb.DuckDBPyConnection) -> None:
    path = MAPPED / "databricks_usage.csv"
    ingest(con, path, fmt="mapped", options={"mapping": str(MAPPED / "databricks.yaml")})
    rows = _csv_rows(path)
    assert _total(con) == sum(Decimal(r["cost_usd"]) for r in rows)
    got = con.execute(
        "SELECT ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, BillingPeriodEnd,"
        " EffectiveCost, ListCost, ContractedCost, PublisherName, InvoiceIssuerName,"
        " ConsumedQuantity, ConsumedUnit, SubAccountId, Tags->>'team', Tags->>'cost_center'"
        " FROM costs WHERE ResourceId = '0731-sql999'"
    ).fetchone()
    assert got == (
        datetime(2025, 8, 1), datetime(2025, 8, 1, 1), datetime(2025, 8, 1), datetime(2025, 9, 1),
        Decimal("2.383333"), Decimal("2.383333"), Decimal("2.383333"), "Databricks", "Databricks",
        Decimal("4.333333"), "DBU", "ws-1002", "analytics", None,
    )  # fmt: skip


def test_mapped_semicolon_prefix_tags_and_currency(con: duckdb.DuckDBPyConnection) -> None:
    path = MAPPED / "saas_invoice.csv"
    config = Config(fx_rates={"EUR": Decimal("1.08")})
    options: dict[str, object] = {"mapping": str(MAPPED / "saas_invoice.yaml")}
    ingest(con, path, fmt="mapped", options=options, config=config)
    rows = _csv_rows(path, delimiter=";")
    assert _total(con) == sum(Decimal(r["Betrag"]) for r in rows) == Decimal("1300.49")
    got = con.execute(
        "SELECT BillingCurrency, ChargePeriodStart, ChargePeriodEnd, Tags FROM costs"
        " ORDER BY BilledCost DESC"
    ).fetchall()
    assert [(g[0], g[1], g[2]) for g in got] == [
        ("EUR", datetime(2025, 8, 1), datetime(2025, 9, 1))
    ] * 2
    assert [json.loads(g[3]) for g in got] == [
        {"team": "platform", "env": "prod"},
        {"team": "platform"},
    ]


BAD_MAPPINGS = [
    ("colums: {BilledCost: cost_usd}\n", "unknown key 'colums'; valid keys: columns, constants"),
    (
        "columns: {BiledCost: cost_usd}\n",
        "'BiledCost' under `columns` is not a FOCUS 1.2 column; did you mean BilledCost?",
    ),
    (
        "columns: {BilledCost: amount}\n",
        "source column 'amount' (for FOCUS BilledCost) is not in the file",
    ),
    ("columns: {BilledCost: cost_usd}\ntags: [owner]\n", "tag column(s) owner not in the file"),
    (
        "columns: {BilledCost: cost_usd}\n",
        "gives no source for mandatory FOCUS column(s) BillingAccountId",
    ),
    ("delimiter: ';;'\n", "delimiter: Value error, must be one character"),
    ("- just a list\n", "expected a mapping"),
    ("columns: [unclosed\n", "invalid YAML"),
]


@pytest.mark.parametrize(("yaml_text", "message"), BAD_MAPPINGS)
def test_mapped_bad_mapping_files(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, yaml_text: str, message: str
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml_text)
    data = MAPPED / "databricks_usage.csv"
    with pytest.raises(IngestError) as caught:
        ingest(con, data, fmt="mapped", options={"mapping": str(mapping)})
    assert message in str(caught.value)
    assert str(data) in str(caught.value) and str(mapping) in str(caught.value)
    assert snapshot(con)[0] == 0


def test_mapped_needs_a_mapping_and_is_never_guessed(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(IngestError, match="needs a mapping file: pass --mapping PATH"):
        ingest(con, MAPPED / "databricks_usage.csv", fmt="mapped")
    with pytest.raises(IngestError, match="cannot detect the billing format"):
        detect_format(LocalFile(MAPPED / "databricks_usage.csv", "databricks_usage.csv"))


def test_mapped_bad_timestamp_located(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    text = (MAPPED / "databricks_usage.csv").read_text().replace("2025-08-02 00:00", "2/8/2025")
    bad = tmp_path / "usage.csv"
    bad.write_text(text)
    with pytest.raises(IngestError) as caught:
        ingest(con, bad, fmt="mapped", options={"mapping": str(MAPPED / "databricks.yaml")})
    err = caught.value
    assert (err.row, err.column) == (4, "usage_start_time")
    assert "%Y-%m-%d %H:%M" in str(err)


# --- detection ------------------------------------------------------------------------------


def test_detect_format_opencost_and_snowflake(shared_data: Path) -> None:
    cases = [
        (shared_data / REAL_OPENCOST, "opencost"),
        (OPENCOST / "allocation_daily_aug01_02.json", "opencost"),
        (SNOWFLAKE / "warehouse_metering_history.csv", "snowflake"),
        (SNOWFLAKE / "metering_history.csv", "snowflake"),
        (SNOWFLAKE / "metering_daily_history.csv", "snowflake"),
    ]
    for path, fmt in cases:
        assert detect_format(LocalFile(path, str(path))) == fmt, path.name
