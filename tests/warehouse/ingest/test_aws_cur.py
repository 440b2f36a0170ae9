"""AWS CUR ingest: legacy CSV, Athena parquet and CUR 2.0, checked against the source files.

Expected figures are computed here straight from the source (csv module, pyarrow), never through
the connector. The CUR 2.0 input is built in the test with pyarrow (MAP columns for `product` and
`resource_tags`) because no public CUR 2.0 sample is in the shared data.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest as ingest_auto
from tests.helpers.warehouse import snapshot
from tests.paths import SHARED_DATA
from warehouse.db import connect
from warehouse.errors import IngestError
from warehouse.ingest import IngestReport, detect_format, registry
from warehouse.ingest.aws_cur import _SERVICE_TABLE, column_key, service_category
from warehouse.ingest.base import LocalFile

LEGACY = "focus-converters/aws_cur_legacy_sample_anonymized.csv"
WORKSHOP = "aws-cur/Oct2018-WorkshopCUR-00001.snappy.parquet"
KOKU = "aws-cur/koku"
TOLERANCE = Decimal("0.000001")
"""Parquet costs are doubles: per-row rounding to DECIMAL(38,12) can move a sum by ~1e-9."""


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _rewrite(src: Path, dst: Path, row: int, column: str, value: str) -> Path:
    """Copy a CSV with data row `row` (1-based) of `column` replaced by `value`."""
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[row][rows[0].index(column)] = value
    with dst.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return dst


def ingest(con: duckdb.DuckDBPyConnection, *paths: Path, **kwargs: Any) -> IngestReport:
    """Ingest as aws-cur explicitly; auto-detection has its own test below."""
    kwargs.setdefault("fmt", "aws-cur")
    return ingest_auto(con, *paths, **kwargs)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


# ---------------------------------------------------------------------------------------------
# CUR 2.0 fixture (MAP columns), written with pyarrow
# ---------------------------------------------------------------------------------------------

_MAP = pa.map_(pa.string(), pa.string())
_SP = "arn:aws:savingsplans::111122223333:savingsplan/3f2a-example"
_CUR2_ROWS: list[dict[str, object]] = [
    # type, cost, net, usage account, product code, tags, product, extra
    {"t": "Usage", "cost": 0.0416, "acct": "444455556666", "code": "AmazonEC2",
     "tags": {"user_cost_center": "CC-42", "user_team": "ml", "aws_created_by": "IAMUser:bob"},
     "product": {"product_name": "Amazon Elastic Compute Cloud", "region": "us-east-1"},
     "public": 0.0416, "usage": 1.0, "unit": "Hrs", "term": "OnDemand"},
    {"t": "SavingsPlanCoveredUsage", "cost": 0.0832, "acct": "444455556666", "code": "AmazonEC2",
     "tags": {"user_team": "ml", "user_empty": ""}, "sp": _SP, "sp_eff": 0.05,
     "product": {"product_name": "Amazon Elastic Compute Cloud", "region": "us-east-1"},
     "public": 0.0832, "usage": 1.0, "unit": "Hrs", "term": "OnDemand"},
    {"t": "SavingsPlanNegation", "cost": -0.0832, "acct": "444455556666", "code": "AmazonEC2",
     "sp": _SP, "product": {"product_name": "Amazon Elastic Compute Cloud"}},
    {"t": "SavingsPlanRecurringFee", "cost": 36.0, "acct": "111122223333",
     "code": "ComputeSavingsPlans", "sp": _SP, "sp_total": 36.0, "sp_used": 30.0,
     "product": {"product_name": "Savings Plans for AWS Compute usage"}},
    {"t": "Usage", "cost": 2.0, "net": 1.9, "acct": "777788889999", "code": "AmazonS3",
     "tags": {"user_cost_center": "CC-7"}, "usage": 87.5, "unit": "GB-Mo", "public": 2.0,
     "product": {"product_name": "Amazon Simple Storage Service", "region": "eu-west-1"},
     "term": "OnDemand"},
    {"t": "Tax", "cost": 3.5, "acct": "111122223333", "code": "AmazonEC2",
     "product": {"product_name": "Amazon Elastic Compute Cloud"}},
    {"t": "Credit", "cost": -5.0, "acct": "444455556666", "code": "AmazonEC2"},
    {"t": "Refund", "cost": -1.25, "acct": "444455556666", "code": "AmazonS3", "bill": "Refund"},
]  # fmt: skip


def _cur2_table() -> pa.Table:
    start, end = datetime(2024, 5, 1), datetime(2024, 6, 1)
    rows = _CUR2_ROWS
    n = len(rows)

    def get(key: str) -> list[object]:
        return [r.get(key) for r in rows]

    def as_map(key: str) -> pa.Array:
        return pa.array([list((r.get(key) or {}).items()) for r in rows], type=_MAP)

    return pa.table(
        {
            "bill_bill_type": [r.get("bill", "Anniversary") for r in rows],
            "bill_billing_entity": ["AWS"] * n,
            "bill_billing_period_start_date": pa.array([start] * n, pa.timestamp("ms")),
            "bill_billing_period_end_date": pa.array([end] * n, pa.timestamp("ms")),
            "bill_invoice_id": ["INV-2024-05"] * n,
            "bill_invoicing_entity": ["Amazon Web Services, Inc."] * n,
            "bill_payer_account_id": ["111122223333"] * n,
            "bill_payer_account_name": ["acme-payer"] * n,
            "cost_category": pa.array([[("team", "platform")]] * n, type=_MAP),
            "identity_line_item_id": [f"li-{i}" for i in range(n)],
            "line_item_currency_code": ["USD"] * n,
            "line_item_legal_entity": ["Amazon Web Services, Inc."] * n,
            "line_item_line_item_description": [f"{r['t']} line" for r in rows],
            "line_item_line_item_type": get("t"),
            "line_item_net_unblended_cost": pa.array(get("net"), pa.float64()),
            "line_item_product_code": get("code"),
            "line_item_unblended_cost": pa.array(get("cost"), pa.float64()),
            "line_item_usage_account_id": get("acct"),
            "line_item_usage_account_name": [f"acct-{r['acct']}" for r in rows],
            "line_item_usage_amount": pa.array(get("usage"), pa.float64()),
            "line_item_usage_start_date": pa.array(
                [datetime(2024, 5, 3, 10)] * n, pa.timestamp("ms")
            ),
            "line_item_usage_end_date": pa.array(
                [datetime(2024, 5, 3, 11)] * n, pa.timestamp("ms")
            ),
            "pricing_public_on_demand_cost": pa.array(get("public"), pa.float64()),
            "pricing_term": get("term"),
            "pricing_unit": get("unit"),
            "product": as_map("product"),
            "product_region_code": ["us-east-1"] * n,
            "product_sku": ["SKU123"] * n,
            "resource_tags": as_map("tags"),
            "savings_plan_savings_plan_a_r_n": get("sp"),
            "savings_plan_savings_plan_effective_cost": pa.array(get("sp_eff"), pa.float64()),
            "savings_plan_total_commitment_to_date": pa.array(get("sp_total"), pa.float64()),
            "savings_plan_used_commitment": pa.array(get("sp_used"), pa.float64()),
        }
    )


@pytest.fixture
def cur2_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "cur2-00001.snappy.parquet"
    pq.write_table(_cur2_table(), path)
    return path


@pytest.fixture
def cur2_csv(tmp_path: Path) -> Path:
    """The same rows as a CUR 2.0 CSV export: MAP columns become JSON text."""
    table = _cur2_table()
    path = tmp_path / "cur2-00001.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            out = []
            for value in row.values():
                if isinstance(value, list):
                    out.append(json.dumps(dict(value)))
                elif isinstance(value, datetime):
                    out.append(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
                else:
                    out.append("" if value is None else str(value))
            writer.writerow(out)
    return path


@pytest.fixture
def known_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Detect among the connectors that exist in this checkout (others are added in parallel)."""
    present = tuple(
        f
        for f in registry.DETECTION_ORDER
        if importlib.util.find_spec(registry.FORMATS[f].partition(":")[0]) is not None
    )
    monkeypatch.setattr(registry, "DETECTION_ORDER", present)


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The 119,307-row workshop parquet, ingested once for the tests that only read it."""
    connection = connect(tmp_path_factory.mktemp("workshop") / "warehouse.duckdb")
    ingest(connection, SHARED_DATA / WORKSHOP)
    yield connection
    connection.close()


# ---------------------------------------------------------------------------------------------
# Legacy CUR CSV
# ---------------------------------------------------------------------------------------------


def test_legacy_csv_totals_match_source(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / LEGACY
    rows = _csv_rows(path)
    expected: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        key = (r["bill/BillingPeriodStartDate"][:10], r["bill/PayerAccountId"])
        expected[key] = expected.get(key, Decimal(0)) + Decimal(r["lineItem/UnblendedCost"])
    report = ingest(con, path)
    got = {
        (str(p), a): s
        for p, a, s in con.execute(
            "SELECT CAST(BillingPeriodStart AS DATE), BillingAccountId, sum(BilledCost) "
            "FROM costs GROUP BY ALL"
        ).fetchall()
    }
    assert got == expected
    assert report.rows == len(rows) == 1281
    assert sum(expected.values()) == Decimal("1.68230869740")
    assert report.warnings == []


def test_legacy_csv_charge_categories_and_columns(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / LEGACY
    rows = _csv_rows(path)
    ingest(con, path)
    counts = dict(con.execute("SELECT ChargeCategory, count(*) FROM costs GROUP BY 1").fetchall())
    source_types = [r["lineItem/LineItemType"] for r in rows]
    assert counts == {"Tax": source_types.count("Tax"), "Usage": source_types.count("Usage")}
    tax = con.execute(
        "SELECT DISTINCT ChargeCategory, ConsumedQuantity, ServiceName, ServiceCategory, "
        "InvoiceIssuerName, ProviderName FROM costs "
        "WHERE ChargeDescription = 'Tax for product code awskms'"
    ).fetchall()
    assert tax == [
        ("Tax", None, "AWS Key Management Service", "Security",
         "Amazon Web Services Canada, Inc.", "AWS"),
    ]  # fmt: skip
    usage = con.execute(
        "SELECT ChargeCategory, ChargeFrequency, RegionId, SkuId, PricingUnit, ChargePeriodStart "
        "FROM costs WHERE ChargeDescription LIKE '$0.02 per GB - US East (Northern Virginia)%' "
        "AND ChargePeriodStart = TIMESTAMP '2023-11-08 10:00:00' LIMIT 1"
    ).fetchone()
    assert usage is not None
    assert usage[:5] == ("Usage", "Usage-Based", "us-east-1", "4GFDNxxxxxx5DR5K", "GB")


def test_legacy_resource_tag_columns_become_tags(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    """koku's 2023-06 file with its `noTags/` columns renamed to the real `resourceTags/` ones."""
    text = (shared_data / KOKU / "2023-06-01.csv").read_text(encoding="utf-8")
    header, _, body = text.partition("\n")
    path = tmp_path / "tagged.csv"
    path.write_text(header.replace("noTags/", "resourceTags/") + "\n" + body, encoding="utf-8")
    ingest(con, path, config=Config(fx_rates={"NOK": Decimal("0.093")}))
    tags = [json.loads(t) for (t,) in con.execute("SELECT Tags FROM costs").fetchall()]
    expected = {"app": "slatt", "environment": "smoke_test_run_sample_long_tag", "version": "zeta"}
    assert tags == [expected] * 3


