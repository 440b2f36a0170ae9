"""Schema: every FOCUS 1.2 column with its type, numbered migrations applied once."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.db import connect
from warehouse.migrations import MIGRATIONS, migrate
from warehouse.schema import focus_columns


def test_costs_has_every_focus_12_column(con: duckdb.DuckDBPyConnection) -> None:
    cols = {r[0]: r[1] for r in con.execute("DESCRIBE costs").fetchall()}
    assert len(focus_columns()) == 57
    for c in focus_columns():
        assert c.name in cols, c.name
    assert cols["BilledCost"] == "DECIMAL(38,12)"
    assert cols["ChargePeriodStart"] == "TIMESTAMP"
    assert cols["Tags"] == "JSON" and cols["SkuPriceDetails"] == "JSON"
    assert {"x_SourceName", "x_SourceFile", "x_IngestedAt", "x_IngestId"} <= set(cols)


def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    first = connect(path)
    versions = [
        r[0] for r in first.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    ]
    assert versions == [m[0] for m in MIGRATIONS]
    assert migrate(first) == []
    first.close()
    again = connect(path)
    assert again.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
    again.close()


def test_migration_numbers_are_strictly_increasing() -> None:
    numbers = [m[0] for m in MIGRATIONS]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
