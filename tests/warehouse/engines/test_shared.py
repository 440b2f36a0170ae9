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

import json
import shutil
import subprocess
import sys
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
from agent.demo.build import build_demo
from tests.paths import ROOT
from tools.anomalies.config import AnomalyConfig, SeriesSpec
from tools.anomalies.detect import detect
from tools.forecast.service import ForecastQuery, forecast
from tools.spend.engine import SpendQuery, SpendResult, parse_filter, spend, top_movers, unit_cost
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect
from warehouse.engines import DuckDBEngine, Engine, open_engine, parse_warehouse_url, transpile
from warehouse.engines.base import bind, render
from warehouse.errors import ConfigError, QueryError

DEMO_YAML = ROOT / "warehouse/demo/finops.yaml"
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
    from tools.vtags.publish import publish_allocation
    from warehouse.engines.publish import publish_tables
    from warehouse.engines.spark import SparkEngine, spark_session

    session = spark_session(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    engine = SparkEngine(session)
    publish_tables(duck.con, engine, ["costs", "ingests"], demo_db / "parquet")
    publish_allocation(duck.con, engine, demo_db / "parquet")
    yield engine
    session.stop()


@pytest.fixture(scope="session")
def spark_connect(demo_db: Path, duck: DuckDBEngine, spark_connect_url: str) -> Iterator[Engine]:
    """The same tables over gRPC on a Spark Connect server, opened from its `warehouse.url`."""
    from tools.vtags.publish import publish_allocation
    from warehouse.engines.publish import publish_tables
    from warehouse.engines.spark import SparkEngine

    engine = open_engine(spark_connect_url, duckdb.connect)
    assert isinstance(engine, SparkEngine)
    publish_tables(duck.con, engine, ["costs", "ingests"], demo_db / "parquet-connect")
    publish_allocation(duck.con, engine, demo_db / "parquet-connect")
    yield engine
    engine.session.stop()


SPARKS = [
    pytest.param("spark", marks=pytest.mark.spark),
    pytest.param("spark_connect", marks=pytest.mark.spark),
]


@pytest.fixture(params=["duck", *SPARKS])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def _fresh_spark(request: pytest.FixtureRequest, kind: str, **options: Any) -> Any:
    """A new SparkEngine in a new session of the `kind` Spark (classic local or the Connect
    server), over the demo's costs and ingests (parquet) only: another replica, in effect."""
    from warehouse.engines.spark import SparkEngine

    shared: Any = request.getfixturevalue(kind)  # the tables' parquet files are written by it
    if kind == "spark":
        session, folder = shared.session.newSession(), "parquet"
    else:
        from pyspark.sql.connect.session import SparkSession

        url = request.getfixturevalue("spark_connect_url")
        session, folder = SparkSession.builder.remote(url).create(), "parquet-connect"
        request.addfinalizer(session.stop)  # before the server stops, or the client retries
    engine = SparkEngine(session, **options)
    demo_db: Path = request.getfixturevalue("demo_db")
    for table in ("costs", "ingests"):
        engine.register_parquet(table, demo_db / folder / f"{table}.parquet")
    return engine


def _python_sum(duck: DuckDBEngine, column: str) -> dict[str, Decimal]:
    """An independent breakdown: raw rows summed in Python."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for key, cost in duck.con.execute(f"SELECT {column}, BilledCost FROM costs").fetchall():
        out[key if key is not None else "(none)"] += cost or Decimal(0)
    return dict(out)


def test_engine_dialect_and_tables(engine: Engine) -> None:
    """Every engine lists the queries' tables (on Spark: the registered session views)."""
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


@pytest.fixture(params=["duck_built", *SPARKS])
def built(request: pytest.FixtureRequest) -> Engine:
    """An engine that builds its own allocation: DuckDB, or a fresh session of each Spark."""
    if request.param == "duck_built":
        return request.getfixturevalue("duck_built")
    return _fresh_spark(request, request.param)  # type: ignore[no-any-return]


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


def test_output_schema_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="output_schema"):
        Config.model_validate({"warehouse": {"output_schema": "finops; DROP"}})
    with pytest.raises(ConfigError, match="output_schema is for Spark"):
        open_engine(None, lambda: duckdb.connect(), output_schema="finops")


