"""Azure cost exports: real EA/MCA/PAYG files, header variants, dates, tags, and bad inputs.

Expected totals are computed here from the source CSVs with the csv module (each value rounded to
the warehouse's 12 decimals), independently of the connector's SQL.
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest, snapshot
from warehouse.errors import IngestError
from warehouse.ingest import detect_format
from warehouse.ingest.base import LocalFile

EA_SAMPLE = "focus-converters/azure_ea_export_sample_anonymized.csv"
ACTUAL = "azure/azure-exports/EA_ActualCost_Small.csv"
AMORTIZED = "azure/azure-exports/EA_AmortizedCost_Small.csv"
HEADERSETS = "azure/opencost-headersets/azure-billingexports"
CAD = Config(reporting_currency="CAD")


def _q12(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("1e-12"), ROUND_HALF_UP)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _covered(row: dict[str, str]) -> bool:
    """Commitment-covered usage and unused commitment: billed through the purchase."""
    charge = row["ChargeType"].lower()
    return charge in ("unusedreservation", "unusedsavingsplan") or (
        row["PricingModel"].lower() in ("reservation", "savingsplan") and charge == "usage"
    )


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def _rewrite(src: Path, dst: Path, row: int, column: str, value: str) -> Path:
    with src.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    rows[row][rows[0].index(column)] = value
    return _write(dst, rows[0], rows[1:])


def _totals(con: duckdb.DuckDBPyConnection) -> tuple[Decimal, Decimal]:
    row = con.execute("SELECT sum(BilledCost), sum(EffectiveCost) FROM costs").fetchone()
    assert row is not None
    return row[0], row[1]


def test_ea_sample_totals_dates_and_lookups(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / EA_SAMPLE
    report = ingest(con, path, config=CAD)
    rows = _rows(path)
    expected = sum((_q12(r["CostInBillingCurrency"]) for r in rows), Decimal(0))
    assert report.rows == len(rows) == 27
    assert _totals(con) == (expected, expected)
    assert report.warnings == []
    got = con.execute(
        "SELECT DISTINCT ChargePeriodStart::VARCHAR, ChargePeriodEnd::VARCHAR, "
        "BillingPeriodStart::VARCHAR, BillingPeriodEnd::VARCHAR, BillingCurrency, ProviderName, "
        "InvoiceIssuerName, BillingAccountId FROM costs"
    ).fetchall()
    assert got == [
        ("2023-09-02 00:00:00", "2023-09-03 00:00:00", "2023-09-01 00:00:00",
         "2023-10-01 00:00:00", "CAD", "Microsoft", "Microsoft", "12345678"),
    ]  # fmt: skip
    row = con.execute(
        "SELECT RegionId, RegionName, ServiceName, ServiceCategory, Tags->>'$.tagB', "
        "PricingCategory FROM costs WHERE SubAccountId = '160e39bb-db42-463e-8572-999999999999'"
    ).fetchone()
    assert row == ("centralus", "Central US", "Event Hubs", "Integration", "valueB", "Standard")


def test_actual_cost_export(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / ACTUAL
    ingest(con, path)
    rows = _rows(path)
    expected = sum((_q12(r["Cost"]) for r in rows), Decimal(0))
    assert _totals(con) == (expected, expected)
    assert expected == Decimal("8.545007786742")
    purchase = con.execute(
        "SELECT ChargeCategory, ChargeFrequency, CommitmentDiscountType, "
        "CommitmentDiscountCategory, CommitmentDiscountStatus, BilledCost, ServiceName "
        "FROM costs WHERE ChargeCategory = 'Purchase'"
    ).fetchall()
    assert purchase == [
        ("Purchase", "Recurring", "Reservation", "Usage", None, Decimal("3.25"),
         "Azure Reservations"),
    ]  # fmt: skip
    storage = con.execute(
        "SELECT SubAccountId, ServiceName, ServiceCategory, ResourceName, Tags->>'$.env', "
        "PricingQuantity, PricingUnit, ListUnitPrice, ListCost FROM costs "
        "WHERE ChargeDescription LIKE 'Tiered Block Blob - GRS - List%'"
    ).fetchone()
    assert storage == (
        "ed570627-0265-4620-bb42-bae06bcfa914", "Storage Accounts", "Storage",
        "dbstoragewp6hglwvvrad2", "prod", Decimal(4), "Units", Decimal("0.00001"),
        Decimal("0.00004"),
    )  # fmt: skip


def test_amortized_export_bills_only_uncovered_rows(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / AMORTIZED
    ingest(con, path)
    rows = _rows(path)
    billed = sum((_q12(r["Cost"]) for r in rows if not _covered(r)), Decimal(0))
    effective = sum((_q12(r["Cost"]) for r in rows), Decimal(0))
    assert sum(_covered(r) for r in rows) == 2
    assert _totals(con) == (billed, effective)
    covered = con.execute(
        "SELECT BilledCost, EffectiveCost, CommitmentDiscountType, CommitmentDiscountStatus, "
        "PricingCategory FROM costs WHERE CommitmentDiscountId IS NOT NULL ORDER BY 2 DESC"
    ).fetchall()
    assert covered == [
        (Decimal(0), Decimal("0.493152"), "Reservation", "Used", "Committed"),
        (Decimal(0), Decimal("0.006000000468"), "Savings Plan", "Used", "Committed"),
    ]


@pytest.mark.parametrize(
    "relative",
    [
        EA_SAMPLE,
        ACTUAL,
        AMORTIZED,
        "azure/koku-variants/azure_camelCased.csv",
        "azure/koku-variants/azure_version_2.csv",
        "azure/koku-variants/camel_azure_version_2.csv",
        "azure/koku-variants/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv",
        "azure/koku-variants/empty_frame.csv",
        f"{HEADERSETS}/headersets/BOM.csv",
        f"{HEADERSETS}/headersets/Enterprise.csv",
        f"{HEADERSETS}/headersets/EnterpriseCamel.csv",
        f"{HEADERSETS}/headersets/German.csv",
        f"{HEADERSETS}/headersets/PayAsYouGo.csv",
        f"{HEADERSETS}/headersets/YA.csv",
        f"{HEADERSETS}/values/MissingBrackets.csv",
        f"{HEADERSETS}/values/Template.csv",
        f"{HEADERSETS}/values/VirtualMachine.csv",
    ],
)
def test_every_header_variant_is_detected(shared_data: Path, relative: str) -> None:
    path = shared_data / relative
    assert detect_format(LocalFile(path, str(path))) == "azure"


@pytest.mark.parametrize(
    ("relative", "subscription", "date", "service"),
    [
        ("azure/koku-variants/azure_camelCased.csv", "2639de71-ca37-4a17-a104-17665a50e7fc",
         "2019-07-28 00:00:00", "Virtual Machines"),
        ("azure/koku-variants/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv",
         "0039de71-ca37-4a17-a104-17665a50e7fc", "2019-07-28 00:00:00", "Virtual Machines"),
        (f"{HEADERSETS}/headersets/German.csv", "11111111-12ab-34dc-56ef-123456abcdef",
         "2021-02-02 00:00:00", "Load Balancer"),
        (f"{HEADERSETS}/headersets/PayAsYouGo.csv", "11111111-12ab-34dc-56ef-123456abcdef",
         "2021-02-02 00:00:00", "Load Balancer"),
        (f"{HEADERSETS}/headersets/YA.csv", "11111111-12ab-34dc-56ef-123456abcdef",
         "2021-02-02 00:00:00", "Load Balancer"),
        (f"{HEADERSETS}/headersets/EnterpriseCamel.csv", "11111111-1111-1111-1111-123456789012",
         "2021-02-02 00:00:00", "Storage Accounts"),
    ],
)  # fmt: skip
def test_header_variants_map_the_same_fields(
    con: duckdb.DuckDBPyConnection,
    shared_data: Path,
    relative: str,
    subscription: str,
    date: str,
    service: str,
) -> None:
    path = shared_data / relative
    rows = _rows(path)
    cost_column = next(c for c in rows[0] if c.lower().split(" (")[0] in (
        "pretaxcost", "costinbillingcurrency"))  # fmt: skip
    ingest(con, path, fmt="azure")
    got = con.execute(
        "SELECT SubAccountId, min(ChargePeriodStart)::VARCHAR, sum(BilledCost), "
        "any_value(BillingPeriodStart)::VARCHAR FROM costs GROUP BY 1 ORDER BY 1 LIMIT 1"
    ).fetchone()
    assert got is not None
    assert got[:3] == (subscription, date, sum((_q12(r[cost_column]) for r in rows), Decimal(0)))
    assert got[3] == date[:8] + "01 00:00:00"
    names = {r[0] for r in con.execute("SELECT ServiceName FROM costs").fetchall()}
    assert service in names


def test_day_first_dates_are_detected_per_file(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    rows = _rows(shared_data / ACTUAL)
    header = list(rows[0])
    swapped = []
    for r in rows:
        for column in ("Date", "BillingPeriodStartDate", "BillingPeriodEndDate"):
            month, day, year = r[column].split("/")
            r[column] = f"{day}/{month}/{year}"
        swapped.append([r[c] for c in header])
    path = _write(tmp_path / "dmy.csv", header, swapped)
    ingest(con, path)
    got = con.execute(
        "SELECT min(ChargePeriodStart)::VARCHAR, max(ChargePeriodStart)::VARCHAR, "
        "any_value(BillingPeriodEnd)::VARCHAR FROM costs"
    ).fetchone()
    assert got == ("2023-09-04 00:00:00", "2023-09-21 00:00:00", "2023-10-01 00:00:00")


def test_localised_headers_without_english_names_are_refused(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / HEADERSETS / "headersets" / "German.csv"
    with source.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    header = [h.split(" (")[0] for h in rows[0]]
    header[header.index("PreTaxCost")] = "Kosten"
    header[header.index("UsageDateTime")] = "Datum"
    path = _write(tmp_path / "deutsch.csv", header, rows[1:])
    with pytest.raises(IngestError, match="cannot detect the billing format"):
        detect_format(LocalFile(path, str(path)))
    with pytest.raises(IngestError, match=r"no column for cost: one of .*pretaxcost"):
        ingest(con, path, fmt="azure")
    assert snapshot(con)[0] == 0


def test_tags_without_braces_are_wrapped(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / HEADERSETS / "values" / "MissingBrackets.csv"
    rows = _rows(source)
    header = [*rows[0], "Currency"]
    path = _write(tmp_path / "brackets.csv", header, [[*r.values(), "USD"] for r in rows])
    report = ingest(con, path)
    assert not any("malformed tag" in w for w in report.warnings)
    got = con.execute(
        "SELECT Tags->>'$.resourceNameSuffix', Tags->>'$.creationSource', BillingAccountId, "
        "ListCost FROM costs"
    ).fetchone()
    assert got == (
        "12345678", "aks-aks-nodepool1-12345678-vmss", "11111111-12ab-34dc-56ef-123456abcdef",
        Decimal(5),
    )  # fmt: skip


def test_missing_currency_column_is_a_clear_error(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    ingest(con, shared_data / ACTUAL)
    before = snapshot(con)
    path = shared_data / HEADERSETS / "values" / "MissingBrackets.csv"
    with pytest.raises(IngestError, match="no column for currency") as err:
        ingest(con, path)
    assert "MissingBrackets.csv" in str(err.value)
    assert snapshot(con) == before


def test_malformed_tags_keep_the_row_and_warn(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(shared_data / ACTUAL, tmp_path / "bad_tags.csv", 3, "Tags", '"a": "b", "c"')
    report = ingest(con, bad)
    assert report.rows == 11
    assert len(report.warnings) == 1
    assert "1 row(s) with malformed tag JSON in column Tags (first at row 3)" in report.warnings[0]
    expected = sum((_q12(r["Cost"]) for r in _rows(shared_data / ACTUAL)), Decimal(0))
    assert _totals(con)[0] == expected
    tagged = con.execute(
        "SELECT count(*) FILTER (WHERE Tags IS NULL), count(*) FILTER (WHERE Tags IS NOT NULL) "
        "FROM costs"
    ).fetchone()
    source_tagged = sum(1 for r in _rows(shared_data / ACTUAL) if r["Tags"])
    assert tagged == (11 - source_tagged + 1, source_tagged - 1)


def test_refund_is_a_purchase_correction(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    path = _rewrite(shared_data / ACTUAL, tmp_path / "refund.csv", 1, "ChargeType", "Refund")
    ingest(con, path)
    got = con.execute(
        "SELECT ChargeCategory, ChargeClass FROM costs WHERE CommitmentDiscountId IS NOT NULL"
    ).fetchall()
    assert got == [("Purchase", "Correction")]


def test_non_numeric_cost_names_file_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / EA_SAMPLE, config=CAD)
    before = snapshot(con)
    bad = _rewrite(shared_data / ACTUAL, tmp_path / "bad_cost.csv", 7, "Cost", "12,5x")
    with pytest.raises(IngestError) as err:
        ingest(con, bad, config=CAD)
    assert (err.value.file, err.value.row, err.value.column) == (str(bad), 7, "Cost")
    assert "'12,5x'" in str(err.value) and "decimal" in str(err.value)
    assert snapshot(con) == before


def test_bad_date_names_file_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(shared_data / ACTUAL, tmp_path / "bad_date.csv", 5, "Date", "09/31/2023")
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    assert (err.value.row, err.value.column) == (5, "Date")
    assert "%m/%d/%Y" in str(err.value)
    assert snapshot(con)[0] == 0


def test_empty_frame_adds_no_rows(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    ingest(con, shared_data / ACTUAL)
    before = snapshot(con)
    report = ingest(con, shared_data / "azure" / "koku-variants" / "empty_frame.csv")
    assert report.rows == 0
    assert any("no billing rows" in w for w in report.warnings)
    assert snapshot(con)[:3] == before[:3]


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (f"{HEADERSETS}/headersets/BOM.csv",
         "row 1, column PreTaxCost: missing value for mandatory FOCUS column BilledCost"),
        (f"{HEADERSETS}/values/Template.csv", "Template.csv"),
        ("azure/koku-variants/azure_version_2.csv", "unknown currency 'MC'"),
    ],
)  # fmt: skip
def test_bad_real_files_leave_the_warehouse_unchanged(
    con: duckdb.DuckDBPyConnection, shared_data: Path, relative: str, expected: str
) -> None:
    ingest(con, shared_data / ACTUAL)
    before = snapshot(con)
    with pytest.raises(IngestError, match=expected):
        ingest(con, shared_data / relative)
    assert snapshot(con) == before


def test_mca_export_uses_the_billing_profile(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "azure" / "koku-variants" / "camel_azure_version_2.csv"
    rows = _rows(source)
    # The koku file mixes CRLF and LF line ends, which the shared CSV loader's strict mode
    # rejects; the same rows with uniform line ends are a well-formed MCA export.
    path = _write(tmp_path / "mca.csv", list(rows[0]), [list(r.values()) for r in rows])
    ingest(con, path)
    expected = sum((_q12(r["costInBillingCurrency"]) for r in rows), Decimal(0))
    got = con.execute(
        "SELECT DISTINCT BillingAccountId, BillingAccountName, BillingPeriodStart::VARCHAR, "
        "SubAccountId, PublisherName FROM costs"
    ).fetchall()
    assert got == [
        ("NF5V-BI6B-BG7-PGB", "HCE R&D Content, Subscriptions & Insights (CC 734)",
         "2023-08-01 00:00:00", "2639de71-ca37-4a17-a104-17665a50e7fc", "Microsoft"),
    ]  # fmt: skip
    assert _totals(con) == (expected, expected)
    assert con.execute("SELECT sum(ListCost) FROM costs").fetchone() == (expected,)
