"""Warehouses the vocabulary tests read: the real AWS CUR, and several providers' real exports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest
from tests.paths import SHARED_DATA
from warehouse.db import connect

CUR = SHARED_DATA / "aws-cur/Oct2018-WorkshopCUR-00001.snappy.parquet"
FOCUS = SHARED_DATA / "focus/focus_sample_1000.csv"
PROVIDER_EXPORTS = (
    (SHARED_DATA / "azure/azure-exports/EA_ActualCost_Small.csv", "auto"),
    (SHARED_DATA / "gcp/gcp_billing_export_2022-08-01.csv", "auto"),
    (SHARED_DATA / "focus-converters/oci_cost_report_sample.csv", "auto"),
)


def _warehouse(path: Path, *files: tuple[Path, str]) -> duckdb.DuckDBPyConnection:
    con = connect(path)
    for file, fmt in files:
        ingest(con, file, fmt=fmt, config=Config())
    return con


@pytest.fixture(scope="module")
def cur_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The October 2018 workshop CUR (119,307 rows)."""
    con = _warehouse(tmp_path_factory.mktemp("cur") / "warehouse.duckdb", (CUR, "aws-cur"))
    yield con
    con.close()


@pytest.fixture(scope="module")
def clouds_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The CUR, the FOCUS sample (AWS, Azure, OCI) and Azure, GCP and OCI native exports."""
    path = tmp_path_factory.mktemp("clouds") / "warehouse.duckdb"
    con = _warehouse(path, (CUR, "aws-cur"), (FOCUS, "auto"), *PROVIDER_EXPORTS)
    yield con
    con.close()
