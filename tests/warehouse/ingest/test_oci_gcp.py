"""OCI cost reports and Google Cloud billing exports: real totals, tags, detection, bad inputs.

Expected totals come from the source CSVs via the csv module (GCP credits parsed with
`ast.literal_eval`), each value rounded to the warehouse's 12 decimals.
"""

from __future__ import annotations

import ast
import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from tests.helpers.warehouse import ingest, snapshot
from warehouse.errors import IngestError
from warehouse.ingest import detect_format
from warehouse.ingest.base import LocalFile

OCI = "focus-converters/oci_cost_report_sample.csv"
AWS_CUR = "focus-converters/aws_cur_legacy_sample_anonymized.csv"
GCP_2020 = "gcp/gcp_billing_export_2020-11-08_2020-11-11.csv"
GCP_2022 = "gcp/gcp_billing_export_2022-08-01.csv"


def _q12(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("1e-12"), ROUND_HALF_UP)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _rewrite(src: Path, dst: Path, edits: dict[tuple[int, str], str]) -> Path:
    with src.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    for (row, column), value in edits.items():
        rows[row][rows[0].index(column)] = value
    with dst.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return dst


def _header_only(src: Path, dst: Path) -> Path:
    with src.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh))
    with dst.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(header)
    return dst


def _one(con: duckdb.DuckDBPyConnection, query: str) -> tuple[object, ...]:
    row = con.execute(query).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize(
    ("relative", "fmt"),
    [(OCI, "oci"), (AWS_CUR, "aws-cur"), (GCP_2020, "gcp"), (GCP_2022, "gcp")],
)
def test_detection(shared_data: Path, relative: str, fmt: str) -> None:
    path = shared_data / relative
    assert detect_format(LocalFile(path, str(path))) == fmt


# --- OCI -----------------------------------------------------------------------------------------


