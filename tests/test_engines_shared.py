"""One query suite, two engines: DuckDB (embedded) and Apache Spark (local mode), same data.

The demo company (90 days, ~47k FOCUS rows, three virtual tags) is generated and ingested into
DuckDB once; the Spark engine reads the same rows from a parquet copy of the DuckDB tables and
the DuckDB-built allocation re-keyed for Spark. Every test runs the same project functions on
the engine under test and checks the figures against DuckDB's and, where cheap, against an
independent sum in Python over the raw rows — money to the cent.

The allocation build itself is also run by each engine (`test_allocation_built_on_each_engine…`):
a fresh Spark session over the same parquet costs builds it from the same DuckDB-dialect
statements, and every virtual tag's totals and coverage match DuckDB's to the cent.

The Spark parameter is marked `spark`: `pytest -m "not spark"` skips it locally; CI runs it.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent.config import Config
from agent.errors import QueryError
from tools.anomaly_config import AnomalyConfig, SeriesSpec
from tools.anomaly_detect import detect
from tools.forecast import ForecastQuery, forecast
from tools.spend import SpendQuery, parse_filter, spend, top_movers, unit_cost
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect
from warehouse.demo import build_demo
from warehouse.engines import DuckDBEngine, Engine, parse_warehouse_url, transpile
from warehouse.engines.base import bind, render

DEMO_YAML = Path(__file__).resolve().parents[1] / "warehouse/demo/finops.yaml"
END = date(2026, 11, 27)
CENT = Decimal("0.01")


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT)


@pytest.fixture(scope="session")
def config() -> Config:
    doc = yaml.safe_load(DEMO_YAML.read_text(encoding="utf-8"))
    return Config.model_validate({"virtual_tags": doc["virtual_tags"]})


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("engines")
    con = connect(root / "warehouse.duckdb")
    build_demo(con, config, root / "demo", end=END, days=90)
    ensure_allocation(con, config)
    con.close()
    yield root


@pytest.fixture(scope="session")
def duck(demo_db: Path) -> Iterator[DuckDBEngine]:
    con = duckdb.connect(str(demo_db / "warehouse.duckdb"), read_only=True)
    yield DuckDBEngine(con)
    con.close()


@pytest.fixture(scope="session")
def spark(demo_db: Path, duck: DuckDBEngine) -> Iterator[Engine]:
    from warehouse.engines.publish import publish_allocation, publish_tables
    from warehouse.engines.spark import SparkEngine, spark_session

    session = spark_session(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    engine = SparkEngine(session)
    publish_tables(duck.con, engine, ["costs", "ingests"], demo_db / "parquet")
    publish_allocation(duck.con, engine, demo_db / "parquet")
    yield engine
    session.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("duck" if request.param == "duckdb" else "spark")


def _python_sum(duck: DuckDBEngine, column: str) -> dict[str, Decimal]:
    """An independent breakdown: raw rows summed in Python."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for key, cost in duck.con.execute(f"SELECT {column}, BilledCost FROM costs").fetchall():
        out[key if key is not None else "(none)"] += cost or Decimal(0)
    return dict(out)


def test_engine_dialect_and_tables(engine: Engine) -> None:
    assert engine.dialect in ("duckdb", "spark")
    assert {"costs", "ingests", "vtag_alloc", "vtag_meta"} <= engine.tables()


def test_breakdown_matches_python_sum(engine: Engine, duck: DuckDBEngine, config: Config) -> None:
    result = spend(engine, config, SpendQuery(by=["ServiceName"]))
    got = {r.dimensions["ServiceName"]: _cents(r.cost) for r in result.rows}
    expected = {k: _cents(v) for k, v in _python_sum(duck, "ServiceName").items()}
    assert got == expected
    assert isinstance(result.total, Decimal) and result.currency == "USD"
    assert (result.since, result.until) == (date(2026, 8, 30), END)


def _rows(result: Any) -> list[tuple[Any, ...]]:
    return [(r.period, tuple(r.dimensions.items()), _cents(r.cost)) for r in result.rows]


