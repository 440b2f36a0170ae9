"""Root cause computed once and in one pass (issue 23, point 1).

* the batched path (`explain_family`: one statement per family) gives exactly the contributors of
  the per-anomaly path (`explain`) on the demo company and on a small warehouse with several
  anomalies of one family at different start days, gaps and a virtual-tag family;
* a second run over unchanged data issues no root-cause statement (counted through an engine
  wrapper injected into the tool context) and shows the same explanations;
* changing the cost rows inside one anomaly's window recomputes that anomaly only.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.context import AppContext
from agent.demo.build import build_demo
from tests.helpers.anomalies import END, NOW, daily, insert, make_ctx
from tests.helpers.vtags import allocate, config_of
from tools.anomalies.config import AnomalyConfig, SeriesSpec
from tools.anomalies.detect import Family, checked_cost, detect, settings
from tools.anomalies.models import Anomaly, Contributor
from tools.anomalies.rootcause import explain, explain_family
from tools.anomalies.service import _window, run_detection
from tools.context import ToolContext
from tools.query import Engine
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect
from warehouse.demo import DEMO_CONFIG

WEEKLY = [1, 1, 1, 1, 1, 0.5, 0.4]
TEAM = {"team": {"sources": ["team"], "default": "unowned"}}


@dataclass
class CountingEngine:
    """An engine that records every statement it runs, then runs it on the wrapped engine."""

    inner: Engine
    statements: list[str] = field(default_factory=list)
    dialect: str = ""

    def __post_init__(self) -> None:
        self.dialect = self.inner.dialect

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        return self.inner.fetch(sql)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        return self.inner.query(sql, params)

    def tables(self) -> set[str]:
        return self.inner.tables()

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)
        self.inner.execute(sql, params)

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def root_cause_statements(self) -> int:
        """Statements that compute contributions (they all rank values into `(other)`)."""
        return sum("'(other)'" in s for s in self.statements)


def _counting(ctx: ToolContext) -> tuple[ToolContext, CountingEngine]:
    wrapper = CountingEngine(ctx.engine())
    return dataclasses.replace(ctx, _engine=wrapper), wrapper


def _plain(root: dict[str, list[Contributor]]) -> dict[str, list[dict[str, Any]]]:
    return {d: [c.model_dump(mode="json") for c in items] for d, items in root.items()}


def _old_and_new(
    ctx: ToolContext, cfg: AnomalyConfig
) -> tuple[list[Anomaly], list[Any], list[Any]]:
    """Every anomaly detected today, explained by the per-anomaly and by the batched path."""
    engine = ctx.engine()
    since, until = _window(ctx, cfg, None, None)
    found, fams, _ = detect(engine, ctx.config, cfg, since=since, until=until)
    cost = checked_cost(engine, ctx.config, cfg.metric)
    by_names: dict[tuple[str, ...], Family] = {f.names: f for f in fams}
    old = [
        _plain(explain(engine, ctx.config, cfg, a, by_names[tuple(a.series)], cost)) for a in found
    ]
    new: list[Any] = [None] * len(found)
    for fam in fams:
        index = [i for i, a in enumerate(found) if tuple(a.series) == fam.names]
        batch = explain_family(engine, ctx.config, cfg, [found[i] for i in index], fam, cost)
        for i, root in zip(index, batch, strict=True):
            new[i] = _plain(root)
    return found, old, new


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    """The demo company with its finops.yaml (virtual tag `team`), as `finops demo` builds it."""
    home = tmp_path_factory.mktemp("rootcause-demo")
    shutil.copy(DEMO_CONFIG, home / "finops.yaml")
    app = AppContext.create(home)
    build_demo(app.warehouse(), app.config, home / "demo")
    ensure_allocation(app.warehouse(), app.config)
    ctx = make_ctx(app.warehouse(), home, app.config)
    yield ctx
    ctx.store.close()
    app.close()


def test_demo_batched_contributions_equal_the_per_anomaly_path(demo: ToolContext) -> None:
    found, old, new = _old_and_new(demo, settings(demo.config))
    assert len(found) >= 10
    assert sum(1 for root in old if root) >= 10
    for a, before, after in zip(found, old, new, strict=True):
        assert after == before, (a.series, a.start_day)


def test_demo_second_run_reuses_every_stored_explanation(demo: ToolContext) -> None:
    ctx, engine = _counting(demo)
    first = run_detection(ctx, statuses=["all"])
    families = len(first.families)
    assert 0 < engine.root_cause_statements() <= families
    assert engine.root_cause_statements() <= first.detected
    engine.statements.clear()
    ctx.clock = lambda: NOW + timedelta(hours=1)
    second = run_detection(ctx, statuses=["all"])
    assert engine.root_cause_statements() == 0
    assert first.new > 0 and second.new == 0 and second.updated == first.new
    before = {a.id: (_plain(a.root_cause), a.owner, a.incident) for a in first.anomalies}
    after = {a.id: (_plain(a.root_cause), a.owner, a.incident) for a in second.anomalies}
    assert after == before
    # the stored explanations are what the per-anomaly path computes today
    found, old, _ = _old_and_new(demo, settings(demo.config))
    expected = {
        json.dumps(sorted(a.series.items())) + str(a.start_day): r
        for a, r in zip(found, old, strict=True)
    }
    for a in second.anomalies:
        key = json.dumps(sorted(a.series.items())) + str(a.start_day)
        if key in expected:
            assert _plain(a.root_cause) == expected[key]


# --- a small warehouse: several anomalies per family, gaps, a virtual-tag family -----------------


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


def _company(con: duckdb.DuckDBPyConnection) -> None:
    rows = []
    spikes = [END - timedelta(days=d) for d in (4, 11, 19, 26)]
    for i, (team, service) in enumerate(
        [("search", "Amazon S3"), ("payments", "Amazon EC2"), ("data", "Amazon RDS")]
    ):
        for j in range(4):
            n = 4 * i + j
            rows += daily(
                f"r-{team}-{j}",
                200 + 50 * j,
                noise=0.03,
                weekly=WEEKLY,
                spikes={spikes[n % 4]: 3.0 + j} if n % 3 != 2 else None,
                start=END - timedelta(days=40) if n == 5 else None,
                seed=n,
                ServiceName=service,
                SubAccountName=f"{team}-prod",
                SkuId=f"sku-{j % 2}",
                RegionId="eu-west-1" if j == 3 else "us-east-1",
                tags={"team": team} if j != 2 else None,
            )
    # a resource with gaps (every fourth day missing) that spikes
    gappy = daily("r-gappy", 400, noise=0.02, spikes={END - timedelta(days=8): 4.0}, seed=99)
    rows += [r for k, r in enumerate(gappy) if k % 4 != 1]
    insert(con, rows)


def _cfg() -> AnomalyConfig:
    return AnomalyConfig(
        series=[
            SeriesSpec(),
            SeriesSpec(by=["ResourceId"]),
            SeriesSpec(by=["ProviderName", "ServiceName"]),
            SeriesSpec(by=["vtag:team"]),
        ],
        detect_drops=True,
    )


def _small_ctx(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> ToolContext:
    _company(con)
    config = config_of(TEAM)
    allocate(con, config)
    ctx = make_ctx(con, tmp_path)
    ctx.config = config
    return ctx


def test_small_warehouse_batched_contributions_equal(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ctx = _small_ctx(con, tmp_path)
    found, old, new = _old_and_new(ctx, _cfg())
    per_family: dict[tuple[str, ...], int] = {}
    for a in found:
        per_family[tuple(a.series)] = per_family.get(tuple(a.series), 0) + 1
    assert per_family.get(("ResourceId",), 0) >= 3  # several windows in one statement
    for a, before, after in zip(found, old, new, strict=True):
        assert after == before, (a.series, a.start_day)
    ctx.store.close()


def _keys(ctx: ToolContext) -> dict[str, tuple[str, str, str]]:
    rows = ctx.store.query("SELECT id, start_day, detail FROM anomalies")
    out = {}
    for r in rows:
        detail = json.loads(r["detail"])
        last = max(detail["counted_days"] or [r["start_day"]])
        out[r["id"]] = (r["start_day"], last, detail["root_cause_key"])
    return out


def test_changed_rows_in_a_window_recompute_only_the_anomalies_reading_them(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ctx, engine = _counting(_small_ctx(con, tmp_path))
    first = run_detection(ctx, cfg=_cfg(), statuses=["all"])
    assert first.detected >= 3
    engine.statements.clear()
    assert run_detection(ctx, cfg=_cfg(), statuses=["all"]).new == 0
    assert engine.root_cause_statements() == 0
    before = _keys(ctx)
    # a late row: only anomalies whose counted days reach it read it
    day = END - timedelta(days=3)
    insert(con, [{"day": day, "cost": 0.01, "ResourceId": "r-unrelated"}])
    allocate(con, config_of(TEAM))
    engine.statements.clear()
    third = run_detection(ctx, cfg=_cfg(), statuses=["all"])
    after = _keys(ctx)
    reads = {i for i, (_, last, _) in before.items() if last >= day.isoformat()}
    assert reads and reads != set(before)
    assert 1 <= engine.root_cause_statements() <= len(third.families)
    for i, (_, _, key) in before.items():
        if i not in reads:
            assert after[i][2] == key, i
        else:
            assert after[i][2] != key, i
    found, old, _ = _old_and_new(ctx, _cfg())
    shown = {(tuple(sorted(a.series.items())), a.start_day): a for a in third.anomalies}
    for a, root in zip(found, old, strict=True):
        hit = shown.get((tuple(sorted(a.series.items())), a.start_day))
        assert hit is not None
        assert _plain(hit.root_cause) == root
    ctx.store.close()
