"""Absurd values and decompression bombs are refused before commit, with one clear line; work
after a committed ingest (the forecast refresh) warns but never fails it."""

from __future__ import annotations

import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from tests.helpers.cli import run_cli
from tests.helpers.warehouse import ingest, snapshot
from tests.warehouse.ingest.focus_builder import focus_row, write_focus
from tools.forecast.store import refresh_after_ingest
from warehouse.errors import IngestError
from warehouse.ingest import detect_format
from warehouse.ingest.base import LocalFile

ABSURD = "60000000000000000000000000"


def _good(tmp_path: Path) -> Path:
    return write_focus(tmp_path / "good.csv", [focus_row("AWS", "1", d) for d in (1, 2)])


def _bomb(path: Path, mib: int) -> Path:
    """`mib` MiB of zeros behind a FOCUS header, gzip-compressed (about 1,000:1)."""
    zeros = b"0" * (1024 * 1024)
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"BilledCost,BillingPeriodStart,ChargePeriodStart,ServiceName\n")
        for _ in range(mib):
            fh.write(zeros)
    return path


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (ABSURD, ABSURD),
        ("-2e13", "'-20000000000000'"),
        ("NaN", "NaN"),
        ("inf", "inf"),
        ("-Infinity", "-Inf"),
    ],
)
def test_absurd_values_are_refused_with_row_and_column(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, value: str, shown: str
) -> None:
    ingest(con, _good(tmp_path), source="earlier")
    before = snapshot(con)
    rows = [focus_row("AWS", "1", 1), focus_row("AWS", "1", 2, cost=value)]
    bad = write_focus(tmp_path / "bad.csv", rows)
    with pytest.raises(IngestError, match=r"bad\.csv, row 2, column BilledCost: ") as caught:
        ingest(con, bad)
    assert shown in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(con) == before
    assert con.execute("SELECT sum(BilledCost) FROM costs").fetchone() == (Decimal("3"),)


def test_the_bound_is_configurable(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = [focus_row("AWS", "1", 1, cost="150")]
    path = write_focus(tmp_path / "big.csv", rows)
    strict = Config(ingest_max_abs_value=Decimal(100))
    with pytest.raises(IngestError, match=r"row 1, column BilledCost: '150' is out of range"):
        ingest(con, path, config=strict)
    assert ingest(con, path).rows == 1


def test_a_failing_refresh_after_commit_is_a_warning(con: duckdb.DuckDBPyConnection) -> None:
    # a warehouse poisoned before this fix: every SUM overflows
    con.execute(
        "INSERT INTO costs (BilledCost, EffectiveCost, BillingCurrency, BillingPeriodStart, "
        "ChargePeriodStart, ChargePeriodEnd) SELECT 9e25, 9e25, 'USD', DATE '2024-09-01', "
        "TIMESTAMP '2024-09-01' + i * INTERVAL 1 DAY, TIMESTAMP '2024-09-02' + i * INTERVAL 1 DAY "
        "FROM range(3) t(i)"
    )
    result = refresh_after_ingest(con, Config())
    assert result is not None and result.error
    assert "\n" not in result.error
    assert con.execute("SELECT count(*) FROM costs").fetchone() == (3,)


def test_cli_ingest_that_committed_exits_zero_when_the_refresh_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FINOPS_HOME", str(home))
    assert run_cli(capsys, "ingest", str(_good(tmp_path)), "--source", "a").code == 0
    from warehouse.db import connect

    con = connect(home / "warehouse.duckdb")
    con.execute("UPDATE costs SET BilledCost = 9e25, EffectiveCost = 9e25")
    con.close()
    result = run_cli(capsys, "ingest", str(_good(tmp_path)), "--source", "b")
    assert result.code == 0, result.err
    assert "warning: forecasts not refreshed" in result.err
    assert "Traceback" not in result.err


def test_gzip_bomb_is_refused_in_detection_and_ingest(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    bomb = _bomb(tmp_path / "bomb.csv.gz", 40)
    assert bomb.stat().st_size < 200_000
    assert detect_format(LocalFile(bomb, str(bomb))) == "focus"  # reads 1 MiB at most
    before = snapshot(con)
    for fmt in ("auto", "focus"):
        with pytest.raises(IngestError, match=r"bomb\.csv\.gz: refused: .* more than 200x"):
            ingest(con, bomb, fmt=fmt)
    assert snapshot(con) == before


def test_a_first_line_without_end_is_refused_in_detection(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.csv.gz"
    with gzip.open(zeros, "wb") as fh:
        fh.write(b"0" * (8 * 1024 * 1024))
    with pytest.raises(IngestError, match=r"zeros\.csv\.gz: no header row: the first line is"):
        detect_format(LocalFile(zeros, str(zeros)))


def test_decompressed_size_limit_is_configurable(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, shared_data: Path
) -> None:
    gz = tmp_path / "sample.csv.gz"
    with (
        (shared_data / "focus/focus_sample_1000.csv").open("rb") as src,
        gzip.open(gz, "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    small = Config(ingest_max_decompressed_bytes=64 * 1024)
    with pytest.raises(IngestError, match=r"inflates past 65,536 bytes"):
        ingest(con, gz, config=small)
    assert snapshot(con)[0] == 0
    assert ingest(con, gz).rows == 1000


def test_truncated_gzip_is_one_clear_line(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    whole = gzip.compress(_good(tmp_path).read_bytes())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IngestError, match=r"cut\.csv\.gz: (truncated|.*end)"):
        ingest(con, cut)