@pytest.mark.parametrize(
    "query",
    [
        SpendQuery(by=["ProviderName", "ServiceName"], grain="month", top=4),
        SpendQuery(by=["tag:team"], grain="week", filters=[parse_filter("ProviderName!=AWS")]),
        SpendQuery(by=["vtag:team"], filters=[parse_filter("vtag:environment=prod")]),
        SpendQuery(by=["vtag:team", "ServiceName"], top=5, metric="effective"),
        SpendQuery(grain="day", since=date(2026, 11, 1), until=END),
    ],
    ids=["top-n-other", "tag-week-negated", "vtag-filtered", "vtag-shared-top", "daily-total"],
)
def test_spend_identical(
    engine: Engine, duck: DuckDBEngine, config: Config, query: SpendQuery
) -> None:
    got, ref = spend(engine, config, query), spend(duck, config, query)
    assert got.rows, "the demo data has spend for every query here"
    assert _rows(got) == _rows(ref)
    assert _cents(got.total) == _cents(ref.total)


def test_vtag_allocation_covers_all_spend(
    engine: Engine, duck: DuckDBEngine, config: Config
) -> None:
    """Shared splits keep every dollar: the vtag breakdown sums to the untagged total."""
    by_team = spend(engine, config, SpendQuery(by=["vtag:team"]))
    total = sum(_python_sum(duck, "ProviderName").values(), Decimal(0))
    assert _cents(by_team.total) == _cents(total)
    assert "unallocated" in {r.dimensions["vtag:team"] for r in by_team.rows}


def test_movers_identical(engine: Engine, duck: DuckDBEngine, config: Config) -> None:
    args: dict[str, Any] = {"by": ["ServiceName"], "since": date(2026, 11, 21), "until": END}
    got, ref = top_movers(engine, config, **args), top_movers(duck, config, **args)
    pairs = [(r.dimensions, _cents(r.current), _cents(r.previous)) for r in got.rows]
    assert pairs == [(r.dimensions, _cents(r.current), _cents(r.previous)) for r in ref.rows]
    assert _cents(got.current_total) == _cents(ref.current_total) != Decimal(0)


def test_unit_cost_identical(engine: Engine, duck: DuckDBEngine, config: Config) -> None:
    args: dict[str, Any] = {"unit": "Tokens", "per": 1_000_000, "by": ["ServiceName"]}
    got, ref = unit_cost(engine, config, **args), unit_cost(duck, config, **args)
    assert got.rows
    assert [(r.dimensions, _cents(r.cost), r.quantity) for r in got.rows] == [
        (r.dimensions, _cents(r.cost), r.quantity) for r in ref.rows
    ]


def test_anomalies_identical(engine: Engine, duck: DuckDBEngine, config: Config) -> None:
    families = [SeriesSpec(by=["ServiceName"]), SeriesSpec(by=["vtag:team"])]
    cfg = AnomalyConfig(series=families)
    window: dict[str, Any] = {"since": date(2026, 11, 1), "until": END}
    got, _, _ = detect(engine, config, cfg, **window)
    ref, _, _ = detect(duck, config, cfg, **window)
    assert len(ref) >= 2, "the demo company has incidents in November"

    def key(a: Any) -> tuple[Any, ...]:
        return (a.id, a.direction, a.start_day, a.end_day, a.counted_days, a.expected, a.actual)

    assert [key(a) for a in got] == [key(a) for a in ref]
    assert [(a.score, a.threshold, a.level) for a in got] == [
        (a.score, a.threshold, a.level) for a in ref
    ]


def test_forecast_identical(engine: Engine, duck: DuckDBEngine, config: Config) -> None:
    query = ForecastQuery(by="ProviderName", as_of=date(2026, 11, 20), top=5)
    got, ref = forecast(engine, config, query), forecast(duck, config, query)
    assert got.total.actual_to_date == ref.total.actual_to_date > 0
    assert got.total.forecast_total == ref.total.forecast_total
    assert [(g.dimensions, g.forecast_total) for g in got.groups] == [
        (g.dimensions, g.forecast_total) for g in ref.groups
    ]


def test_bound_parameters_are_literals_on_every_engine(engine: Engine) -> None:
    hostile = "x') OR 1=1 --\\"
    rows = engine.query(
        "SELECT count(*) FROM costs WHERE ServiceName = ? OR ServiceName = ?",
        [hostile, "Claude API"],
    )
    named = engine.query("SELECT count(*) FROM costs WHERE ServiceName = $s", {"s": hostile})
    assert rows[0][0] > 0 and named[0][0] == 0
    with pytest.raises((QueryError, duckdb.Error)):
        engine.query("SELECT ? FROM costs", [])