def test_oci_totals_match_source(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / OCI
    report = ingest(con, path)
    rows = _rows(path)
    expected = sum((_q12(r["cost/myCost"]) for r in rows), Decimal(0))
    assert report.rows == len(rows) == 506
    assert _one(con, "SELECT sum(BilledCost), sum(EffectiveCost) FROM costs") == (
        expected,
        expected,
    )
    assert [w for w in report.warnings if "ListCost" in w] == [
        f"{path}: 506 row(s) without a value for mandatory FOCUS column ListCost (kept as NULL)"
    ]
    periods = con.execute(
        "SELECT DISTINCT BillingPeriodStart::VARCHAR, BillingPeriodEnd::VARCHAR, ProviderName "
        "FROM costs"
    ).fetchall()
    assert periods == [("2023-11-01 00:00:00", "2023-12-01 00:00:00", "Oracle")]


def test_oci_known_row_and_tags(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / OCI
    ingest(con, path)
    source = next(r for r in _rows(path) if r["lineItem/referenceNo"].startswith("7108a1f8"))
    got = _one(
        con,
        "SELECT SubAccountId, ServiceName, ServiceCategory, ResourceType, "
        "ChargePeriodStart::VARCHAR, Tags->>'$.\"Valtest.Cat\"', "
        "Tags->>'$.\"Oracle-Tags.CreatedBy\"', BilledCost FROM costs "
        "WHERE ResourceId LIKE 'ocid1.autonomousdatabase.%' AND ChargeDescription = "
        "'Oracle APEX Application Development' AND ChargePeriodStart = '2023-11-13 10:00:00'",
    )
    assert got == (
        source["lineItem/tenantId"], "DATABASE", "Databases", "autonomousdatabase",
        "2023-11-13 10:00:00", "boots", "default/phil.newman@oracle.com",
        _q12(source["cost/myCost"]),
    )  # fmt: skip
    tagged = sum(1 for r in _rows(path) if any(v for k, v in r.items() if k.startswith("tags/")))
    assert _one(con, "SELECT count(Tags) FROM costs") == (tagged,)


def test_oci_non_numeric_cost_names_file_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / GCP_2022)
    before = snapshot(con)
    bad = _rewrite(shared_data / OCI, tmp_path / "oci_bad.csv", {(321, "cost/myCost"): "n/a"})
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    assert (err.value.file, err.value.row, err.value.column) == (str(bad), 321, "cost/myCost")
    assert snapshot(con) == before


def test_oci_empty_frame(con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path) -> None:
    ingest(con, shared_data / OCI)
    before = snapshot(con)
    report = ingest(con, _header_only(shared_data / OCI, tmp_path / "oci_empty.csv"))
    assert report.rows == 0 and any("no billing rows" in w for w in report.warnings)
    assert snapshot(con)[:3] == before[:3]


# --- GCP -----------------------------------------------------------------------------------------


def _credits(text: str) -> Decimal:
    return sum((_q12(c["amount"]) for c in ast.literal_eval(text or "[]")), Decimal(0))


@pytest.mark.parametrize("relative", [GCP_2020, GCP_2022])
def test_gcp_totals_include_credits(
    con: duckdb.DuckDBPyConnection, shared_data: Path, relative: str
) -> None:
    path = shared_data / relative
    report = ingest(con, path)
    rows = _rows(path)
    cost = sum((_q12(r["cost"]) for r in rows), Decimal(0))
    credits = sum((_credits(r["credits"]) for r in rows), Decimal(0))
    assert report.rows == len(rows)
    totals = _one(con, "SELECT sum(BilledCost), sum(EffectiveCost), sum(ContractedCost) FROM costs")
    assert totals == (cost + credits, cost + credits, cost)
    assert cost > 0
    assert report.warnings == []


def test_gcp_credits_and_labels(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    ingest(con, shared_data / GCP_2020)
    assert _one(con, "SELECT sum(ContractedCost), sum(BilledCost) FROM costs") == (
        Decimal("0.000032"),
        Decimal(0),
    )
    labelled = con.execute(
        "SELECT Tags->>'$.\"goog-resource-type\"', count(*) FROM costs WHERE Tags IS NOT NULL "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert labelled == [("bigquery_dataset", 4), ("bigquery_project", 1), ("bigquery_resource", 5)]
    row = _one(
        con,
        "SELECT SubAccountId, SubAccountName, ServiceName, ServiceCategory, RegionId, "
        "BillingPeriodStart::VARCHAR, BillingPeriodEnd::VARCHAR FROM costs "
        "WHERE SkuId = '947D-3B46-7781' LIMIT 1",
    )
    assert row == (
        "billing-example-00000", "cloud-billing", "BigQuery", "Databases", "us",
        "2020-11-01 07:00:00", "2020-12-01 08:00:00",
    )  # fmt: skip


def test_gcp_json_lists_and_resource_names(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    path = _rewrite(
        shared_data / GCP_2022,
        tmp_path / "json_lists.csv",
        {
            (8, "credits"): '[{"name": "CUD", "amount": -1.5e-06, "type": "COMMITTED_USAGE"}]',
            (8, "labels"): '[{"key": "team", "value": "data"}, {"key": "env", "value": "dev"}]',
            (8, "project.labels"): '[{"key": "team", "value": "platform"}]',
        },
    )
    ingest(con, path)
    row = _one(
        con,
        "SELECT BilledCost, Tags->>'$.team', Tags->>'$.env', ResourceName, SubAccountId "
        "FROM costs WHERE Tags IS NOT NULL",
    )
    source = _rows(shared_data / GCP_2022)[7]
    assert row == (
        _q12(source["cost"]) - Decimal("0.0000015"), "data", "dev", "instance-1",
        "cloud-billing-292519",
    )  # fmt: skip


def test_gcp_malformed_credits_fail_with_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / OCI)
    before = snapshot(con)
    bad = _rewrite(
        shared_data / GCP_2020,
        tmp_path / "bad_credits.csv",
        {(12, "credits"): "[{'amount': None}]"},
    )
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    assert (err.value.file, err.value.row, err.value.column) == (str(bad), 12, "credits")
    assert "credits with numeric amounts" in str(err.value)
    assert snapshot(con) == before


def test_gcp_non_numeric_cost_names_file_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / GCP_2020)
    before = snapshot(con)
    bad = _rewrite(shared_data / GCP_2022, tmp_path / "bad_cost.csv", {(6, "cost"): "free"})
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    assert (err.value.row, err.value.column) == (6, "cost")
    assert snapshot(con) == before


def test_gcp_unreadable_labels_keep_the_row_and_warn(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(
        shared_data / GCP_2020, tmp_path / "bad_labels.csv", {(21, "labels"): "[{'key': 'a'"}
    )
    report = ingest(con, bad)
    assert report.rows == 25
    assert report.warnings == [
        f"{bad}: 1 row(s) with unreadable labels (first at row 21); kept with Tags NULL"
    ]
    assert _one(con, "SELECT count(Tags) FROM costs") == (10 - 1,)


def test_gcp_empty_frame_and_missing_columns(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / GCP_2022)
    before = snapshot(con)
    report = ingest(con, _header_only(shared_data / GCP_2020, tmp_path / "gcp_empty.csv"))
    assert report.rows == 0 and any("no billing rows" in w for w in report.warnings)
    assert snapshot(con)[:3] == before[:3]
    odd = tmp_path / "no_currency.csv"
    odd.write_text("billing_account_id,cost,usage_start_time,usage_end_time\nA,1,2024-01-01,x\n")
    with pytest.raises(IngestError, match="missing column"):
        ingest(con, odd, fmt="gcp")
    assert snapshot(con)[:3] == before[:3]
