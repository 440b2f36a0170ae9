"""The suite's datasets: where the raw files are, how a user would load them, and the `bill` view
the truths are computed from — plain DuckDB SQL over the raw file, never the project's warehouse.

Definitions, kept identical to how `finops ingest` maps each source (warehouse/ingest), so a
right answer and its truth mean the same thing:

* a period's spend is the sum over rows whose charge period *starts* in it (ChargePeriodStart,
  UTC); a month is a calendar month, "between X and Y" / "from A to B" include both days, "last N
  days" are the N full days before the day asked (today excluded), YTD runs from 1 January to
  the last charge day;
* spend is BilledCost unless the question names another metric: "amortized"/"effective" is
  EffectiveCost, "list"/"on-demand" is ListCost; every charge category (usage, purchases, tax,
  credits, refunds) counts unless the question names one;
* AWS CUR (Athena parquet), as `warehouse/ingest/aws_cur.py` maps it: BilledCost is
  `line_item_net_unblended_cost` when present, else `line_item_unblended_cost`; EffectiveCost is
  `reservation_effective_cost` on DiscountedUsage, the unused upfront + recurring fee on RIFee,
  0 on an RI's upfront Fee, else BilledCost (the file has no Savings Plan lines); ListCost is
  `pricing_public_on_demand_cost` on usage lines (else BilledCost); ServiceName is
  `product_product_name` (else the product code); SubAccountId is `line_item_usage_account_id`
  (the CUR has no account names); RegionId is `product_region`; ChargeCategory comes from
  `line_item_line_item_type` (Usage / DiscountedUsage → Usage, RIFee / Fee → Purchase, Tax, Credit,
  Refund → Adjustment); tags are the `resource_tags_user_*` columns without the prefix;
* FOCUS files: the columns as written (the string `NULL` is a null);
* the generated company: its FOCUS columns, plus `team` = the first ownership tag (`team`,
  `owner`, `cost-center`, any case) normalized (lower case, separators → `-`) and mapped through
  the aliases of its `finops.yaml`, else `unallocated`; `environment` = `prod` for accounts
  named `…-prod`, else `nonprod` — the definitions its `finops.yaml` declares.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import yaml

from evals.questions.company import CONFIG, write_company
from warehouse.errors import ConfigError

__all__ = ["DATA", "DATASETS", "Dataset", "build_home", "truth_connection"]

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
"""The shared real billing files (`../shared/data` from the project root)."""
CUR_FILE = DATA / "aws-cur" / "Oct2018-WorkshopCUR-00001.snappy.parquet"
FOCUS_FILE = DATA / "focus" / "focus_sample_1000.csv"

_CUR_USAGE = "('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')"
_CUR_VIEW = f"""
CREATE OR REPLACE VIEW bill AS
WITH raw AS (
  SELECT *, NULLIF(trim(line_item_line_item_type), '') AS lt,
         CAST(line_item_unblended_cost AS DECIMAL(38,12)) AS billed_
  FROM read_parquet('{{file}}')
)
SELECT
  CAST(line_item_usage_start_date AS TIMESTAMP) AS ts,
  'AWS' AS provider,
  coalesce(NULLIF(trim(product_product_name), ''), line_item_product_code) AS service,
  CAST(NULL AS VARCHAR) AS service_category,
  bill_payer_account_id AS billing_account_id,
  CAST(NULL AS VARCHAR) AS billing_account_name,
  line_item_usage_account_id AS account_id,
  CAST(NULL AS VARCHAR) AS account_name,
  NULLIF(trim(product_region), '') AS region,
  NULLIF(trim(product_location), '') AS region_name,
  CASE WHEN lt = 'Tax' THEN 'Tax'
       WHEN lt IN ('Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee')
         THEN 'Purchase'
       WHEN lt IN {_CUR_USAGE} OR lt = 'SavingsPlanNegation' OR lt LIKE '%Discount' THEN 'Usage'
       WHEN lt = 'Credit' THEN 'Credit' WHEN lt = 'Refund' THEN 'Adjustment' END
    AS charge_category,
  CASE WHEN lt = 'Refund' OR bill_bill_type = 'Refund' THEN 'Correction' END AS charge_class,
  CASE WHEN NULLIF(trim(reservation_reservation_a_r_n), '') IS NOT NULL
       THEN 'Reserved Instances (RI)' END AS commitment_type,
  NULLIF(trim(line_item_resource_id), '') AS resource,
  CASE WHEN lt IN {_CUR_USAGE} THEN NULLIF(trim(pricing_unit), '') END AS unit,
  CASE WHEN lt IN {_CUR_USAGE} THEN CAST(line_item_usage_amount AS DECIMAL(38,12)) END AS qty,
  billed_ AS billed,
  CASE WHEN lt = 'DiscountedUsage'
         THEN coalesce(CAST(reservation_effective_cost AS DECIMAL(38,12)), billed_)
       WHEN lt = 'RIFee' THEN coalesce(
         CAST(reservation_unused_amortized_upfront_fee_for_billing_period AS DECIMAL(38,12))
         + CAST(reservation_unused_recurring_fee AS DECIMAL(38,12)), billed_)
       WHEN lt = 'Fee' AND NULLIF(trim(reservation_reservation_a_r_n), '') IS NOT NULL THEN 0
       ELSE billed_ END AS effective,
  CASE WHEN lt IN {_CUR_USAGE}
         THEN coalesce(CAST(pricing_public_on_demand_cost AS DECIMAL(38,12)), billed_)
       WHEN lt = 'SavingsPlanNegation' OR lt LIKE '%Discount' THEN 0
       ELSE billed_ END AS list,
  json_object({{tags}}) AS tags,
  CAST(NULL AS VARCHAR) AS team,
  CAST(NULL AS VARCHAR) AS environment
