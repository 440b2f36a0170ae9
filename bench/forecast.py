"""Benchmark: forecast accuracy (rolling-origin backtest vs seasonal-naive) and speed.

Accuracy, measured in one run with `tools.forecast.backtest.backtest` (the code behind
`finops forecast --backtest`), ours against seasonal-naive on the same origins:

* the demo company (90 days ending 2026-11-27): the total, by ProviderName, by ServiceName and
  by vtag:team (the demo's finops.yaml);
* 10 messy synthetic series (trend, weekly shape, noise, one level shift, 2% spike days) and 10
  clean ones (no shift, no spikes), 150 days each (`warehouse.demo.series`).

Speed: one fit, a `forecast(by=ProviderName)` call and a full `refresh_forecasts` on the demo.

Usage: `python -m bench.forecast [--out bench/out]` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from agent.config import Config, parse_config
from agent.demo.build import build_demo
from tools.forecast.backtest import BacktestQuery, BacktestResult, backtest
from tools.forecast.model import fit
from tools.forecast.service import ForecastQuery, forecast
from tools.forecast.store import refresh_forecasts
from tools.query import DuckDBEngine
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect
from warehouse.demo import DEMO_CONFIG
from warehouse.demo.series import insert_series, synthetic_series

SYN_END = date(2026, 10, 31)


def _row(label: str, r: BacktestResult, seconds: float) -> dict[str, Any]:
    return {
        "scope": label,
        "series": r.series,
        "seconds": round(seconds, 2),
        "beats_baseline": r.beats_baseline,
        "horizons": {
            h.horizon: {
                "points": h.points,
                "mape": [h.ours.mape, h.baseline.mape],
                "wape": [h.ours.wape, h.baseline.wape],
                "coverage": h.coverage,
            }
            for h in r.horizons
        },
    }


def _print(row: dict[str, Any]) -> None:
    beats = row["beats_baseline"]
    print(f"{row['scope']}: {row['series']} series, {row['seconds']} s, beats: {beats}")
    for name, h in row["horizons"].items():
        (mo, mb), (wo, wb) = h["mape"], h["wape"]
        cov = h["coverage"]
        print(
            f"  {name:14s} n={h['points']:5d}  MAPE ours {mo:6.2f}% s-naive {mb:6.2f}%  "
            f"WAPE ours {wo:6.2f}% s-naive {wb:6.2f}%  coverage 80/95: {cov['80']}/{cov['95']}"
        )


def _backtest(label: str, con: Any, config: Config, by: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    result = backtest(DuckDBEngine(con), config, BacktestQuery(by=by))
    row = _row(label, result, time.perf_counter() - started)
    _print(row)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    results: dict[str, Any] = {"accuracy": [], "speed": {}}
    with tempfile.TemporaryDirectory(prefix="finops-bench-forecast-") as tmp:
        root = Path(tmp)
        con = connect(root / "demo.duckdb")
        build_demo(con, Config(), root / "data")
        config = parse_config(yaml.safe_load(DEMO_CONFIG.read_text()), str(DEMO_CONFIG))
        ensure_allocation(con, config)
        for by in (None, "ProviderName", "ServiceName", "vtag:team"):
            results["accuracy"].append(_backtest(f"demo {by or 'total'}", con, config, by))
        started = time.perf_counter()
        forecast(DuckDBEngine(con), config, ForecastQuery(by="ProviderName"))
        results["speed"]["forecast_by_provider_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        stored = refresh_forecasts(con, config)
        results["speed"]["refresh_s"] = round(time.perf_counter() - started, 3)
        results["speed"]["refresh_rows"] = stored.rows
        con.close()
        for label, messy, seed in (("synthetic messy", True, 11), ("synthetic clean", False, 12)):
            scon = connect(root / f"{label.split()[1]}.duckdb")
            insert_series(scon, synthetic_series(seed, 150, SYN_END, messy=messy), SYN_END)
            results["accuracy"].append(_backtest(label, scon, Config(), "ProviderName"))
            scon.close()
    series = synthetic_series(3, 120, SYN_END, count=1)[0]
    started = time.perf_counter()
    for _ in range(50):
        fit(series, 0)
    results["speed"]["fit_120_days_ms"] = round((time.perf_counter() - started) / 50 * 1000, 2)
    print("speed:", results["speed"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "forecast.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