@pytest.mark.parametrize("kind", SPARKS)
def test_spark_build_saved_to_output_schema_is_read_by_another_replica(
    request: pytest.FixtureRequest, kind: str, duck: DuckDBEngine, config: Config
) -> None:
    """Replica A builds the allocation into `output_schema`; replica B (another session on the
    same catalog) finds it current and answers from it without building; a failed build
    saves nothing."""
    first = _fresh_spark(request, kind, output_schema="finops_shared")
    assert "vtag_meta" not in first.tables()
    assert ensure_allocation(first, config, force=True).rebuilt
    listed = first.session.catalog.listTables("finops_shared")
    saved = {t.name for t in listed if not t.isTemporary}
    assert {"vtag_alloc", "vtag_meta", "vtag_keys", "vtag_attrs"} <= saved
    assert not {"vtag_params", "vtag_decided", "vtag_splits"} & saved, "TEMP tables stay local"

    second = _fresh_spark(request, kind, output_schema="finops_shared")
    assert {"vtag_alloc", "vtag_meta"} <= second.tables()
    assert not ensure_allocation(second, config).rebuilt, "B reads A's build as current"
    query = SpendQuery(by=["vtag:team"])
    assert _rows(spend(second, config, query)) == _rows(spend(duck, config, query))

    with pytest.raises(RuntimeError, match="stop"), first.transaction():
        first.execute("CREATE OR REPLACE TABLE probe_saved AS SELECT ? AS a", [1])
        raise RuntimeError("stop")
    assert "probe_saved" not in second.tables()
    first.execute("CREATE OR REPLACE TABLE probe_saved AS SELECT ? AS a", [2])
    assert second.query("SELECT a FROM probe_saved") == [(2,)]


@pytest.mark.spark
def test_finops_cli_replicas_on_spark_connect_share_one_allocation(
    tmp_path: Path,
    demo_db: Path,
    spark_connect: Engine,
    spark_connect_url: str,
    duck: DuckDBEngine,
    config: Config,
) -> None:
    """The deployment shape of the README: `finops` processes (replicas, each with its own
    home) configured with `warehouse.url: sc://…`, `warehouse.tables` naming lakehouse tables and
    `warehouse.output_schema`. The first builds the allocation into the schema; the second finds
    it current and answers from it; both give DuckDB's figures to the cent."""
    from pyspark.sql.connect.session import SparkSession

    admin = SparkSession.builder.remote(spark_connect_url).create()
    try:
        admin.sql("CREATE SCHEMA IF NOT EXISTS billing")
        for table in ("costs", "ingests"):
            rows = admin.read.parquet(str(demo_db / "parquet-connect" / f"{table}.parquet"))
            rows.write.mode("overwrite").saveAsTable(f"billing.focus_{table}")
    finally:
        admin.stop()
    doc = yaml.safe_load(DEMO_YAML.read_text(encoding="utf-8"))
    settings = {
        "virtual_tags": doc["virtual_tags"],
        "warehouse": {
            "url": spark_connect_url,
            "tables": {"costs": "billing.focus_costs", "ingests": "billing.focus_ingests"},
            "output_schema": "finops_cli",
        },
    }
    finops = Path(sys.executable).parent / "finops"

    def replica(name: str) -> SpendResult:
        home = tmp_path / name
        home.mkdir()
        (home / "finops.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
        done = subprocess.run(
            [str(finops), "--home", str(home), "spend", "--by", "vtag:team", "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return SpendResult.model_validate(json.loads(done.stdout))

    def built_at() -> Any:
        session = SparkSession.builder.remote(spark_connect_url).create()
        try:
            return session.sql("SELECT built_at FROM finops_cli.vtag_meta").collect()[0][0]
        finally:
            session.stop()

    expected = _rows(spend(duck, config, SpendQuery(by=["vtag:team"])))
    first = replica("a")
    assert _rows(first) == expected
    stamp = built_at()
    second = replica("b")
    assert _rows(second) == expected
    assert built_at() == stamp, "the second replica read the first one's build"
