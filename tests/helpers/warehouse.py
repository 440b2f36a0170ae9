"""Ingest the way the CLI does, and a snapshot that must not move when an ingest fails."""

from __future__ import annotations

from pathlib import Path

import duckdb

from agent.config import Config
from warehouse.ingest import IngestReport, resolve_inputs, run_ingest

__all__ = ["ingest", "snapshot"]


def ingest(
    con: duckdb.DuckDBPyConnection,
    *paths: Path | str,
    config: Config | None = None,
    fmt: str = "auto",
    source: str | None = None,
    options: dict[str, object] | None = None,
    workdir: Path | None = None,
) -> IngestReport:
    """Ingest local paths the way the CLI does."""
    files = resolve_inputs([str(p) for p in paths], workdir or Path("/tmp"))
    return run_ingest(
        con, files, config=config or Config(), fmt=fmt, source=source, options=options or {}
    )


def snapshot(con: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
    """Row count, money totals and ingest count: equal before and after a failed ingest."""
    row = con.execute(
        "SELECT count(*), sum(BilledCost), sum(EffectiveCost), "
        "(SELECT count(*) FROM ingests) FROM costs"
    ).fetchone()
    assert row is not None
    return tuple(row)
