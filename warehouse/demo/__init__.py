"""The deterministic demo company: 90 days of FOCUS 1.2 bills with planted, documented incidents.

Why: allocation, anomaly detection, idle and rightsizing findings, commitment advice and runaway-
agent alerts all need data where the right answer is known. `generate` writes a seeded,
reproducible company whose answers are recorded in `ground_truth.json`, so evals can score the
agent and `finops demo` can show something real without any cloud account. `agent.demo.build`
then ingests the files through the normal path (`resolve_inputs` + `run_ingest`, format `focus`, one
source per provider: `demo-aws`, `demo-azure`, …).

Files written into `out_dir` (one FOCUS parquet per provider with all 57 FOCUS 1.2 columns in the
warehouse types: DECIMAL(38,12) money, naive-UTC TIMESTAMP, JSON `Tags`):

* `aws.parquet` — EC2, RDS, S3 (storage and transfer out), Lambda, AWS Data Transfer in six
  sub-accounts (payments-prod, search-prod, ml-dev, data-prod, web-prod, shared-services); daily.
* `azure.parquet` — Virtual Machines, Storage Accounts, Azure SQL Database; three subscriptions.
* `gcp.parquet` — Compute Engine, BigQuery (analysis, storage), Cloud Storage; three projects.
* `openai.parquet`, `anthropic.parquet` — hourly, per model and API key; uncached input, cached
  input and output tokens are separate rows (`ConsumedUnit` "Tokens", `PricingUnit` "1M Tokens");
  tags carry `project`, `api_key_id` and `agent_id`.
* `snowflake.parquet` — warehouse credits priced at $3.00 (the default contract price), storage.
* `kubernetes.parquet` — OpenCost-style CPU and RAM rows per namespace/controller of cluster
  prod-eu-1 (`ProviderName` "Kubernetes"), including OpenCost's `__idle__` capacity.
* `utilization.parquet` — not FOCUS: hourly `resource_id, ts, metric, value` for every always-on
  VM and Kubernetes controller; metrics `cpu_utilization`, `memory_utilization` (percent) and
  `network_bytes` (in + out per hour).
* `ground_truth.json` — the answers (see `warehouse/demo/truth.py`).
* the inventory and `utilization.parquet` are also loaded into the `resources` / `utilization`
  tables by `build_demo` (see `warehouse/demo/resources.py`), for `finops recommend`.
* `usage.csv` — daily `tasks` per AI agent and `requests` per team for unit economics, written
  and loaded by `build_demo` (see `warehouse/demo/usage.py`).

(Point `finops ingest` at the provider files, not the folder: the folder also holds the three
non-FOCUS files.) Days run from `end - days + 1` to `end` inclusive; callers pass `end`, nothing
here reads the clock.

Planted, with exact identifiers and magnitudes in `ground_truth.json`:

* messy ownership tags: six synonym keys (`team`, `Team`, `owner`, `squad`, `cost-center`,
  `CostCenter`) and value variants (`Payments`, `PAYMENTS`, `payments-team`, `cc-4004`); about 30%
  of spend has no ownership tag but is inferable from the account/project name, a resource-name
  token (`payments-api-c90`) or the Kubernetes namespace. The true team of every account,
  resource and agent is recorded, to score allocation accuracy.
* cost spikes: S3 data transfer out of bucket `search-index-exports` (search-prod) 9 days before
  `end` (25x the day's quantity), and BigQuery analysis in project `data-lake-prod` 23 days
  before `end` (21x).
* a runaway AI agent: Anthropic `ticket-triage-agent` (API key `apikey_triage01`) whose tokens
  jump 22–48x during 09:00–13:00 UTC of the last day — a retry loop, the classic agent failure.
* idle resources (CPU < 3%, almost no network: three EC2 instances, one Azure VM, one Kubernetes
  deployment) and oversized ones (CPU or memory far below the size: two EC2, one GCE), with the
  expected monthly savings of stopping or resizing them.
* commitment opportunities: a 24x7 on-demand EC2 and RDS baseline with no commitment coverage.

`write_scale` writes a large synthetic FOCUS parquet (vectorized, chunked) for benchmarks.

Layout: `catalog` (the company as data tables), `inventory` (tables → billed series), `company`
(series → FOCUS rows and utilization), `truth` (ground truth), `scale` (benchmark files).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from warehouse.demo.catalog import OWNERSHIP_TAG_KEYS, PROVIDERS, TEAMS, WORKLOADS
from warehouse.demo.company import focus_arrow_schema, generate_rows, utilization_table
from warehouse.demo.scale import write_scale
from warehouse.demo.truth import ground_truth

__all__ = [
    "DEMO_CONFIG",
    "DEMO_END",
    "DEMO_SEED",
    "OWNERSHIP_TAG_KEYS",
    "TEAMS",
    "DemoFile",
    "DemoManifest",
    "focus_arrow_schema",
    "generate",
    "write_scale",
]

DEMO_CONFIG = Path(__file__).resolve().parent / "finops.yaml"
"""The demo company's `finops.yaml` (virtual tags, budgets, schedule) `finops demo` installs."""
DEMO_END = date(2026, 11, 27)
DEMO_SEED = 7
MIN_DAYS = 30
"""The planted incidents need a month of history (the BigQuery spike is 23 days before `end`)."""


class DemoFile(BaseModel):
    """One written FOCUS file and the source name it is ingested under."""

    provider: str
    source: str
    path: Path
    rows: int
    sha256: str


class DemoManifest(BaseModel):
    """What `generate` wrote: files, row counts, checksums and the ground-truth path."""

    out_dir: Path
    seed: int
    start: date
    end: date
    files: list[DemoFile]
    utilization_path: Path
    utilization_rows: int
    ground_truth_path: Path

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def generate(
    out_dir: Path, *, seed: int = DEMO_SEED, end: date = DEMO_END, days: int = 90
) -> DemoManifest:
    """Write the demo company's FOCUS files, utilization and ground truth into `out_dir`.

    Example: `generate(Path(".finops/demo"), end=date(2026, 11, 27))` writes `aws.parquet` …
    `kubernetes.parquet`, `utilization.parquet` and `ground_truth.json`; the same seed and `end`
    always produce byte-identical files.
    """
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} (got {days})")
    out_dir.mkdir(parents=True, exist_ok=True)
    day_list = [end - timedelta(days=days - 1 - i) for i in range(days)]
    rng = np.random.default_rng(seed)
    gen = generate_rows(day_list, rng, WORKLOADS)
    util = utilization_table(gen.series, day_list, rng)
    schema = focus_arrow_schema()
    files = []
    for key, provider in PROVIDERS.items():
        path = out_dir / f"{key}.parquet"
        _write(pa.Table.from_pylist(gen.rows[key], schema=schema), path)
        files.append(
            DemoFile(
                provider=provider.name,
                source=provider.source,
                path=path,
                rows=len(gen.rows[key]),
                sha256=_sha256(path),
            )
        )
    util_path = out_dir / "utilization.parquet"
    _write(util, util_path)
    truth_path = out_dir / "ground_truth.json"
    truth = ground_truth(gen, util, seed=seed, days=day_list)
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return DemoManifest(
        out_dir=out_dir,
        seed=seed,
        start=day_list[0],
        end=day_list[-1],
        files=files,
        utilization_path=util_path,
        utilization_rows=util.num_rows,
        ground_truth_path=truth_path,
    )
