"""Shared fixtures: real data paths, an empty warehouse, an ingest helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from moto.server import ThreadedMotoServer

from agent.config import Config
from warehouse.db import connect
from warehouse.ingest import IngestReport, resolve_inputs, run_ingest

pytest_plugins = ["tests.pg_fixture", "tests.spark_connect_fixture"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` (read-only real billing files; see its PROVENANCE.md)."""
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data folder missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh, migrated warehouse file in a temporary folder."""
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


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


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1, one per test module (fresh state); boto3 reaches it through
    `endpoint_url` / AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
