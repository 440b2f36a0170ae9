"""Benchmarks for the foundation: ingest throughput and two-dimension breakdown latency.

Each figure is a ratio against DuckDB itself, measured in the same run on the same file:

* ingest: `finops ingest` of an N-row FOCUS parquet vs DuckDB's own
  `CREATE TABLE … AS SELECT * FROM read_parquet(…)` (speed ratio = baseline time / our time;
  the target is ≥ 0.7);
* breakdown: `tools.spend.engine.spend(by=[ServiceName, SubAccountId])` vs the same GROUP BY
written in
  plain DuckDB SQL (target: median under 1 s at 10 M rows);
* with `--vtags`, also virtual-tag allocation on the same loaded warehouse (`bench.vtags`).

Usage: `python -m bench.run [--rows 10000000] [--repeat 3] [--out bench/out] [--vtags]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from agent.config import Config
from bench.timing import median_seconds
from tools.query import DuckDBEngine
from tools.spend.engine import SpendQuery, spend
from warehouse.db import connect
from warehouse.demo import write_scale
from warehouse.ingest import LocalFile, run_ingest


def _fresh_db(workdir: Path, name: str) -> duckdb.DuckDBPyConnection:
    path = workdir / f"{name}.duckdb"
    for p in (path, path.with_suffix(".duckdb.wal")):
        p.unlink(missing_ok=True)
    return connect(path) if name == "ours" else duckdb.connect(str(path))


def scale_parquet(out: Path, rows: int) -> Path:
    """The synthetic N-row FOCUS parquet in `out`, written on first use (same seed, same file)."""
    parquet = out / f"focus_{rows}.parquet"
    if not parquet.exists():
        write_scale(parquet, rows)
    return parquet


def ingest_focus(con: duckdb.DuckDBPyConnection, parquet: Path) -> None:
    """Load the parquet through `run_ingest`, the code behind `finops ingest --format focus`."""
    run_ingest(con, [LocalFile(parquet, str(parquet))], config=Config(), fmt="focus")


def write_results(path: Path, result: dict[str, Any]) -> None:
    """Write a benchmark's result as indented JSON and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def bench_ingest(parquet: Path, workdir: Path, repeat: int) -> dict[str, Any]:
    """Time our ingest and DuckDB's CTAS on the same parquet file."""

    def baseline(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{parquet}')")
        con.close()

    def ours(con: duckdb.DuckDBPyConnection) -> None:
        ingest_focus(con, parquet)
        con.close()

    base, base_all = median_seconds(baseline, lambda: _fresh_db(workdir, "baseline"), repeat)
    mine, mine_all = median_seconds(ours, lambda: _fresh_db(workdir, "ours"), repeat)
    return {
        "baseline_ctas_s": round(base, 3),
        "finops_ingest_s": round(mine, 3),
        "speed_ratio": round(base / mine, 3),
        "runs": {
            "baseline": [round(t, 3) for t in base_all],
            "ours": [round(t, 3) for t in mine_all],
        },
    }


def bench_breakdown(warehouse: Path, repeat: int) -> dict[str, Any]:
    """Median latency of a two-dimension breakdown, ours vs plain SQL, on a loaded warehouse."""
    con = duckdb.connect(str(warehouse))
    engine = DuckDBEngine(con)
    query = SpendQuery(by=["ServiceName", "SubAccountId"])
    plain = (
        "SELECT ServiceName, SubAccountId, sum(BilledCost) FROM costs GROUP BY ALL ORDER BY 3 DESC"
    )
    rows = con.execute("SELECT count(*) FROM costs").fetchone()
    spend(engine, Config(), query)
    ours, ours_all = median_seconds(lambda _: spend(engine, Config(), query), lambda: None, repeat)
    base, base_all = median_seconds(lambda _: con.execute(plain).fetchall(), lambda: None, repeat)
    con.close()
    return {
        "rows": rows[0] if rows else 0,
        "plain_sql_median_s": round(base, 4),
        "finops_spend_median_s": round(ours, 4),
        "overhead_ratio": round(ours / base, 3),
        "runs": {"plain": [round(t, 4) for t in base_all], "ours": [round(t, 4) for t in ours_all]},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument(
        "--vtags", action="store_true", help="also benchmark virtual-tag allocation (bench.vtags)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    parquet = scale_parquet(args.out, args.rows)
    result: dict[str, Any] = {"rows": args.rows}
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        workdir = Path(tmp)
        result["ingest"] = bench_ingest(parquet, workdir, args.repeat)
        result["breakdown"] = bench_breakdown(workdir / "ours.duckdb", max(args.repeat, 5))
        if args.vtags:
            from bench.vtags import bench_vtags  # bench.vtags imports this module

            explain_to = args.out / f"vtags_explain_{args.rows}.txt"
            result["vtags"] = bench_vtags(
                workdir / "ours.duckdb", args.repeat, explain_to=explain_to
            )
        shutil.rmtree(workdir, ignore_errors=True)
    write_results(args.out / "results.json", result)
    return result


if __name__ == "__main__":
    main()
