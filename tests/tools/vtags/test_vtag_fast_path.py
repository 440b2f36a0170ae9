"""`vtag:` queries on the allocation-key sums give today's answer to the cent, or fall back.

Every shape runs twice on the same warehouse: as `spend` plans it (the key sums when eligible),
and with the sums tables renamed away, which is the row-level path every allocation built before
the sums existed takes (each cost row hashed to its allocation key). Rows, order and totals must
be equal exactly, on the demo company (shared cluster-idle split) and on a 10⁵-row scale
warehouse (five tags, a proportional shared rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent.config import Config
from agent.demo.build import build_demo
from bench.vtags import vtag_config
from tests.helpers.vtags import Row, add_rows, allocate, config_of
from tests.helpers.warehouse import ingest
from tools.query import DuckDBEngine
from tools.spend.engine import Filter, SpendQuery, spend, top_movers
from tools.vtags.allocate import ensure_allocation
from tools.vtags.sql import KEY_SUMS, MONTH_SUMS
from warehouse.db import connect
from warehouse.demo.scale import write_scale
from warehouse.errors import QueryError

_DEMO_YAML = Path(__file__).parents[3] / "warehouse" / "demo" / "finops.yaml"


@dataclass
class Home:
    con: duckdb.DuckDBPyConnection
    config: Config


@contextmanager
def row_path(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The sums tables out of sight: `spend` takes the row-level (hashing) path."""
    for table in (KEY_SUMS, MONTH_SUMS):
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_hidden")
    try:
        yield
    finally:
        for table in (KEY_SUMS, MONTH_SUMS):
            con.execute(f"ALTER TABLE {table}_hidden RENAME TO {table}")


def _source(sql: str) -> str:
    if MONTH_SUMS in sql:
        return "month"
    if KEY_SUMS in sql:
        return "week"
    assert "hash(" in sql
    return "rows"


def _both(home: Home, query: SpendQuery) -> tuple[str, Any, Any]:
    engine = DuckDBEngine(home.con)
    fast = spend(engine, home.config, query)
    with row_path(home.con):
        slow = spend(engine, home.config, query)
    assert _source(slow.sql) == "rows"
    return _source(fast.sql), fast, slow