def test_corrupted_cost_names_file_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / KOKU / "2022-07-01-alt-columns.csv")
    before = snapshot(con)
    bad = _rewrite(shared_data / LEGACY, tmp_path / "bad.csv", 500, "lineItem/UnblendedCost", "n/a")
    with pytest.raises(IngestError) as info:
        ingest(con, bad)
    err = info.value
    assert (err.file, err.row, err.column) == (str(bad), 500, "lineItem/UnblendedCost")
    assert "'n/a'" in str(err) and "row 500" in str(err)
    assert snapshot(con) == before


def test_bad_timestamp_names_its_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(shared_data / LEGACY, tmp_path / "bad.csv", 7, "lineItem/UsageStartDate", "soon")
    with pytest.raises(IngestError) as info:
        ingest(con, bad)
    assert (info.value.row, info.value.column) == (7, "lineItem/UsageStartDate")
    assert snapshot(con)[0] == 0


def test_missing_required_column_is_named(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    rows = _csv_rows(shared_data / LEGACY)
    path = tmp_path / "no_currency.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        fields = [c for c in rows[0] if c != "lineItem/CurrencyCode"]
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[:5])
    with pytest.raises(IngestError, match=r"lineItem/CurrencyCode"):
        ingest(con, path)
    assert snapshot(con)[0] == 0


