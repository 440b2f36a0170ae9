"""Benchmark: `finops anomalies` end to end, as a ratio to the detection query alone (issue 23).

What `finops anomalies` runs (`tools.anomalies.service.run_detection`: detection, root cause,
store reconciliation) on the synthetic 10⁶-row FOCUS data of `warehouse.demo.write_scale`,
ingested through `finops ingest`'s code, with the five virtual tags of `bench.vtags` (so
`vtag:team` is a series family and a root-cause dimension), default anomaly settings:

* baseline: `tools.anomalies.detect.detect` alone — the one detection statement;
* before (`--before-repeat` runs, default 1: it is the slow one): the service as committed at
  `git HEAD` when it still explains anomaly by anomaly (loaded from git into a module of its
  own; it calls the per-anomaly `explain`), fresh state;
* first run: today's service on a fresh state.db (every anomaly new: one statement per family);
* second run: today's service again on the state the first run wrote (data unchanged: every
  stored explanation reused, no root-cause statement).

Opening (and migrating) a new state.db is not timed. Each figure is the median of `--repeat`
runs, in process CPU seconds (every DuckDB thread counted; robust when other work shares the
machine) and wall seconds; ratios are to the baseline of the same run. Root-cause statements are
counted through an engine wrapper, and every shown anomaly's root cause, owner and incident are
compared with the "before" run's.
The load average is recorded before and after.

Usage: `python -m bench.rootcause [--rows 1000000] [--repeat 3] [--out bench/out]`
(results in `<out>/results_rootcause_<rows>.json`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.run import ingest_focus, scale_parquet, write_results
from bench.vtags import vtag_config
from guardrails.approvals import Ledger
from guardrails.audit import AuditLog
from tools.anomalies.detect import detect, settings
from tools.anomalies.service import _thresholds, _window, run_detection
from tools.anomalies.store import AnomalyStore
from tools.context import ToolContext
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect
from warehouse.engines import DuckDBEngine, Engine
from warehouse.state.store import StateStore

__all__ = ["bench_rootcause", "main"]

TARGET = 1.5


@dataclass
class Counting:
    """An engine that counts the root-cause statements (they rank values into `(other)`)."""

    inner: Engine
    root_cause: int = 0
    statements: int = 0
    dialect: str = field(default="")

    def __post_init__(self) -> None:
        self.dialect = self.inner.dialect

    def _seen(self, sql: str) -> None:
        self.statements += 1
        self.root_cause += "'(other)'" in sql

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        self._seen(sql)
        return self.inner.fetch(sql)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        self._seen(sql)
        return self.inner.query(sql, params)

    def tables(self) -> set[str]:
        return self.inner.tables()

    def execute(self, sql: str, params: Any = None) -> None:
        self.inner.execute(sql, params)

    def transaction(self) -> Any:
        return self.inner.transaction()


def _old_service() -> tuple[types.ModuleType, str]:
    """`tools/anomalies/service.py` as committed at HEAD (the per-anomaly root cause)."""
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    source = subprocess.run(
        ["git", "show", "HEAD:tools/anomalies/service.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("bench_old_anomaly_service")
    exec(compile(source, "HEAD:tools/anomalies/service.py", "exec"), module.__dict__)
    return module, commit


def _ctx(con: Any, state: Path, config: Any) -> tuple[ToolContext, Counting]:
    store = StateStore(state)
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def clock() -> datetime:
        return now

    audit = AuditLog(store, clock)
    engine = Counting(DuckDBEngine(con))
    ctx = ToolContext(
        config=config,
        store=store,
        ledger=Ledger(store, audit, config, clock),
        audit=audit,
        clock=clock,
        warehouse=lambda: con,
        actor="cli",
        _engine=engine,
    )
    return ctx, engine


def _measure(
    run: Callable[[Any], Any], repeat: int, setup: Callable[[], Any] = lambda: None
) -> dict[str, Any]:
    """Median CPU and wall seconds of `run(setup())` (the setup is not timed)."""
    cpu, wall = [], []
    for _ in range(repeat):
        state = setup()
        c0, w0 = time.process_time(), time.perf_counter()
        run(state)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        "cpu_s": round(statistics.median(cpu), 3),
        "wall_s": round(statistics.median(wall), 3),
        "cpu_runs": [round(t, 3) for t in cpu],
    }


def _differences(reports: dict[str, Any]) -> dict[str, int]:
    """Anomalies whose root cause, owner or incident differ from the per-anomaly path's."""

    def seen(report: Any) -> dict[str, Any]:
        return {
            a.id: (
                {d: [c.model_dump(mode="json") for c in cs] for d, cs in a.root_cause.items()},
                a.owner,
                a.incident,
            )
            for a in report.anomalies
        }

    old = seen(reports["before"])
    out = {}
    for name in ("first", "second"):
        new = seen(reports[name])
        out[name] = sum(new.get(k) != v for k, v in old.items()) + len(set(new) - set(old))
    return out


