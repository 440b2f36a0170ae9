"""Replacement scope: a re-ingest replaces only its own export (source, provider, account,
period); exports of other providers or accounts are never replaced, and an explicit --source that
would remove them is refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.helpers.warehouse import ingest, snapshot
from tests.warehouse.ingest.focus_builder import focus_row, write_focus
from warehouse.errors import IngestError


def _by_provider(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, Decimal]]:
    rows = con.execute(
        "SELECT ProviderName, count(*), sum(BilledCost) FROM costs GROUP BY 1"
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _aws(tmp_path: Path, cost: str = "1.50", days: int = 3, name: str = "aws.csv") -> Path:
    rows = [focus_row("AWS", "111111111111", d, cost) for d in range(1, days + 1)]
    return write_focus(tmp_path / name, rows)


def _azure(tmp_path: Path) -> Path:
    return write_focus(
        tmp_path / "azure.csv", [focus_row("Microsoft", "ea-42", d, "2.00") for d in (1, 2)]
    )


def test_exports_of_two_providers_do_not_replace_each_other(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest(con, _aws(tmp_path))
    report = ingest(con, _azure(tmp_path))
    assert report.replaced_rows == 0
    assert _by_provider(con) == {
        "AWS": (3, Decimal("4.5")),
        "Microsoft": (2, Decimal("4")),
    }


def test_two_accounts_of_one_provider_do_not_replace_each_other(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest(con, _aws(tmp_path))
    other = write_focus(tmp_path / "aws2.csv", [focus_row("AWS", "222222222222", 5)])
    assert ingest(con, other).replaced_rows == 0
    assert con.execute("SELECT count(*) FROM costs").fetchone() == (4,)


def test_reingest_of_the_same_export_replaces_exactly_its_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest(con, _aws(tmp_path))
    ingest(con, _azure(tmp_path))
    restated = _aws(tmp_path, cost="1.75", days=2, name="aws-restated.csv")
    report = ingest(con, restated)
    assert report.replaced_rows == 3
    assert _by_provider(con) == {
        "AWS": (2, Decimal("3.5")),
        "Microsoft": (2, Decimal("4")),
    }


def test_explicit_source_refuses_to_remove_another_providers_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest(con, _aws(tmp_path), source="bills")
    before = snapshot(con)
    with pytest.raises(IngestError) as caught:
        ingest(con, _azure(tmp_path), source="bills")
    message = str(caught.value)
    assert "refused" in message and "would remove" in message
    assert "3 rows of provider AWS, billing account 111111111111 (2024-09-01)" in message
    assert snapshot(con) == before
    assert "\n" not in message


def test_explicit_source_still_replaces_its_own_restatement(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest(con, _aws(tmp_path), source="bills")
    report = ingest(con, _aws(tmp_path, cost="9", name="again.csv"), source="bills")
    assert report.replaced_rows == 3
    assert _by_provider(con) == {"AWS": (3, Decimal("27"))}
