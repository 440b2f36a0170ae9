"""FOCUS ingest: real sample totals, versions, parquet/gzip, idempotency, and bad inputs."""

from __future__ import annotations

import csv
import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest, snapshot
from warehouse.errors import IngestError
from warehouse.ingest import detect_format
from warehouse.ingest.base import LocalFile
from warehouse.schema import focus_names

SAMPLE = "focus/focus_sample_1000.csv"


def _csv_sums(path: Path) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sums[row["ProviderName"]] = sums.get(row["ProviderName"], Decimal(0)) + Decimal(
                row["BilledCost"]
            )
    return sums


def _rewrite(src: Path, dst: Path, row_index: int, column: str, value: str) -> Path:
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[row_index][rows[0].index(column)] = value
    with dst.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return dst


def test_sample_totals_match_source(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / SAMPLE
    report = ingest(con, path)
    expected = _csv_sums(path)
    got = dict(con.execute("SELECT ProviderName, sum(BilledCost) FROM costs GROUP BY 1").fetchall())
    assert got == expected
    assert sum(expected.values()) == Decimal("20.5202267289900")
    assert report.rows == 1000
    assert sum(t.billed_cost for t in report.totals) == sum(expected.values())
    assert any("Id" in w for w in report.warnings)


def test_nulls_timestamps_and_provenance(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    ingest(con, shared_data / SAMPLE, source="sample")
    row = con.execute(
        "SELECT ChargePeriodStart, AvailabilityZone, typeof(BilledCost), "
        "typeof(ChargePeriodStart), x_SourceName, x_SourceFile, InvoiceId FROM costs "
        "WHERE ResourceId = 'arn:ats:sqs:us-test-2:347410479675:mibelllmel-i-032l64f2065481b12' "
        "ORDER BY ChargePeriodStart LIMIT 1"
    ).fetchone()
    assert row is not None
    assert str(row[0]) == "2024-09-18 22:00:00"
    assert row[1] is None
    assert row[2] == "DECIMAL(38,12)" and row[3] == "TIMESTAMP"
    assert row[4] == "sample" and row[5].endswith("focus_sample_1000.csv")
    assert row[6] is None  # a 1.2 column absent from a 1.0 file is NULL


def test_reingest_replaces_instead_of_duplicating(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    ingest(con, shared_data / SAMPLE)
    first = snapshot(con)
    report = ingest(con, shared_data / SAMPLE)
    assert report.replaced_rows == 1000
    assert snapshot(con)[:3] == first[:3]
    assert con.execute("SELECT count(DISTINCT x_IngestId) FROM costs").fetchone() == (1,)


def test_restated_period_replaces_only_that_period(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / SAMPLE)
    restated = tmp_path / "restated.csv"
    with (shared_data / SAMPLE).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    start, provider = rows[0].index("BillingPeriodStart"), rows[0].index("ProviderName")
    aws = [r for r in rows[1:] if r[start].startswith("2024-09") and r[provider] == "AWS"]
    with restated.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([rows[0], *aws[:10]])
    ingest(con, restated)
    counts = dict(
        con.execute(
            "SELECT ProviderName || ' ' || CAST(BillingPeriodStart AS DATE)::VARCHAR, count(*) "
            "FROM costs GROUP BY 1"
        ).fetchall()
    )
    # the AWS account's September is restated; the other providers' rows are not its export
    assert counts == {
        "AWS 2024-09-01": 10,
        "Microsoft 2024-09-01": 51,
        "Oracle 2024-09-01": 6,
        "Oracle 2024-10-01": 1,
    }


def test_other_source_is_not_replaced(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    ingest(con, shared_data / SAMPLE, source="a")
    ingest(con, shared_data / SAMPLE, source="b")
    assert con.execute("SELECT count(*) FROM costs").fetchone() == (2000,)


def test_parquet_and_gzip_give_identical_rows(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    gz = tmp_path / "sample.csv.gz"
    with (shared_data / SAMPLE).open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    ingest(con, gz, source="gz")
    parquet = tmp_path / "sample.parquet"
    con.execute(
        "COPY (SELECT * EXCLUDE (x_SourceName, x_SourceFile, x_IngestedAt, x_IngestId) FROM costs) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    assert detect_format(LocalFile(parquet, str(parquet))) == "focus"
    ingest(con, parquet, source="pq")
    diff = con.execute(
        "SELECT count(*) FROM (SELECT * EXCLUDE (x_SourceName, x_SourceFile, x_IngestedAt, "
        "x_IngestId) FROM costs WHERE x_SourceName = 'gz' EXCEPT ALL SELECT * EXCLUDE "
        "(x_SourceName, x_SourceFile, x_IngestedAt, x_IngestId) FROM costs "
        "WHERE x_SourceName = 'pq')"
    ).fetchone()
    assert diff == (0,)


def test_focus_12_parquet_with_tz_timestamps(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    names = focus_names()
    row = {n: None for n in names}
    row.update(
        BilledCost="1.5",
        EffectiveCost="1.25",
        ListCost="2",
        ContractedCost="1.5",
        BillingAccountId="acct",
        BillingCurrency="eur",
        ChargeCategory="Usage",
        InvoiceIssuerName="X",
        ProviderName="X",
        PublisherName="X",
        ServiceCategory="Compute",
        ServiceName="VM",
        InvoiceId="INV-1",
        Tags='{"team": "a"}',
    )
    table = pa.table(
        {
            k: pa.array([v], type=pa.string())
            for k, v in row.items()
            if k
            not in (
                "BillingPeriodStart",
                "BillingPeriodEnd",
                "ChargePeriodStart",
                "ChargePeriodEnd",
            )
        }
    )
    for ts_col, value in [
        ("BillingPeriodStart", "2026-10-01T00:00:00+00:00"),
        ("BillingPeriodEnd", "2026-11-01T00:00:00+00:00"),
        ("ChargePeriodStart", "2026-10-05T02:00:00+02:00"),
        ("ChargePeriodEnd", "2026-10-05T03:00:00+02:00"),
    ]:
        arr = pa.array([value]).cast(pa.timestamp("us", tz="UTC"))
        table = table.append_column(ts_col, arr)
    path = tmp_path / "v12.parquet"
    pq.write_table(table, path)
    ingest(con, path, config=Config(reporting_currency="EUR"))
    got = con.execute(
        "SELECT ChargePeriodStart, BillingCurrency, InvoiceId, Tags->>'$.team' FROM costs"
    ).fetchone()
    assert got is not None
    assert str(got[0]) == "2026-10-05 00:00:00"
    assert got[1:] == ("EUR", "INV-1", "a")


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("all_fail.csv", "no source for mandatory FOCUS column(s) BilledCost"),
        ("multiple_failure_examples.csv", "no source for mandatory FOCUS column(s)"),
        ("fail_invoice_issuer.csv", "BillingAccountId"),
        ("billedCostTest.csv", "billedCostTest.csv"),
        ("sample.parquet", "no source for mandatory"),
    ],
)
def test_validator_failing_samples_leave_warehouse_unchanged(
    con: duckdb.DuckDBPyConnection, shared_data: Path, sample: str, expected: str
) -> None:
    ingest(con, shared_data / SAMPLE)
    before = snapshot(con)
    with pytest.raises(IngestError) as err:
        ingest(con, shared_data / "focus" / "validator" / "samples" / sample, fmt="focus")
    assert expected in str(err.value)
    assert sample in str(err.value)
    assert snapshot(con) == before


def test_wrong_type_names_file_row_and_column(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    ingest(con, shared_data / SAMPLE)
    before = snapshot(con)
    bad = _rewrite(shared_data / SAMPLE, tmp_path / "bad.csv", 734, "BilledCost", "12,5x")
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    e = err.value
    assert (e.file, e.row, e.column) == (str(bad), 734, "BilledCost")
    assert "'12,5x'" in str(e) and "decimal" in str(e)
    assert snapshot(con) == before


def test_bad_timestamp_is_located(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(shared_data / SAMPLE, tmp_path / "bad.csv", 12, "ChargePeriodStart", "yesterday")
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    assert (err.value.row, err.value.column) == (12, "ChargePeriodStart")
    assert snapshot(con)[0] == 0


def test_missing_required_value_is_located(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(shared_data / SAMPLE, tmp_path / "bad.csv", 500, "BillingCurrency", "NULL")
    with pytest.raises(
        IngestError, match="missing value for mandatory FOCUS column BillingCurrency"
    ):
        ingest(con, bad)
    assert snapshot(con)[0] == 0


def test_unknown_currency(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    bad = _rewrite(shared_data / SAMPLE, tmp_path / "bad.csv", 42, "BillingCurrency", "XYZ")
    with pytest.raises(IngestError) as err:
        ingest(con, bad)
    assert "unknown currency 'XYZ'" in str(err.value)
    assert err.value.row == 42
    assert snapshot(con)[0] == 0


def test_mixed_currencies_need_a_rate(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    mixed = _rewrite(shared_data / SAMPLE, tmp_path / "mixed.csv", 7, "BillingCurrency", "EUR")
    with pytest.raises(
        IngestError, match=r"mixed currencies EUR/USD without a rate.*fx_rates\.EUR"
    ):
        ingest(con, mixed)
    assert snapshot(con)[0] == 0
    ingest(con, mixed, config=Config(fx_rates={"EUR": Decimal("1.1")}))
    assert con.execute("SELECT count(*) FROM costs WHERE BillingCurrency = 'EUR'").fetchone() == (
        1,
    )


def test_truncated_gzip(con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path) -> None:
    gz = tmp_path / "cut.csv.gz"
    data = gzip.compress((shared_data / SAMPLE).read_bytes())
    gz.write_bytes(data[: len(data) // 2])
    ingest(con, shared_data / SAMPLE)
    before = snapshot(con)
    with pytest.raises(IngestError) as err:
        ingest(con, gz, fmt="focus")
    assert "cut.csv.gz" in str(err.value)
    assert snapshot(con) == before


def test_one_bad_file_rolls_back_the_whole_ingest(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path
) -> None:
    _rewrite(shared_data / SAMPLE, tmp_path / "z_bad.csv", 3, "EffectiveCost", "oops")
    good = tmp_path / "a_good.csv"
    good.write_bytes((shared_data / SAMPLE).read_bytes())
    with pytest.raises(IngestError, match=r"z_bad\.csv"):
        ingest(con, tmp_path)
    assert snapshot(con) == (0, None, None, 0)


def test_ragged_row_is_rejected(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    header = ",".join(focus_names())
    path.write_text(header + "\n1,2\n")
    with pytest.raises(IngestError, match=r"ragged\.csv") as err:
        ingest(con, path, fmt="focus")
    assert "\n" not in str(err.value)
    assert snapshot(con)[0] == 0


def test_missing_path_and_undetectable_format(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(IngestError, match="no such file"):
        ingest(con, tmp_path / "nope.csv")
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(IngestError, match="cannot detect the billing format"):
        ingest(con, odd)
    with pytest.raises(IngestError, match="unknown format 'bogus'"):
        ingest(con, odd, fmt="bogus")
