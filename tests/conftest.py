"""Shared fixtures: the real data folder, an empty warehouse, moto's server. Helpers that are
plain functions live in `tests/helpers/`, paths in `tests/paths.py`; nothing imports this file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from moto.server import ThreadedMotoServer

from tests.paths import SHARED_DATA
from warehouse.db import connect

pytest_plugins = ["tests.servers.postgres", "tests.servers.spark_connect"]


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


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1, one per test module (fresh state); boto3 reaches it through
    `endpoint_url` / AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
