"""Issue 6's quality bar through the real protocol: the unseen fleet seeded into moto's server.

The fleet of tests/doubles/optimize_fleet.py (seed 29, 45 instances: other families, three regions,
three weeks of hourly CPU, memory and network with batch bursts, look-alike negatives, protected
instances by inventory tag or by bill tag) is planted in a scratch warehouse, read back, and
replayed into moto on 127.0.0.1: same instance types, regions and tags through RunInstances,
the hourly series of the optimizer's window (14 days) through PutMetricData (CWAgent
mem_used_percent for memory). The bills go to the test warehouse under moto's instance ids. Then
the real collector (`collect_aws`, boto3, once a day over the window) builds inventory and
utilization, and `recommend` runs through a ToolContext.

Bar: at least 90% of the planted idle and oversized instances found (precision printed and held
to 90% as well), no protected instance ever in a finding, and every recommended type holds the
measured p99.5 CPU and peak memory with the configured headroom, computed from the seeded series.
Run with `pytest -s` to see the figures.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.doubles.moto_fleet import (
    CLOUDWATCH,
    Planted,
    collect_daily,
    cost_rows,
    launch,
    put_history,
    read_planted,
    unsupported,
)
from tests.doubles.optimize_fleet import DAYS, Fleet, build_fleet
from tests.helpers.anomalies import make_ctx
from tests.helpers.optimize import add_costs
from tools.optimize.config import OptimizeConfig, RightsizeConfig, settings
from tools.optimize.engine import recommend
from tools.optimize.models import OptimizationReport
from tools.optimize.prices import price_table
from warehouse.db import connect

SEED, INSTANCES = 29, 45
_DEFAULTS = OptimizeConfig()
HISTORY_DAYS = max(_DEFAULTS.idle.lookback_days, _DEFAULTS.rightsize.lookback_days)
"""Days of hourly history put into CloudWatch and collected: the optimizer's longest window for
instances (the fleet plants 21; the older days are read by no rule, and moto's GetMetricData
cost grows with every datapoint)."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto_endpoint(moto_server: str) -> str:
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    return moto_server


@dataclass
class Run:
    """What was planted, what moto hosts, and what the optimizer said."""

    fleet: Fleet
    planted: dict[str, Planted]
    ids: dict[str, str]  # planted id → moto instance id (hosted instances only)
    excluded: dict[str, str]  # planted id → why moto could not host it
    con: duckdb.DuckDBPyConnection
    report: OptimizationReport
    rightsize: RightsizeConfig
    datums: int
    seconds: dict[str, float]
    _planted_ids: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._planted_ids = {moto: planted for planted, moto in self.ids.items()}

    def back(self, moto_id: str | None) -> str:
        """A finding's resource id → the planted id (unchanged when it is not a moto instance)."""
        return self._planted_ids.get(moto_id or "", moto_id or "")

    def hosted(self, planted: set[str]) -> set[str]:
        return planted & set(self.ids)


def _plant(tmp_path: Path) -> tuple[Fleet, dict[str, Planted]]:
    scratch = connect(tmp_path / "scratch.duckdb")
    fleet = build_fleet(scratch, SEED, instances=INSTANCES)
    planted = read_planted(scratch)
    scratch.close()
    return fleet, planted


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> Iterator[Run]:
    home = tmp_path_factory.mktemp("moto-fleet")
    clock, seconds = time.perf_counter(), {}
    fleet, planted = _plant(home)
    excluded = unsupported(moto_endpoint, planted.values())
    hosted = [p for rid, p in planted.items() if rid not in excluded]
    ids = launch(moto_endpoint, hosted)
    first = fleet.end - timedelta(days=HISTORY_DAYS - 1)
    datums = put_history(moto_endpoint, hosted, ids, datetime.combine(first, datetime.min.time()))
    seconds["seed"], clock = time.perf_counter() - clock, time.perf_counter()
    con = connect(home / "warehouse.duckdb")
    add_costs(con, cost_rows(hosted, ids))
    regions = sorted({p.region for p in hosted})
    results, sleeps = collect_daily(con, moto_endpoint, regions, first, fleet.end)
    assert sleeps == [] and all(r.warnings == [] for r in results)
    seconds["collect"], clock = time.perf_counter() - clock, time.perf_counter()
    ctx = make_ctx(con, home)
    report = recommend(ctx)
    seconds["recommend"] = time.perf_counter() - clock
    rightsize = settings(ctx.config).rightsize
    yield Run(fleet, planted, ids, excluded, con, report, rightsize, datums, seconds)
    con.close()


def _share(hit: set[str], wanted: set[str]) -> float:
    return len(hit & wanted) / len(wanted) if wanted else 1.0


def _figures(r: Run) -> str:
    return (
        f"seed {SEED}, {len(r.planted)} planted instances, {len(r.ids)} hosted in moto, "
        f"{len(r.excluded)} excluded ({sorted(set(r.excluded.values()))}), {r.datums} "
        f"CloudWatch datapoints; seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items())
    )


def test_every_planted_instance_is_hosted_or_explicitly_excluded(run: Run) -> None:
    r = run
    print(f"\nmoto fleet: {_figures(r)}")
    for rid, why in sorted(r.excluded.items()):
        print(f"  excluded {rid}: {why}")
    assert set(r.ids) | set(r.excluded) == set(r.planted) and not set(r.ids) & set(r.excluded)
    assert len(r.planted) == INSTANCES and len(set(r.ids.values())) == len(r.ids)
    # The bar must stay meaningful after exclusions.
    assert len(r.hosted(r.fleet.idle - r.fleet.protected)) >= 8, _figures(r)
    assert len(r.hosted(r.fleet.oversized - r.fleet.protected)) >= 8, _figures(r)


