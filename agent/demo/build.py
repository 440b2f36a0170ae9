"""Build the demo warehouse: generate the demo company, then load it through the normal paths.

Each provider file is ingested like `finops ingest` does (one transaction per file, source
`demo-<provider>`); the usage CSV goes through the unit-economics loader and the inventory into the
`resources` / `utilization` tables, so every command has real data to work on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
from pydantic import BaseModel

from tools.settings import ToolSettings
from tools.units.usage_csv import UsageLoadResult, load_usage_csv
from warehouse.demo import DEMO_END, DEMO_SEED, DemoFile, DemoManifest, generate
from warehouse.demo.resources import load_demo_inventory
from warehouse.demo.usage import USAGE_SOURCE, write_demo_usage
from warehouse.ingest import IngestReport, resolve_inputs, run_ingest

__all__ = ["DemoResult", "build_demo", "build_demo_usage"]


class DemoResult(BaseModel):
    """What `build_demo` did: the manifest and one ingest report per provider file."""

    manifest: DemoManifest
    reports: list[IngestReport]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.reports)


def build_demo_usage(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    out_dir: Path,
    *,
    start: date,
    end: date,
    seed: int,
) -> UsageLoadResult:
    """Write `out_dir/usage.csv` and load it as source `demo-usage` (a rerun replaces it)."""
    usage = write_demo_usage(out_dir / "usage.csv", start=start, end=end, seed=seed)
    return load_usage_csv(con, usage.path, config=config, source=USAGE_SOURCE)


def build_demo(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    out_dir: Path,
    *,
    seed: int = DEMO_SEED,
    end: date = DEMO_END,
    days: int = 90,
    on_file: Callable[[DemoFile], None] | None = None,
) -> DemoResult:
    """Generate the demo company into `out_dir`, then ingest each provider file as `demo-<key>`.

    One ingest (one transaction) per provider file, through the same path as `finops ingest`;
    `on_file` is called after each one (for a progress bar). Re-running replaces the same
    billing periods of each `demo-*` source.
    """
    manifest = generate(out_dir, seed=seed, end=end, days=days)
    reports = []
    for f in manifest.files:
        files = resolve_inputs([str(f.path)], out_dir)
        reports.append(run_ingest(con, files, config=config, fmt="focus", source=f.source))
        if on_file:
            on_file(f)
    build_demo_usage(con, config, out_dir, start=manifest.start, end=manifest.end, seed=seed)
    collected = datetime.combine(manifest.end + timedelta(days=1), time())
    load_demo_inventory(con, out_dir, collected_at=collected)
    return DemoResult(manifest=manifest, reports=reports)