def test_reingest_replaces_rather_than_duplicates(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    ingest(con, shared_data / LEGACY)
    first = snapshot(con)
    report = ingest(con, shared_data / LEGACY)
    assert report.replaced_rows == 1281
    assert snapshot(con)[:3] == first[:3]
    assert con.execute("SELECT count(DISTINCT x_IngestId) FROM costs").fetchone() == (1,)


# ---------------------------------------------------------------------------------------------
# koku header variants
# ---------------------------------------------------------------------------------------------


def test_nok_file_needs_an_fx_rate(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / KOKU / "2023-06-01.csv"
    with pytest.raises(IngestError, match="NOK") as info:
        ingest(con, path)
    assert info.value.column == "lineItem/CurrencyCode"
    assert snapshot(con)[0] == 0
    report = ingest(con, path, config=Config(fx_rates={"NOK": Decimal("0.093")}))
    rows = _csv_rows(path)
    assert report.rows == len(rows) == 3
    got = con.execute(
        "SELECT BillingCurrency, sum(BilledCost), sum(EffectiveCost), "
        "any_value(CommitmentDiscountStatus) FROM costs GROUP BY 1"
    ).fetchall()
    billed = sum(Decimal(r["lineItem/UnblendedCost"]) for r in rows)
    effective = sum(Decimal(r["savingsPlan/SavingsPlanEffectiveCost"]) for r in rows)
    assert got == [("NOK", billed, effective, None)]  # SavingsPlanArn is empty in this file
    assert effective == Decimal("0.3")


def test_empty_frame_gives_no_rows_and_a_warning(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    report = ingest(con, shared_data / KOKU / "empty_frame.csv")
    assert report.rows == 0
    assert any("no billing rows" in w for w in report.warnings)
    assert snapshot(con)[0] == 0


def test_athena_style_csv_alt_columns(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    ingest(con, shared_data / KOKU / "2022-07-01-alt-columns.csv")
    row = con.execute(
        "SELECT count(*), any_value(PublisherName), any_value(Tags), any_value(SkuPriceId) "
        "FROM costs"
    ).fetchone()
    assert row is not None
    assert row[:2] == (2, "Red Hat, Inc.")
    assert json.loads(row[2]) == {"aws:created_by": "IAMUser:fake:and"}
    assert row[3] == "52KUDV3HNNAWJGTF.4799GE89SK.6YS6EN2CT7"


def test_ragged_csv_fails_cleanly(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    """koku's test_cur.csv has 131 header names but 130 fields per row (a missing comma)."""
    path = shared_data / KOKU / "test_cur.csv"
    with pytest.raises(IngestError) as info:
        ingest(con, path)
    assert info.value.file == str(path)
    assert snapshot(con)[0] == 0


# ---------------------------------------------------------------------------------------------
# Athena-style parquet (workshop CUR)
# ---------------------------------------------------------------------------------------------


def test_workshop_parquet_totals_per_account(
    workshop: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    table = pq.read_table(
        shared_data / WORKSHOP,
        columns=["line_item_usage_account_id", "line_item_unblended_cost"],
    )
    sums = table.group_by("line_item_usage_account_id").aggregate(
        [("line_item_unblended_cost", "sum")]
    )
    expected = {
        a: _decimal(s)
        for a, s in zip(
            sums["line_item_usage_account_id"].to_pylist(),
            sums["line_item_unblended_cost_sum"].to_pylist(),
            strict=True,
        )
    }
    got = dict(
        workshop.execute(
            "SELECT SubAccountId, sum(BilledCost) FROM costs "
            "WHERE BillingPeriodStart = TIMESTAMP '2018-10-01' GROUP BY 1"
        ).fetchall()
    )
    assert got.keys() == expected.keys() and len(got) == 2
    for account, total in expected.items():
        assert abs(got[account] - total) < TOLERANCE
    grand = sum(got.values(), Decimal(0))
    assert grand.quantize(Decimal("0.0001")) == Decimal("4064.4831")
    assert workshop.execute("SELECT count(*) FROM costs").fetchone() == (table.num_rows,)


def test_workshop_effective_cost_is_ri_aware(
    workshop: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    t = pq.read_table(shared_data / WORKSHOP)
    kind = t["line_item_line_item_type"]

    def total(line_type: str, *columns: str) -> Decimal:
        rows = t.filter(pc.equal(kind, line_type))
        return sum((_decimal(pc.sum(rows[c]).as_py()) for c in columns), Decimal(0))

    expected = {
        "Usage": total("Usage", "line_item_unblended_cost"),
        "DiscountedUsage": total("DiscountedUsage", "reservation_effective_cost"),
        "RIFee": total(
            "RIFee",
            "reservation_unused_amortized_upfront_fee_for_billing_period",
            "reservation_unused_recurring_fee",
        ),
    }
    got = dict(
        workshop.execute(
            "SELECT CASE WHEN ChargeCategory = 'Purchase' THEN 'RIFee' "
            "WHEN CommitmentDiscountStatus = 'Used' THEN 'DiscountedUsage' ELSE 'Usage' END, "
            "sum(EffectiveCost) FROM costs GROUP BY 1"
        ).fetchall()
    )
    for line_type, value in expected.items():
        assert abs(got[line_type] - value) < TOLERANCE, line_type


def test_workshop_charge_category_of_fee_and_usage_lines(
    workshop: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    kinds = pq.read_table(shared_data / WORKSHOP, columns=["line_item_line_item_type"])
    counts = {
        v["values"]: v["counts"]
        for v in pc.value_counts(kinds["line_item_line_item_type"]).to_pylist()
    }
    got = dict(workshop.execute("SELECT ChargeCategory, count(*) FROM costs GROUP BY 1").fetchall())
    assert got == {
        "Purchase": counts["RIFee"],
        "Usage": counts["Usage"] + counts["DiscountedUsage"],
    }
    fee = workshop.execute(
        "SELECT ChargeCategory, ChargeFrequency, CommitmentDiscountType, BilledCost, "
        "EffectiveCost, PricingQuantity FROM costs WHERE ChargeDescription = "
        "'USD 0.03 hourly fee per Linux/UNIX (Amazon VPC), c4.large instance'"
    ).fetchall()
    assert fee == [
        ("Purchase", "Recurring", "Reserved Instances (RI)", Decimal("22.32"),
         Decimal("22.3369863") + Decimal("22.32"), Decimal(744)),
    ]  # fmt: skip


def test_workshop_tags_carry_user_tags(
    workshop: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    columns = {
        "cost_center": "resource_tags_user_cost_center",
        "department": "resource_tags_user_department",
        "environment": "resource_tags_user_environment",
    }
    t = pq.read_table(shared_data / WORKSHOP, columns=list(columns.values()))
    for key, column in columns.items():
        expected = {
            v["values"]: v["counts"] for v in pc.value_counts(t[column]).to_pylist() if v["values"]
        }
        got = dict(
            workshop.execute(
                f"SELECT Tags->>'$.{key}', count(*) FROM costs "
                f"WHERE Tags->>'$.{key}' IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        assert got == expected, key
    keys = {
        k
        for (k,) in workshop.execute(
            "SELECT DISTINCT unnest(json_keys(Tags)) FROM costs WHERE Tags IS NOT NULL"
        ).fetchall()
    }
    assert {"cost_center", "department", "environment", "aws:created_by"} <= keys
    assert not any(k.startswith("user") for k in keys)


# ---------------------------------------------------------------------------------------------
# CUR 2.0
# ---------------------------------------------------------------------------------------------


def _expected_cur2() -> dict[str, Decimal]:
    billed: dict[str, Decimal] = {}
    for r in _CUR2_ROWS:
        value = r.get("net") if r.get("net") is not None else r["cost"]
        assert isinstance(value, float)
        acct = str(r["acct"])
        billed[acct] = billed.get(acct, Decimal(0)) + _decimal(value)
    return billed


@pytest.mark.parametrize("fixture", ["cur2_parquet", "cur2_csv"])
def test_cur2_maps_columns(
    con: duckdb.DuckDBPyConnection, request: pytest.FixtureRequest, fixture: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    report = ingest(con, path)
    assert report.rows == len(_CUR2_ROWS)
    got = dict(con.execute("SELECT SubAccountId, sum(BilledCost) FROM costs GROUP BY 1").fetchall())
    assert got == _expected_cur2()
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT ChargeDescription, ChargeCategory, ChargeClass, EffectiveCost, "
            "CommitmentDiscountCategory, ServiceName, RegionId, ServiceCategory, ListCost "
            "FROM costs"
        ).fetchall()
    }
    ec2 = "Amazon Elastic Compute Cloud"
    d = Decimal
    assert rows["SavingsPlanCoveredUsage line"] == (
        "Usage",
        None,
        d("0.05"),
        "Spend",
        ec2,
        "us-east-1",
        "Compute",
        d("0.0832"),
    )
    assert rows["SavingsPlanNegation line"][:4] == ("Usage", None, d(0), "Spend")
    assert rows["SavingsPlanNegation line"][-1] == d(0)
    assert rows["SavingsPlanRecurringFee line"][:4] == ("Purchase", None, d(6), "Spend")
    assert rows["Tax line"][:3] == ("Tax", None, d("3.5"))
    assert rows["Credit line"][:3] == ("Credit", None, d(-5))
    assert rows["Refund line"][:3] == ("Adjustment", "Correction", d("-1.25"))
    assert rows["Credit line"][4] == "AmazonEC2"  # no product name: product code
    s3 = con.execute(
        "SELECT BilledCost, EffectiveCost, ContractedCost, RegionId, Tags, SubAccountName, "
        "BillingAccountName, ConsumedQuantity, ConsumedUnit FROM costs "
        "WHERE SubAccountId = '777788889999'"
    ).fetchone()
    assert s3 == (d("1.9"), d("1.9"), d("1.9"), "eu-west-1", '{"cost_center":"CC-7"}',
                  "acct-777788889999", "acme-payer", d("87.5"), "GB-Mo")  # fmt: skip
    ec2_tags = con.execute(
        "SELECT Tags FROM costs WHERE ChargeDescription LIKE 'Usage line' AND SubAccountId = "
        "'444455556666'"
    ).fetchone()
    assert ec2_tags is not None
    assert json.loads(ec2_tags[0]) == {"cost_center": "CC-42", "team": "ml",
                                        "aws:created_by": "IAMUser:bob"}  # fmt: skip
    covered = con.execute(
        "SELECT Tags FROM costs WHERE ChargeDescription = 'SavingsPlanCoveredUsage line'"
    ).fetchone()
    assert covered == ('{"team":"ml"}',)  # the empty tag value is dropped


def test_cur2_bad_tag_json_names_row(con: duckdb.DuckDBPyConnection, cur2_csv: Path) -> None:
    bad = _rewrite(cur2_csv, cur2_csv.with_name("bad.csv"), 3, "resource_tags", "{oops")
    with pytest.raises(IngestError) as info:
        ingest(con, bad)
    assert (info.value.row, info.value.column) == (3, "resource_tags")
    assert snapshot(con)[0] == 0


# ---------------------------------------------------------------------------------------------
# Detection and helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("known_formats")
def test_detection_picks_aws_cur_for_all_shapes(
    con: duckdb.DuckDBPyConnection, shared_data: Path, cur2_parquet: Path, cur2_csv: Path
) -> None:
    paths = [
        shared_data / LEGACY,
        shared_data / WORKSHOP,
        shared_data / KOKU / "2022-07-01-alt-columns.csv",
        shared_data / KOKU / "2023-06-01.csv",
        shared_data / KOKU / "empty_frame.csv",
        cur2_parquet,
        cur2_csv,
    ]
    for path in paths:
        assert detect_format(LocalFile(path, str(path))) == "aws-cur", path.name
    focus = shared_data / "focus" / "focus_sample_1000.csv"
    assert detect_format(LocalFile(focus, str(focus))) == "focus"
    report = ingest_auto(con, cur2_parquet, shared_data / LEGACY)
    assert [f.format for f in report.files] == ["aws-cur", "aws-cur"]


def test_column_spellings_share_one_key() -> None:
    assert column_key("lineItem/UnblendedCost") == column_key("line_item_unblended_cost")
    assert column_key("savingsPlan/SavingsPlanARN") == column_key("savings_plan_savings_plan_a_r_n")
    assert column_key("reservation/ReservationARN") == column_key("reservation_reservation_a_r_n")


def test_service_categories_are_focus_values(shared_data: Path) -> None:
    path = shared_data / "focus" / "focus_service_subcategories_v1.2.csv"
    allowed = {(r["ServiceCategory"], r["ServiceSubcategory"]) for r in _csv_rows(path)}
    assert set(_SERVICE_TABLE.values()) <= allowed
    assert service_category("AmazonS3") == ("Storage", "Object Storage")
    assert service_category("SomethingNew") == ("Other", "Other (Other)")