def bench_rootcause(rows: int, repeat: int, out: Path, before_repeat: int = 1) -> dict[str, Any]:
    parquet = scale_parquet(out, rows)
    config = vtag_config()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-rootcause-") as tmp:
        work = Path(tmp)
        con = connect(work / "warehouse.duckdb")
        ingest_focus(con, parquet)
        ensure_allocation(con, config)
        old, commit = _old_service()
        counter = iter(range(10**6))

        def fresh() -> tuple[ToolContext, Counting]:
            return _ctx(con, work / f"state-{next(counter)}.db", config)

        probe, _ = fresh()
        cfg = settings(config)
        since, until = _window(probe, cfg, None, None)
        thresholds = _thresholds(AnomalyStore(probe.store), cfg)

        def detection(_: Any = None) -> None:
            detect(probe.engine(), config, cfg, since=since, until=until, thresholds=thresholds)

        counts: dict[str, Any] = {}
        reports: dict[str, Any] = {}

        def before(state: tuple[ToolContext, Counting]) -> None:
            ctx, engine = state
            report = old.run_detection(ctx)
            counts["before"] = (engine.root_cause, report.detected)
            reports["before"] = report
            ctx.store.close()

        second_ctx: list[tuple[ToolContext, Counting]] = []

        def first(state: tuple[ToolContext, Counting]) -> None:
            ctx, engine = state
            report = run_detection(ctx)
            counts["first"] = (engine.root_cause, report.detected)
            reports["first"] = report
            second_ctx.append((ctx, engine))

        def second(_: Any = None) -> None:
            ctx, engine = second_ctx[-1]
            engine.root_cause = 0
            report = run_detection(ctx)
            counts["second"] = (engine.root_cause, report.detected)
            reports["second"] = report

        detection()  # warm the caches once, for every variant alike
        times = {
            "detect": _measure(detection, repeat),
            "before": _measure(before, before_repeat, fresh),
            "first_run": _measure(first, repeat, fresh),
            "second_run": _measure(second, repeat),
        }
        for ctx, _ in second_ctx:
            ctx.store.close()
        probe.store.close()
        con.close()
    base = times["detect"]["cpu_s"]
    ratios = {k: round(v["cpu_s"] / base, 2) for k, v in times.items() if k != "detect"}
    wall = {k: round(v["wall_s"] / times["detect"]["wall_s"], 2) for k, v in times.items()}
    return {
        "rows": rows,
        "repeat": repeat,
        "cores": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "before_commit": commit,
        "window": [since.isoformat(), until.isoformat()],
        "times": times,
        "ratio_cpu_to_detect": ratios,
        "ratio_wall_to_detect": {k: v for k, v in wall.items() if k != "detect"},
        "root_cause_statements": {k: v[0] for k, v in counts.items()},
        "anomalies_shown": len(reports["before"].anomalies),
        "differences_from_before": _differences(reports),
        "anomalies_detected": {k: v[1] for k, v in counts.items()},
        "target_ratio": TARGET,
        "first_run_meets_target": ratios["first_run"] <= TARGET,
        "second_run_meets_target": ratios["second_run"] <= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before-repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    result = bench_rootcause(args.rows, args.repeat, args.out, args.before_repeat)
    write_results(args.out / f"results_rootcause_{args.rows}.json", result)


if __name__ == "__main__":
    main()