def test_bind_renders_escaped_literals_for_spark() -> None:
    sql = render(bind("SELECT $n AS n, $d AS d", {"n": 1, "d": date(2026, 1, 2)}), "spark")
    assert sql == "SELECT 1 AS n, CAST('2026-01-02' AS DATE) AS d"
    with pytest.raises(QueryError, match="no value"):
        bind("SELECT $n, $missing", {"n": 1})
    with pytest.raises(QueryError, match="2 placeholders but 1"):
        bind("SELECT ?, ?", [1])
    sql = render(bind("SELECT ? AS a", ["it's \\ a"]), "spark")
    assert sql == "SELECT 'it\\'s \\\\ a' AS a"
    assert transpile("SELECT isodow(d) FROM t", "spark") == (
        "SELECT ((DAYOFWEEK(d) + 5) % 7 + 1) FROM t"
    )
    assert "XXHASH64(a, b)" in transpile("SELECT hash(a, b) FROM t", "spark")


def test_warehouse_url_forms(tmp_path: Path) -> None:
    default = tmp_path / "w.duckdb"
    assert parse_warehouse_url(None, default).path == default
    assert parse_warehouse_url("duckdb:///data/w.duckdb", default).path == Path("/data/w.duckdb")
    assert parse_warehouse_url("spark://local[2]", default).master == "local[2]"
    assert parse_warehouse_url("spark://head:7077", default).master == "spark://head:7077"
    assert parse_warehouse_url("sc://head:15002", default).remote == "sc://head:15002"
    with pytest.raises(Exception, match="not supported"):
        parse_warehouse_url("postgres://x", default)


# --- The allocation built on each engine by the same statements -------------------------------

_COVERAGE = """
SELECT a.vtag, a.provenance, sum(m.cost * a.share) AS cost
FROM vtag_alloc a
JOIN vtag_keys m ON m.k = a.k AND (a.month IS NULL OR a.month = m.month)
GROUP BY ALL
"""


@pytest.fixture(scope="session")
def duck_built(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A writable copy of the demo warehouse whose allocation the Engine path rebuilds."""
    copy = tmp_path_factory.mktemp("duck-built") / "warehouse.duckdb"
    shutil.copyfile(demo_db / "warehouse.duckdb", copy)
    con = duckdb.connect(str(copy))
    yield DuckDBEngine(con)
    con.close()


@pytest.fixture(scope="session")
def spark_built(demo_db: Path, spark: Engine) -> Engine:
    """A fresh Spark session over the same costs (parquet), no allocation published to it."""
    from warehouse.engines.spark import SparkEngine

    assert isinstance(spark, SparkEngine)
    engine = SparkEngine(spark.session.newSession())
    for table in ("costs", "ingests"):
        engine.register_parquet(table, demo_db / "parquet" / f"{table}.parquet")
    return engine


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def built(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("duck_built" if request.param == "duckdb" else "spark_built")


def _coverage(engine: Engine) -> dict[tuple[str, str], Decimal | None]:
    return {(v, p): _cents(c) for v, p, c in engine.query(_COVERAGE)}


def test_allocation_built_on_each_engine_is_identical(
    built: Engine, duck: DuckDBEngine, config: Config
) -> None:
    """The same DuckDB-dialect build statements, run by the engine itself (transpiled for
    Spark), give DuckDB's allocation: per-value totals and coverage to the cent."""
    result = ensure_allocation(built, config, force=True)
    assert result.rebuilt and result.keys > 0
    assert not ensure_allocation(built, config).rebuilt, "the fresh build is recorded as current"
    for name in sorted(config.virtual_tags):
        query = SpendQuery(by=[f"vtag:{name}"])
        got, ref = spend(built, config, query), spend(duck, config, query)
        assert _rows(got) == _rows(ref), name
        assert _cents(got.total) == _cents(ref.total) != Decimal(0)
    coverage = _coverage(built)
    assert coverage == _coverage(duck)
    assert {("team", "shared"), ("team", "inferred"), ("team", "tag")} <= set(coverage)


def test_failed_build_leaves_the_previous_tables(built: Engine) -> None:
    before = built.tables()
    with pytest.raises(RuntimeError, match="stop"), built.transaction():
        built.execute("CREATE OR REPLACE TABLE probe_tx AS SELECT ? AS a", [1])
        assert "probe_tx" in built.tables()
        raise RuntimeError("stop")
    assert "probe_tx" not in built.tables()
    assert built.tables() == before
    with pytest.raises((QueryError, duckdb.Error)):
        built.execute("INSERT INTO probe_missing SELECT 1")
