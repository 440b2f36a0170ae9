"""Benchmark: anomaly detection over N daily series × D days in the warehouse, vs pandas.

The issue's target: 100,000 daily series × 90 days in under 10 s on this 2-core machine, with the
ratio against a straightforward pandas groupby implementation of the same method, in one run.

* data: `costs` gets one row per resource and day (N resources, D days ending 2026-11-27): a
  log-uniform base cost, weekday/weekend seasonality on 70% of resources, about 6% day noise,
  and a spike (+50% to +300%) on a random day of the last 30 on one resource in 500;
* ours: `tools.anomalies.detect.detect` over the family `ResourceId` (every resource a series,
  no top-N): the one statement that aggregates `costs` into daily series, computes the
  seasonal robust baselines, flags days and groups episodes, with the default settings and the
  default listing window (the last `lookback_days`);
* baseline: `bench.anomalies_pandas.pandas_detect` — one DuckDB aggregation into a DataFrame,
  then the same method with pandas groupby (shift, rolling median, grouped medians, merges);
* agreement: the (resource, start day) episodes of both, and recall of the planted spikes that
  are detectable by the settings (excess ≥ `min_impact` and ≥ `min_percent`);
* root cause: timed separately for up to 5 found anomalies (not part of the target).

ratio = ours / baseline (below 1: ours is faster).

Usage: `python -m bench.anomalies [--series 100000] [--days 90] [--repeat 3] [--window 30]
[--out bench/out]` (results in `<out>/results_anomalies_<series>_<window>d.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from agent.config import Config
from bench.anomalies_pandas import pandas_available, pandas_detect
from bench.timing import median_seconds
from tools.anomalies.config import AnomalyConfig, SeriesSpec
from tools.anomalies.detect import checked_cost, detect, families
from tools.anomalies.rootcause import explain
from tools.query import DuckDBEngine
from warehouse.db import connect

__all__ = ["bench_anomalies", "fill_costs"]

TARGET_S = 10.0
END = date(2026, 11, 27)
SPIKE_EVERY = 500


def _u(seed: str) -> str:
    """A deterministic uniform [0, 1) from a hash of the expression `seed`."""
    return f"((hash({seed}) % 1000003) / 1000003.0)"


def fill_costs(con: duckdb.DuckDBPyConnection, series: int, days: int) -> int:
    """Insert series × days daily cost rows; returns how many spikes were planted."""
    start = END - timedelta(days=days - 1)
    noise = f"(({_u('r.range, d.range, 1')} + {_u('r.range, d.range, 2')} + "
    noise += f"{_u('r.range, d.range, 3')} - 1.5) * 0.12)"
    base = f"exp(ln(2) + {_u('r.range, 7')} * ln(500))"
    weekend = f"CASE WHEN {_u('r.range, 8')} < 0.7 AND isodow(day) >= 6 THEN 0.6 ELSE 1 END"
    spiky = f"(r.range % {SPIKE_EVERY} = 0)"
    spike_day = f"(CAST(floor({_u('r.range, 9')} * 30) AS INTEGER) + {days - 30})"
    factor = f"CASE WHEN {spiky} AND d.range = {spike_day} THEN 1.5 + 2.5 * {_u('r.range, 10')} "
    factor += "ELSE 1 END"
    con.execute(
        f"""
        INSERT INTO costs (BilledCost, EffectiveCost, ListCost, ContractedCost, BillingCurrency,
            ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, BillingPeriodEnd,
            ChargeCategory, ProviderName, ServiceName, SubAccountName, RegionId, SkuId,
            ResourceId, x_SourceName)
        SELECT cost, cost, cost, cost, 'USD', day, day + INTERVAL 1 DAY,
            date_trunc('month', day), date_trunc('month', day) + INTERVAL 1 MONTH, 'Usage',
            'AWS', 'Service ' || CAST(r.range % 20 AS VARCHAR),
            'account-' || CAST(r.range % 500 AS VARCHAR), 'us-east-1',
            'sku-' || CAST(r.range % 50 AS VARCHAR), 'res-' || CAST(r.range AS VARCHAR), 'bench'
        FROM range({series}) AS r, range({days}) AS d,
        LATERAL (SELECT CAST({literal_day(start)} + CAST(d.range AS INTEGER) AS TIMESTAMP) AS day),
        LATERAL (SELECT CAST({base} * {weekend} * (1 + {noise}) * ({factor})
                        AS DECIMAL(38, 12)) AS cost)
        """
    )
    return len(range(0, series, SPIKE_EVERY))


def literal_day(value: date) -> str:
    return f"DATE '{value.isoformat()}'"


def _planted(
    con: duckdb.DuckDBPyConnection, days: int, since: date, cfg: AnomalyConfig
) -> set[tuple[str, date]]:
    """Planted spikes in the window whose excess (vs the same weekday a week before) passes
    `min_impact` and `min_percent` — the ones the detector is asked to find."""
    start = END - timedelta(days=days - 1)
    rows = con.execute(
        f"SELECT 'res-' || CAST(range AS VARCHAR), "
        f"CAST(floor({_u('range, 9')} * 30) AS INTEGER) + {days - 30} FROM range(0, "
        f"(SELECT count(DISTINCT ResourceId) FROM costs), {SPIKE_EVERY})"
    ).fetchall()
    spikes = {(str(k), start + timedelta(days=int(offset))) for k, offset in rows}
    out = set()
    for resource, day in spikes:
        if day < since:
            continue
        now, before = (
            float(con.execute(
                "SELECT sum(BilledCost) FROM costs WHERE ResourceId = ? "
                "AND CAST(ChargePeriodStart AS DATE) = ?",
                [resource, d],
            ).fetchone()[0])  # type: ignore[index]
            for d in (day, day - timedelta(days=7))
        )  # fmt: skip
        excess = now - before
        if excess >= float(cfg.min_impact) and excess >= cfg.min_percent / 100 * before:
            out.add((resource, day))
    return out


def bench_anomalies(
    series: int, days: int, repeat: int, workdir: Path, window: int | None = None
) -> dict[str, Any]:
    con = connect(workdir / "warehouse.duckdb")
    t0 = time.perf_counter()
    fill_costs(con, series, days)
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - t0
    cfg = AnomalyConfig(series=[SeriesSpec(by=["ResourceId"])])
    config, engine = Config(), DuckDBEngine(con)
    window = window or cfg.lookback_days
    since = END - timedelta(days=window - 1)
    found: list[Any] = []
    cpu: dict[str, list[float]] = {"ours": [], "pandas": []}

    def ours(_: object) -> None:
        start = time.process_time()
        found[:] = detect(engine, config, cfg, since=since, until=END)[0]
        cpu["ours"].append(time.process_time() - start)

    mine, mine_all = median_seconds(ours, lambda: None, repeat)
    planted = _planted(con, days, since, cfg)
    ours_set = {(a.series["ResourceId"], a.start_day) for a in found}
    result: dict[str, Any] = {
        "benchmark": "anomaly detection",
        "series": series,
        "days": days,
        "rows": series * days,
        "window": f"{since}..{END}",
        "window_days": window,
        "load_seconds": round(load_s, 2),
        "ours_median_s": round(mine, 3),
        "ours_runs_s": [round(t, 3) for t in mine_all],
        "ours_cpu_s": [round(t, 2) for t in cpu["ours"]],
        "target_s": TARGET_S,
        "meets_target": mine < TARGET_S,
        "anomalies_found": len(found),
        "planted_detectable": len(planted),
        "recall_planted": round(len(planted & ours_set) / len(planted), 3) if planted else None,
        "other_anomalies_per_10k_series_days": round(
            len(ours_set - planted) / (series * window) * 10_000, 2
        ),
    }
    fams = families(engine, config, cfg)
    cost = checked_cost(engine, config, cfg.metric)
    t1 = time.perf_counter()
    for a in found[:5]:
        explain(engine, config, cfg, a, fams[0], cost)
    result["root_cause_s_per_anomaly"] = round(
        (time.perf_counter() - t1) / max(1, len(found[:5])), 3
    )
    if pandas_available():
        theirs: set[tuple[str, date]] = set()

        def baseline(_: object) -> None:
            start = time.process_time()
            theirs.clear()
            theirs.update(pandas_detect(con, cfg, since, END))
            cpu["pandas"].append(time.process_time() - start)

        base, base_all = median_seconds(baseline, lambda: None, max(1, min(repeat, 2)))
        result |= {
            "pandas_median_s": round(base, 3),
            "pandas_runs_s": [round(t, 3) for t in base_all],
            "pandas_cpu_s": [round(t, 2) for t in cpu["pandas"]],
            "ratio_ours_over_pandas": round(mine / base, 3),
            "speedup_vs_pandas": round(base / mine, 1),
            "episodes_agree": theirs == ours_set,
            "episodes_only_ours": len(ours_set - theirs),
            "episodes_only_pandas": len(theirs - ours_set),
        }
    else:
        result["pandas"] = "not installed (pip install pandas): baseline skipped"
    result["duckdb"] = duckdb.__version__
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    con.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--window", type=int, default=None, help="Days listed (default lookback_days, 30)."
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    if args.days < 60:
        parser.error("--days must be at least 60 (30 scored days plus the baselines' history)")
    with tempfile.TemporaryDirectory() as tmp:
        result = bench_anomalies(args.series, args.days, args.repeat, Path(tmp), args.window)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"results_anomalies_{args.series}_{result['window_days']}d.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