def test_collector_reads_back_the_planted_inventory_and_series_exactly(run: Run) -> None:
    r = run
    rows = r.con.execute(
        "SELECT resource_id, instance_type, region, state, CAST(tags AS VARCHAR) FROM resources "
        "WHERE kind = 'ec2_instance'"
    ).fetchall()
    inventory = {
        r.back(rid): (itype, region, state, tags) for rid, itype, region, state, tags in rows
    }
    assert set(inventory) == set(r.ids)
    for rid, (itype, region, state, tags) in inventory.items():
        p = r.planted[rid]
        assert (itype, region, state) == (p.instance_type, p.region, "running")
        assert all(f'"{k}"' in tags and f'"{v}"' in tags for k, v in p.tags.items()), tags
    measured: dict[tuple[str, str], list[tuple[object, float]]] = {}
    for rid, metric, ts, value in r.con.execute(
        "SELECT resource_id, metric, ts, value FROM utilization ORDER BY resource_id, metric, ts"
    ).fetchall():
        measured.setdefault((r.back(rid), metric), []).append((ts, float(value)))
    hours = HISTORY_DAYS * 24
    planted = {
        (rid, metric): series[-hours:]
        for rid in r.ids
        for metric, series in r.planted[rid].series.items()
        if metric in CLOUDWATCH
    }
    assert all(len(r.planted[rid].series["cpu_percent"]) == DAYS * 24 for rid in r.ids)
    assert set(measured) == set(planted)
    assert all(measured[key] == planted[key] for key in planted)  # same hours, same values
    assert sum(map(len, planted.values())) == r.datums


def test_finds_at_least_90_percent_of_planted_idle_and_oversized_instances(run: Run) -> None:
    r, fleet = run, run.fleet
    idle = {r.back(f.resource_id) for f in r.report.findings if f.kind == "idle"}
    resized = {r.back(f.resource_id) for f in r.report.findings if f.rule == "instance_rightsize"}
    planted_idle = r.hosted(fleet.idle - fleet.protected)
    planted_big = r.hosted(fleet.oversized - fleet.protected)
    recall_idle, recall_big = _share(idle, planted_idle), _share(resized, planted_big)
    flagged = idle | resized
    right = (idle & fleet.idle) | (resized & fleet.oversized)
    precision = len(right) / len(flagged) if flagged else 1.0
    saving = r.report.by_kind["idle"] + r.report.by_kind["rightsize"]
    figures = (
        f"idle recall {recall_idle:.1%} ({len(idle & planted_idle)}/{len(planted_idle)}), "
        f"oversized recall {recall_big:.1%} ({len(resized & planted_big)}/{len(planted_big)}), "
        f"precision {precision:.1%} ({len(right)}/{len(flagged)}), saving {r.report.currency} "
        f"{saving}/month (bills {r.report.bills_since}..{r.report.bills_until}); {_figures(r)}; "
        f"missed {sorted((planted_idle - idle) | (planted_big - resized))}, "
        f"wrong {sorted(flagged - right)}"
    )
    print(f"\nmoto fleet: {figures}")
    assert recall_idle >= 0.9, figures
    assert recall_big >= 0.9, figures
    assert precision >= 0.9, figures


def test_no_protected_instance_is_ever_proposed(run: Run) -> None:
    r, fleet = run, run.fleet
    protected = r.hosted(fleet.protected)
    found = {r.back(f.resource_id) for f in r.report.findings}
    skipped = {r.back(s.resource_id) for s in r.report.skipped_protected}
    message = f"protected {sorted(protected)}, skipped {sorted(skipped)}; {_figures(r)}"
    assert protected, message  # the seed plants some, by inventory tag and by bill tag
    by_tag = {rid for rid in protected if r.planted[rid].tags.get("finops:protected") == "true"}
    assert by_tag and protected - by_tag, message
    assert not found & protected, message
    assert skipped == protected, message


def test_every_rightsizing_fits_the_measured_peak_with_the_configured_headroom(run: Run) -> None:
    r, cfg = run, run.rightsize
    hours = cfg.lookback_days * 24
    resized = [f for f in r.report.findings if f.rule == "instance_rightsize"]
    assert resized
    for f in resized:
        p = r.planted[r.back(f.resource_id)]
        current = price_table().lookup("aws", p.instance_type, p.region)
        new = price_table().lookup("aws", f.recommended, p.region)
        assert current is not None and new is not None, f.recommended
        assert f.current == p.instance_type and new.family == current.family
        assert new.price < current.price and new.vcpu <= current.vcpu
        cpu = np.array([v for _, v in p.series["cpu_percent"][-hours:]])
        mem = np.array([v for _, v in p.series["memory_percent"][-hours:]])
        cpu_need = np.percentile(cpu, cfg.cpu_percentile) / 100 * current.vcpu
        mem_need = np.percentile(mem, cfg.memory_percentile) / 100 * current.memory_gib
        detail = f"{p.rid} → {f.resource_id}: {p.instance_type} → {f.recommended}"
        assert new.vcpu >= cpu_need * (1 + cfg.cpu_headroom_percent / 100) - 1e-6, detail
        assert new.memory_gib >= mem_need * (1 + cfg.memory_headroom_percent / 100) - 1e-6, detail
        assert new.vcpu >= cpu.max() / 100 * current.vcpu, detail  # the absolute peak fits too