def _assert_same(home: Home, query: SpendQuery, source: str) -> None:
    used, fast, slow = _both(home, query)
    assert used == source, fast.sql
    assert slow.rows, "a shape with no rows proves nothing"
    assert [(r.period, r.dimensions, r.cost) for r in fast.rows] == [
        (r.period, r.dimensions, r.cost) for r in slow.rows
    ]
    assert fast.total == slow.total
    assert fast.total.quantize(Decimal("0.01")) == slow.total.quantize(Decimal("0.01"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """The demo company with its own finops.yaml tags (team has a proportional shared split)."""
    root = tmp_path_factory.mktemp("fast-demo")
    con = connect(root / "warehouse.duckdb")
    build_demo(con, Config(), root / "data")
    tags = yaml.safe_load(_DEMO_YAML.read_text())["virtual_tags"]
    config = config_of(tags)
    allocate(con, config)
    yield Home(con, config)
    con.close()


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """10⁵ generated rows (90 days, 3 providers) with the benchmark's five tags."""
    root = tmp_path_factory.mktemp("fast-scale")
    parquet = write_scale(root / "focus.parquet", 100_000)
    con = connect(root / "warehouse.duckdb")
    ingest(con, parquet, fmt="focus")
    config = vtag_config()
    allocate(con, config)
    yield Home(con, config)
    con.close()


def _filter(text: str) -> Filter:
    negate = "!=" in text
    dim, _, values = text.partition("!=" if negate else "=")
    return Filter(dimension=dim, values=values.split(","), negate=negate)


SHAPES: list[tuple[str, dict[str, Any], str]] = [
    ("by team", {"by": ["vtag:team"]}, "month"),
    ("by team monthly", {"by": ["vtag:team"], "grain": "month"}, "month"),
    ("by team weekly", {"by": ["vtag:team"], "grain": "week"}, "week"),
    ("by team daily", {"by": ["vtag:team"], "grain": "day"}, "rows"),
    ("team and service", {"by": ["vtag:team", "ServiceName"], "grain": "month"}, "month"),
    ("service, team filter", {"by": ["ServiceName"], "filters": ["vtag:team=platform"]}, "month"),
    ("team, service filter", {"by": ["vtag:team"], "filters": ["ProviderName=AWS"]}, "month"),
    ("team, non-key filter", {"by": ["vtag:team"], "filters": ["SkuId!=no-such-sku"]}, "rows"),
    ("team and tag family", {"by": ["vtag:team", "tag:env|environment"]}, "month"),
    ("effective", {"by": ["vtag:team"], "metric": "effective"}, "month"),
    ("list weekly", {"by": ["vtag:team"], "metric": "list", "grain": "week"}, "week"),
    ("contracted", {"by": ["vtag:team"], "metric": "contracted", "grain": "month"}, "month"),
    ("top 3", {"by": ["vtag:team", "ServiceName"], "top": 3}, "month"),
    ("top 2 weekly", {"by": ["vtag:team"], "top": 2, "grain": "week"}, "week"),
    ("two tags", {"by": ["vtag:team", "vtag:environment"], "grain": "month"}, "month"),
    (
        "month range",
        {"by": ["vtag:team"], "since": date(2026, 10, 1), "until": date(2026, 10, 31)},
        "month",
    ),
    (
        "week range",
        {"by": ["vtag:team"], "since": date(2026, 10, 5), "until": date(2026, 11, 15)},
        "week",
    ),
    (
        "ragged range",
        {"by": ["vtag:team"], "since": date(2026, 10, 3), "until": date(2026, 11, 17)},
        "rows",
    ),
    ("week grain by service", {"by": ["ServiceName", "vtag:team"], "grain": "week"}, "week"),
]


def _query(spec: dict[str, Any]) -> SpendQuery:
    spec = dict(spec)
    spec["filters"] = [_filter(f) for f in spec.get("filters", [])]
    return SpendQuery(**spec)


@pytest.mark.parametrize(("name", "spec", "source"), SHAPES, ids=[s[0] for s in SHAPES])
def test_demo_fast_path_matches_rows(
    demo: Home, name: str, spec: dict[str, Any], source: str
) -> None:
    _assert_same(demo, _query(spec), source)


@pytest.mark.parametrize(("name", "spec", "source"), SHAPES, ids=[s[0] for s in SHAPES])
def test_scale_fast_path_matches_rows(
    scale: Home, name: str, spec: dict[str, Any], source: str
) -> None:
    _assert_same(scale, _query(spec), source)


def test_shared_split_is_in_the_fast_path(demo: Home) -> None:
    """The demo's cluster-idle split reaches the summed path: shares below 1 are applied."""
    shared = demo.con.execute(
        "SELECT count(*) FROM vtag_alloc WHERE vtag = 'team' AND provenance = 'shared'"
    ).fetchone()
    assert shared is not None and shared[0] > 0
    _assert_same(
        demo, _query({"by": ["vtag:team"], "filters": ["ProviderName=Kubernetes"]}), "month"
    )


def test_movers_on_month_bounds(demo: Home) -> None:
    engine = DuckDBEngine(demo.con)
    args: dict[str, Any] = {
        "by": ["vtag:team"],
        "since": date(2026, 10, 1),
        "until": date(2026, 10, 31),
        "previous": (date(2026, 9, 1), date(2026, 9, 30)),
    }
    fast = top_movers(engine, demo.config, **args)
    with row_path(demo.con):
        slow = top_movers(engine, demo.config, **args)
    assert _source(fast.sql) == "month" and _source(slow.sql) == "rows"
    assert fast.rows == slow.rows and fast.current_total == slow.current_total
    assert fast.previous_total == slow.previous_total


def test_foreign_currency_is_converted_per_bucket(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    config = config_of(
        {"team": {"sources": ["team"]}},
        reporting_currency="USD",
        fx_rates={"EUR": "1.0837"},
    )
    add_rows(
        con,
        [
            Row(cost="10.015", day=date(2026, 10, d), ResourceId=f"i-{d % 3}", tags={"team": "a"})
            for d in range(1, 29)
        ]
        + [
            Row(cost="3.3333", day=date(2026, 10, d), ResourceId="i-9", currency="EUR")
            for d in range(1, 29)
        ],
    )
    allocate(con, config)
    home = Home(con, config)
    _assert_same(home, _query({"by": ["vtag:team"], "grain": "week"}), "week")
    _assert_same(home, _query({"by": ["vtag:team"]}), "month")
    con.close()


def test_stale_sums_are_never_served(tmp_path: Path) -> None:
    """New rows without a re-allocation: the query refuses; after it, the sums include them."""
    con = connect(tmp_path / "w.duckdb")
    config = config_of({"team": {"sources": ["team"]}})
    add_rows(con, [Row(cost="5", ResourceId="i-1", tags={"team": "a"})])
    allocate(con, config)
    engine = DuckDBEngine(con)
    query = SpendQuery(by=["vtag:team"])
    assert spend(engine, config, query).total == Decimal(5)
    add_rows(con, [Row(cost="7", ResourceId="i-2", tags={"team": "b"})])
    with pytest.raises(QueryError, match="changed since the last allocation"):
        spend(engine, config, query)
    ensure_allocation(con, config)
    result = spend(engine, config, query)
    assert _source(result.sql) == "month"
    assert {r.dimensions["vtag:team"]: r.cost for r in result.rows} == {
        "a": Decimal(5),
        "b": Decimal(7),
    }
    con.close()


def test_allocation_without_sums_falls_back(tmp_path: Path) -> None:
    """A warehouse allocated before the sums existed answers on the rows, with the same total."""
    con = connect(tmp_path / "w.duckdb")
    config = config_of({"team": {"sources": ["team"]}})
    add_rows(con, [Row(cost="5", ResourceId="i-1", tags={"team": "a"})])
    allocate(con, config)
    con.execute(f"DROP TABLE {KEY_SUMS}")
    con.execute(f"DROP TABLE {MONTH_SUMS}")
    result = spend(DuckDBEngine(con), config, SpendQuery(by=["vtag:team"]))
    assert _source(result.sql) == "rows" and result.total == Decimal(5)
    con.close()


def test_unconvertible_currency_is_refused_on_the_sums(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    config = config_of({"team": {"sources": ["team"]}})
    add_rows(con, [Row(cost="5", ResourceId="i-1", currency="EUR", tags={"team": "a"})])
    allocate(con, config)
    with pytest.raises(QueryError, match="EUR"):
        spend(DuckDBEngine(con), config, SpendQuery(by=["vtag:team"]))
    con.close()
