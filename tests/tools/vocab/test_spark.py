"""The catalog built on Spark (local mode) from the same rows is DuckDB's catalog: every dimension,
tag key, virtual-tag value, label, cost, date range and row count. Marked `spark` (needs Java)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import Config
from tests.helpers.vtags import Row, add_rows, config_of
from tests.helpers.warehouse import ingest
from tools.query import DuckDBEngine
from tools.vocab.catalog import load_vocabulary, refresh_vocabulary
from tools.vocab.store import build_catalog
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect

from .conftest import FOCUS

pytestmark = pytest.mark.spark

CONFIG = {"team": {"sources": ["team", "business_unit"], "inference": {"enabled": False}}}


@pytest.fixture(scope="module")
def spark_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, object]]:
    from warehouse.engines.publish import publish_tables
    from warehouse.engines.spark import SparkEngine, spark_session

    root = tmp_path_factory.mktemp("vocab-spark")
    con = connect(root / "warehouse.duckdb")
    ingest(con, FOCUS, config=Config())
    add_rows(con, [Row(cost="7", tags={"team": "web", "aws:created_by": "x", "k.with.dots": "y"})])
    session = spark_session(master="local[1]", conf={"spark.sql.shuffle.partitions": "1"})
    engine = SparkEngine(session)
    publish_tables(con, engine, ["costs", "ingests"], root / "parquet")
    yield con, engine
    session.stop()
    con.close()


def test_spark_builds_duckdbs_catalog(spark_engine: tuple[object, object], tmp_path: Path) -> None:
    con, spark = spark_engine
    config = config_of(CONFIG)
    duck = DuckDBEngine(con)  # type: ignore[arg-type]
    ensure_allocation(duck, config)
    ensure_allocation(spark, config)  # type: ignore[arg-type]
    expected = build_catalog(duck, config, store=False)
    assert refresh_vocabulary(spark, config).stored  # type: ignore[arg-type]
    got = load_vocabulary(spark, config)  # type: ignore[arg-type]
    spaced = {r[0] for r in expected.rows or [] if r[0][4:] != r[0][4:].strip()}  # "tag: org"
    want = {(r[0], r[1]): r for r in expected.rows or [] if r[0] not in spaced}
    have = {(e.dimension, e.value): e for d in got.dimensions() for e in got.entries(d)}
    assert set(have) == set(want)
    for k, e in have.items():
        r = want[k]
        assert (e.label, e.first_day, e.last_day, e.rows) == (r[2], r[4], r[5], r[6]), k
        exact = not k[0].startswith("vtag:")  # cost × share: Spark keeps 6 decimals (as spend does)
        assert abs(e.cost - r[3]) <= (Decimal(0) if exact else Decimal("0.00001")), k
    assert {"aws:created_by", "k.with.dots", "business_unit"} <= set(got.tag_keys())
    assert got.virtual_tags() == ["team"] and got.months == expected.meta.months