FROM raw
"""

_FOCUS_VIEW = """
CREATE OR REPLACE VIEW bill AS
WITH raw AS (
  SELECT * FROM read_csv('{file}', all_varchar = true, nullstr = ['NULL', ''])
)
SELECT
  {ts} AS ts,
  ProviderName AS provider,
  ServiceName AS service,
  ServiceCategory AS service_category,
  BillingAccountId AS billing_account_id,
  BillingAccountName AS billing_account_name,
  SubAccountId AS account_id,
  SubAccountName AS account_name,
  RegionId AS region,
  RegionName AS region_name,
  ChargeCategory AS charge_category,
  ChargeClass AS charge_class,
  CommitmentDiscountType AS commitment_type,
  ResourceId AS resource,
  ConsumedUnit AS unit,
  CAST(ConsumedQuantity AS DECIMAL(38,12)) AS qty,
  CAST(BilledCost AS DECIMAL(38,12)) AS billed,
  CAST(EffectiveCost AS DECIMAL(38,12)) AS effective,
  CAST(ListCost AS DECIMAL(38,12)) AS list,
  CAST(Tags AS JSON) AS tags,
  {team} AS team,
  {environment} AS environment
FROM raw
"""


def _cur_view(files: list[Path]) -> str:
    con = duckdb.connect()
    try:
        names = [
            r[0]
            for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{files[0]}')").fetchall()
        ]
    finally:
        con.close()
    tags = [n for n in names if n.startswith("resource_tags_user_")]
    pairs = ", ".join(
        f"'{n.removeprefix('resource_tags_user_')}', NULLIF(trim({n}), '')" for n in tags
    )
    return _CUR_VIEW.format(file=files[0], tags=pairs)


def _focus_view(files: list[Path]) -> str:
    return _FOCUS_VIEW.format(
        file=files[0],
        ts="CAST(ChargePeriodStart AS TIMESTAMP)",
        team="CAST(NULL AS VARCHAR)",
        environment="CAST(NULL AS VARCHAR)",
    )


def _norm_sql(expr: str) -> str:
    return f"lower(trim(regexp_replace(trim({expr}), '[\\s_./-]+', '-', 'g'), '-'))"


def _norm(text: str) -> str:
    return re.sub(r"[\s_./-]+", "-", text.strip()).strip("-").lower()


def _granite_view(files: list[Path]) -> str:
    team = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["virtual_tags"]["team"]
    keys = [v for k in team["sources"] for v in (k, k.capitalize(), k.upper())]
    raw = "coalesce(" + ", ".join(f"json_extract_string(Tags, '$.\"{k}\"')" for k in keys) + ")"
    norm = _norm_sql(raw)
    cases = " ".join(
        f"WHEN '{_norm(k)}' THEN '{_norm(v)}'" for k, v in sorted(team["aliases"].items())
    )
    return _FOCUS_VIEW.format(
        file=files[0],
        ts="strptime(ChargePeriodStart, '%Y-%m-%dT%H:%M:%SZ')",
        team=f"coalesce(CASE {norm} {cases} ELSE {norm} END, '{team['default']}')",
        environment="CASE WHEN SubAccountName LIKE '%-prod' THEN 'prod' ELSE 'nonprod' END",
    )


@dataclass(frozen=True)
class Dataset:
    """One dataset: its raw files, the `bill` view over them, and the clocks questions use."""

    name: str
    title: str
    now: datetime
    later: datetime
    files: Callable[[Path], list[Path]]
    view: Callable[[list[Path]], str]
    config: Path | None = None
    notes: list[str] = field(default_factory=list)


def _shared(path: Path) -> Callable[[Path], list[Path]]:
    def files(_: Path) -> list[Path]:
        if not path.exists():
            raise ConfigError(f"dataset file missing: {path}")
        return [path]

    return files


def _granite_files(workdir: Path) -> list[Path]:
    data, _ = write_company(workdir / "src")
    return [data]


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="cur-2018",
            title="AWS CUR, October 2018 (Athena parquet, 2 accounts, 16 services)",
            now=_at("2018-11-01T09:00"),
            later=_at("2019-03-04T09:00"),
            files=_shared(CUR_FILE),
            view=_cur_view,
        ),
        Dataset(
            name="focus-sample",
            title="FOCUS 1.0 sample, September 2024 (AWS, Microsoft, Oracle)",
            now=_at("2024-10-01T09:00"),
            later=_at("2025-01-20T09:00"),
            files=_shared(FOCUS_FILE),
            view=_focus_view,
        ),
        Dataset(
            name="granite",
            title="Granite Industries (generated): AWS, Azure, GCP, 2025-08-01..2026-02-17",
            now=_at("2026-02-18T09:00"),
            later=_at("2026-04-02T09:00"),
            files=_granite_files,
            view=_granite_view,
            config=CONFIG,
        ),
    )
}
"""Every dataset by name; none shares a name, account or team with the demo company."""


def truth_connection(dataset: Dataset, files: list[Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the dataset's `bill` view over its raw files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(dataset.view(files))
    return con


def build_home(dataset: Dataset, workdir: Path) -> tuple[Path, list[Path]]:
    """Load the dataset the way a user would: `finops --home HOME ingest FILES` (a subprocess,
    the installed CLI's own code path); return the home and the raw files."""
    home = workdir / "home"
    files = dataset.files(workdir)
    if (home / "warehouse.duckdb").exists():
        return home, files
    home.mkdir(parents=True, exist_ok=True)
    if dataset.config is not None:
        shutil.copy(dataset.config, home / "finops.yaml")
    argv = [sys.executable, "-c", "from agent.cli.main import main; main()"]
    argv += ["--home", str(home), "ingest", *map(str, files), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"{dataset.name}: ingest failed: {done.stderr.strip()[-500:]}")
    return home, files
