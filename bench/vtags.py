"""Benchmark: virtual-tag allocation of N cost rows vs a plain DuckDB CASE over the same rules.

The issue's target: allocating 10 million cost rows with 5 virtual tags (20 rules each plus
inference) in under 10 s on this machine, with the ratio against plain DuckDB reported. Measured in
one run on one warehouse (the scale parquet ingested exactly as `bench.run` does):

* ours: `tools.vtags.allocate.build_allocation` (sources, rules, inference, a proportional shared
  split, provenance, confidence and reasons for every row), wall time per stage through its
  `on_step` callback, then a `tools.spend.engine.spend(by=["vtag:team"])` query on the result;
* baseline: `CREATE OR REPLACE TEMP TABLE … AS SELECT <5 CASE expressions>, BilledCost FROM costs`,
  each CASE being the exact text `tools.vtags.sql.sources_sql` / `rules_sql` generate (sources
  first, then the 20 rules, then the default), then the same breakdown as a plain GROUP BY.

ratio = ours / baseline (below 1: ours is faster), in wall time and in process CPU time (the
latter barely moves when other jobs share the cores). One extra build runs through a timing wrapper
around the connection to time every statement; the two slowest are run once more under DuckDB's
profiler (EXPLAIN ANALYZE: operator tree in `<out>/vtags_explain_<rows>_<table>.txt`, the slowest
operators and the planning time in the JSON).

Usage: `python -m bench.vtags [--rows 10000000] [--repeat 3] [--out bench/out]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import duckdb

from agent.config import Config
from bench.run import ingest_focus, scale_parquet, write_results
from bench.timing import median_seconds
from tools.query import DuckDBEngine, literal
from tools.spend.engine import SpendQuery, spend
from tools.vtags.allocate import build_allocation
from tools.vtags.definitions import VirtualTag
from tools.vtags.sql import rules_sql, sources_sql
from warehouse.db import connect

__all__ = ["baseline_sql", "bench_vtag_query", "bench_vtags", "vtag_config"]

TARGET_S = 10.0
_TEAMS = ("payments", "search", "ml-platform", "data", "web", "platform")

Cond = dict[str, Any]


def _rule(rule_id: str, value: str, when: Cond | None = None, resource: str | None = None) -> Cond:
    rule: Cond = {"id": rule_id, "value": value}
    if when:
        rule["when"] = when
    if resource:
        rule["resource"] = resource
    return rule


def _team_rules() -> list[Cond]:
    """Specific overrides first, then names and accounts for some teams (the rest: inference)."""
    return [
        _rule("vertex-prod", "ml-platform", {"ServiceName": "Vertex AI", "tag:env": "prod"}),
        _rule("bigquery-eu", "data", {"ServiceName": "BigQuery", "RegionId": "europe-west1"}),
        _rule("app-search", "search", {"tag:app": {"regex": "^search-"}}),
        _rule(
            "payments-accounts",
            "payments",
            {"SubAccountName": [f"payments-prod-{i:03d}" for i in range(0, 48, 6)]},
        ),
        _rule("aks", "platform", {"ServiceName": "Azure Kubernetes Service"}),
        _rule("eks", "platform", {"ServiceName": "Amazon Elastic Kubernetes Service"}),
        _rule("res-payments", "payments", resource="^payments-"),
        _rule("res-search", "search", resource="^search-"),
        _rule("res-data", "data", resource="^data-"),
        _rule("res-web-lambda", "web", resource="^web-lambda-"),
        _rule("res-databases", "data", resource="-(database|sql)-[0-9a-f]{5}$"),
        _rule("acct-ml-prod", "ml-platform", {"SubAccountName": {"regex": "^ml-platform-prod-"}}),
        _rule(
            "azure-monitor-we",
            "platform",
            {"RegionId": "westeurope", "ServiceName": "Storage Accounts"},
        ),
        _rule("cloud-sql-stage", "platform", {"tag:env": "stage", "ServiceName": "Cloud SQL"}),
        _rule(
            "s3-prod",
            "data",
            {
                "ServiceName": "Amazon Simple Storage Service",
                "SubAccountName": {"regex": "-prod-"},
            },
        ),
        _rule(
            "untagged-elb",
            "platform",
            {"tag:team": {"missing": True}, "ServiceName": "Elastic Load Balancing"},
        ),
        _rule("dynamodb", "payments", {"ServiceName": "Amazon DynamoDB", "ProviderName": "AWS"}),
        _rule("web-ids", "web", resource="^1000009[0-9]{5}/web-"),
        _rule("gce-ml", "ml-platform", {"ServiceName": "Compute Engine"}, resource="^ml-platform-"),
        _rule("tax", "finance", {"ChargeCategory": "Tax"}),
    ]


def _cost_center_rules() -> list[Cond]:
    """Team tag → cost center for tagged rows, account patterns for four teams, a few services."""
    centers = dict(
        zip(_TEAMS, ("CC 100", "CC 200", "CC 300", "CC 300", "CC 400", "CC 500"), strict=True)
    )
    rules = [_rule(f"tag-{t}", c, {"tag:team": t}) for t, c in centers.items()]
    rules += [
        _rule(f"acct-{t}", centers[t], {"SubAccountName": {"regex": f"^{t}-"}})
        for t in ("payments", "search", "data", "web")
    ]
    rules += [
        _rule("bigquery", "cc_300", {"ServiceName": "BigQuery"}),
        _rule("vertex", "cc_300", {"ServiceName": "Vertex AI"}),
        _rule("monitoring", "cc_500", {"ServiceCategory": "Management and Governance"}),
        _rule("networking", "cc_500", {"ServiceCategory": "Networking", "ProviderName": "AWS"}),
        _rule("res-platform", "cc_500", resource="^platform-(engine|machines)-"),
        _rule("res-ml-sql", "cc_300", resource="^ml-platform-sql-"),
        _rule("eu-storage", "cc_500", {"RegionId": "europe-west1", "ServiceName": "Cloud Storage"}),
        _rule("stage-env", "cc_900", {"tag:env": "stage", "ProviderName": "Microsoft"}),
        _rule("support", "cc_900", {"ChargeCategory": ["Purchase", "Tax"]}),
        _rule("untagged-ids", "cc_900", {"tag:team": {"missing": True}}, resource="/platform-ai-"),
    ]
    return rules


def _environment_rules() -> list[Cond]:
    envs = (("prod", "production"), ("dev", "development"), ("stage", "staging"))
    rules = [
        _rule(f"acct-{e}", v, {"SubAccountName": {"regex": f"-{e}-[0-9]{{3}}$"}})
        for e, v in envs[:2]
    ]
    rules += [
        _rule(
            "sandbox-accounts",
            "sandbox",
            {"SubAccountName": [f"web-dev-{i:03d}" for i in range(4, 100, 6)]},
        ),
        _rule("vertex", "production", {"ServiceName": "Vertex AI"}),
        _rule("bigquery-prod", "production", {"ServiceName": "BigQuery", "tag:team": "data"}),
        _rule("res-tmp", "sandbox", resource="-tmp-|-scratch-"),
        _rule("res-test", "development", resource="(^|-)test(-|$)"),
        _rule(
            "lambda-dev",
            "development",
            {"ServiceName": "AWS Lambda", "SubAccountName": {"regex": "^web-"}},
        ),
        _rule(
            "gcp-stage",
            "staging",
            {"ProviderName": "Google Cloud", "SubAccountName": {"regex": "stage"}},
        ),
        _rule("azure-monitor", "production", {"ServiceName": "Azure Monitor"}),
        _rule(
            "we-sql", "production", {"RegionId": "westeurope", "ServiceName": "Azure SQL Database"}
        ),
        _rule("app-ml", "staging", {"tag:app": {"regex": "^ml-platform-"}}),
        _rule(
            "ebs",
            "production",
            {"ServiceName": "Amazon Elastic Block Store", "tag:team": ["payments", "data"]},
        ),
        _rule("cloudwatch", "production", {"ServiceName": "AmazonCloudWatch"}),
        _rule("ids-prod", "production", resource="^10000[0-4][0-9]{7}/"),
        _rule("dynamodb", "production", {"ServiceName": "Amazon DynamoDB"}),
        _rule(
            "elb", "production", {"ServiceName": "Elastic Load Balancing", "RegionId": "us-east-1"}
        ),
        _rule(
            "s3-search",
            "development",
            {"ServiceName": "Amazon Simple Storage Service"},
            resource="^search-",
        ),
        _rule(
            "aks",
            "staging",
            {"ServiceName": "Azure Kubernetes Service", "tag:team": {"missing": True}},
        ),
        _rule("gce", "development", {"ServiceName": "Compute Engine"}, resource="-engine-0"),
    ]
    return rules


def _feature_rules() -> list[Cond]:
    words = ("lambda", "bigquery", "machines", "cloud", "sql", "engine", "storage", "monitor")
    rules = [_rule(f"res-{w}", f"{w}-workloads", resource=f"-{w}-[0-9a-f]{{5}}$") for w in words]
    rules += [
        _rule("checkout", "checkout", {"tag:team": "payments", "ServiceName": "Amazon DynamoDB"}),
        _rule(
            "ranking",
            "ranking",
            {"tag:team": "search", "ServiceName": "Amazon Elastic Compute Cloud"},
        ),
        _rule("training", "training", {"ServiceName": "Vertex AI", "RegionId": "europe-west1"}),
        _rule("warehouse", "warehouse", {"ServiceName": ["BigQuery", "Cloud SQL"]}),
        _rule(
            "k8s",
            "kubernetes",
            {"ServiceCategory": "Compute", "ServiceName": {"regex": "Kubernetes"}},
        ),
        _rule("cdn", "edge", {"ServiceName": "Elastic Load Balancing"}),
        _rule(
            "blob",
            "object-storage",
            {"ServiceName": ["Storage Accounts", "Amazon Simple Storage Service"]},
        ),
        _rule("egress", "egress", {"ServiceName": "AWS Data Transfer", "ProviderName": "AWS"}),
        _rule("observability", "observability", {"ServiceCategory": "Management and Governance"}),
        _rule("ebs", "block-storage", {"ServiceName": "Amazon Elastic Block Store"}),
        _rule(
            "rds",
            "databases",
            {"ServiceName": "Amazon Relational Database Service", "tag:env": "prod"},
        ),
        _rule(
            "ids",
            "misc",
            {"SubAccountId": [str(100_000_000_000 + 7_919 * i) for i in range(0, 500, 25)]},
        ),
    ]
    return rules


def _product_rules() -> list[Cond]:
    products = {"payments": "checkout", "search": "discovery", "web": "storefront"}
    rules = [_rule(f"tag-{t}", p, {"tag:team": t}) for t, p in products.items()]
    rules += [_rule(f"res-{t}", p, resource=f"^{t}-") for t, p in products.items()]
    rules += [
        _rule("tag-ml", "insights", {"tag:team": ["ml-platform", "data"], "tag:env": "prod"}),
        _rule("bigquery", "insights", {"ServiceName": "BigQuery"}),
        _rule("vertex", "insights", {"ServiceName": "Vertex AI"}),
        _rule("platform-acct", "core", {"SubAccountName": {"regex": "^platform-"}}),
        _rule(
            "k8s",
            "core",
            {"ServiceName": ["Azure Kubernetes Service", "Amazon Elastic Kubernetes Service"]},
        ),
        _rule("network", "core", {"ServiceCategory": "Networking"}),
        _rule("monitoring", "core", {"ServiceName": ["AmazonCloudWatch", "Azure Monitor"]}),
        _rule("data-acct", "insights", {"SubAccountName": {"regex": "^data-(prod|stage)-"}}),
        _rule(
            "azure-eu",
            "storefront",
            {"ProviderName": "Microsoft", "RegionId": "westeurope", "tag:env": "dev"},
        ),
        _rule("sql", "core", {"ServiceName": "Cloud SQL"}, resource="^ml-"),
        _rule("lambda", "storefront", {"ServiceName": "AWS Lambda"}),
        _rule(
            "s3", "insights", {"ServiceName": "Amazon Simple Storage Service", "tag:env": "stage"}
        ),
        _rule("ids", "core", resource="^1000001[0-9]{5}/"),
        _rule("tax", "corporate", {"ChargeCategory": "Tax"}),
    ]
    return rules


def vtag_config() -> Config:
    """Five virtual tags, 20 rules each, inference on (defaults), one proportional shared rule."""
    tags: dict[str, Cond] = {
        "team": {
            "sources": ["team", "owner", "squad", "resource_tags_user_team_name"],
            "aliases": {
                "ml": "ml-platform",
                "ML Platform": "ml-platform",
                "payment": "payments",
                "frontend": "web",
            },
            "rules": _team_rules(),
            "shared": [
                {
                    "id": "monitoring",
                    "method": "proportional",
                    "when": {"ServiceName": ["AmazonCloudWatch", "Azure Monitor"]},
                }
            ],
        },
        "cost_center": {
            "sources": ["cost_center", "costcenter", "cost-center", "cc"],
            "normalize": {"case": "lower", "separator": "_"},
            "aliases": {"cc100": "cc_100", "cc200": "cc_200"},
            "rules": _cost_center_rules(),
        },
        "environment": {
            "sources": ["env", "environment", "stage"],
            "aliases": {
                "prod": "production",
                "prd": "production",
                "dev": "development",
                "stage": "staging",
                "stg": "staging",
            },
            "allowed_values": ["production", "development", "staging", "sandbox"],
            "rules": _environment_rules(),
        },
        "feature": {
            "sources": ["feature", "app", "application"],
            "aliases": {"search-machines": "ranking", "payments-service": "checkout"},
            "rules": _feature_rules(),
        },
        "product": {
            "sources": ["product", "product_line", "productline"],
            "aliases": {"shop": "storefront", "store": "storefront"},
            "rules": _product_rules(),
        },
    }
    for name, tag in tags.items():
        if len(tag["rules"]) != 20:
            raise AssertionError(f"{name}: {len(tag['rules'])} rules, expected 20")
    return Config.model_validate({"virtual_tags": tags})


def _tag_case(vt: VirtualTag) -> str:
    """The plain-SQL value of one tag: the generated sources CASE, then the rules CASE, then the
    default (the same texts `build_allocation` evaluates, here once per cost row)."""
    src, _detail = sources_sql(vt)
    rule, _rule_id = rules_sql(vt)
    return f"coalesce({src}, {rule}, {literal(vt.norm(vt.default))})"


def baseline_sql(config: Config) -> str:
    """`CREATE TEMP TABLE vtags_baseline` with one CASE column per virtual tag, and BilledCost."""
    cols = ", ".join(
        f"{_tag_case(vt)} AS {name}" for name, vt in sorted(config.virtual_tags.items())
    )
    return f"CREATE OR REPLACE TEMP TABLE vtags_baseline AS SELECT {cols}, BilledCost FROM costs"


_BASELINE_BREAKDOWN = (
    "SELECT coalesce(team, '(none)') AS team, sum(BilledCost) AS c FROM vtags_baseline "
    "GROUP BY 1 ORDER BY c DESC, team"
)

_TABLE = re.compile(r"\b(TABLE|INTO)\s+(\w+)", re.IGNORECASE)


def _label(sql: str) -> str:
    """`CREATE OR REPLACE TABLE vtag_keys AS …` → `create vtag_keys`; `INSERT INTO t` likewise."""
    text = " ".join(sql.split())
    found = _TABLE.search(text)
    verb = text.split(" ", 1)[0].lower()
    return f"{verb} {found.group(2)}" if found else text[:40]


class _TimedConnection:
    """Passes every statement to the connection and records its wall time (profiling only)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements: list[tuple[str, float, str]] = []

    def execute(self, sql: str, parameters: Sequence[object] | None = None) -> Any:
        start = time.perf_counter()
        args = () if parameters is None else (parameters,)
        result = self.con.execute(sql, *args)
        self.statements.append((_label(sql), time.perf_counter() - start, sql))
        return result


def _stages(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[int, dict[str, float]]:
    """One build; (keys, seconds per `on_step` stage) — the first stage starts with the call."""
    marks: list[tuple[str, float]] = [("starting the transaction", time.perf_counter())]
    result = build_allocation(con, config, on_step=lambda s: marks.append((s, time.perf_counter())))
    marks.append(("end", time.perf_counter()))
    stages = {name: t1 - t0 for (name, t0), (_next, t1) in itertools.pairwise(marks)}
    return result.keys, stages


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (DuckDB's workers included): user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _median_dict(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def _operators(node: dict[str, Any], out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    extra = json.dumps(node.get("extra_info") or {})
    out.append(
        {
            "operator": node.get("name"),
            "seconds": round(float(node.get("timing") or 0), 3),
            "rows": node.get("intermediate_rows"),
            "info": extra if len(extra) <= 160 else extra[:157] + "...",
        }
    )
    for child in node.get("children") or []:
        _operators(child, out)
    return out


def _explain(con: duckdb.DuckDBPyConnection, sql: str, tree_to: Path) -> dict[str, Any]:
    """EXPLAIN ANALYZE by DuckDB's profiler: run `sql` once more, its operator tree (the
    EXPLAIN ANALYZE rendering) to `tree_to`, planning time and the slowest operators returned."""
    tree_to.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET profiling_output = {literal(str(tree_to))}")
    con.enable_profiling()
    try:
        con.execute(sql)
        info = json.loads(con.get_profiling_information(format="json"))
    finally:
        con.disable_profiling()
        con.execute("RESET profiling_output")
    ops: list[dict[str, Any]] = []
    for root in info.get("operator") or []:
        _operators(root, ops)
    return {
        "tree": str(tree_to),
        "total_s": round(float(info["query"]["total_time"]), 3),
        "planner_s": round(float(info["planner"]["total_time"]), 3),
        "optimizer_s": round(float(info["optimizer"]["total_time"]), 3),
        "top_operators": sorted(ops, key=lambda o: -o["seconds"])[:6],
    }


def _profile(
    con: duckdb.DuckDBPyConnection, config: Config, explain_to: Path | None
) -> dict[str, Any]:
    """One more build through `_TimedConnection`: seconds per statement, the slowest explained."""
    timed = _TimedConnection(con)
    build_allocation(cast(duckdb.DuckDBPyConnection, timed), config)
    statements = [(label, secs, sql) for label, secs, sql in timed.statements if secs >= 0.001]
    seen: dict[str, int] = {}
    per_statement: dict[str, float] = {}
    for label, secs, _sql in statements:
        seen[label] = seen.get(label, 0) + 1
        name = label if seen[label] == 1 else f"{label} #{seen[label]}"
        per_statement[name] = round(secs, 3)
    ranked = sorted(statements, key=lambda s: -s[1])
    out: dict[str, Any] = {"statements_s": per_statement, "slowest": ranked[0][0]}
    if explain_to is not None:
        explained = {}
        rebuildable = [s for s in ranked if s[0].startswith("create ")]  # idempotent to rerun
        for label, _secs, sql in rebuildable[:2]:
            tree = explain_to.with_name(f"{explain_to.stem}_{label.split()[-1]}.txt")
            explained[label] = _explain(con, sql, tree)
        out["explain"] = explained
    return out


def _coverage(con: duckdb.DuckDBPyConnection, config: Config) -> dict[str, Any]:
    """Per tag, the share of spend each provenance decides (ours) and the baseline's allocated
    share (anything but the default)."""
    ours: dict[str, dict[str, float]] = {}
    for vtag, provenance, share in con.execute(
        "SELECT a.vtag, a.provenance, round(sum(m.cost * a.share) / any_value(t.total), 4) "
        "FROM vtag_alloc a JOIN vtag_keys m ON m.k = a.k AND (a.month IS NULL OR a.month = m.month)"
        ", (SELECT sum(cost) AS total FROM vtag_keys) t GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        ours.setdefault(vtag, {})[provenance] = float(share)
    names = sorted(config.virtual_tags)
    shares = ", ".join(
        f"round(sum(BilledCost) FILTER (WHERE {n} <> "
        f"{literal(config.virtual_tags[n].norm(config.virtual_tags[n].default))}) "
        "/ sum(BilledCost), 4)"
        for n in names
    )
    row = con.execute(f"SELECT {shares} FROM vtags_baseline").fetchone() or ()
    baseline = {n: float(v) for n, v in zip(names, row, strict=True)}
    return {"ours_share_by_provenance": ours, "baseline_allocated_share": baseline}


_SUMS = ("vtag_sums", "vtag_month_sums")


def _hide_sums(con: duckdb.DuckDBPyConnection, hide: bool) -> None:
    """Rename the allocation-key sums away (or back): `spend` then takes the row-level path,
    the `vtag:` query as it was before the sums existed."""
    for table in _SUMS:
        old, new = (table, f"{table}_hidden") if hide else (f"{table}_hidden", table)
        con.execute(f"ALTER TABLE {old} RENAME TO {new}")


def bench_vtag_query(con: duckdb.DuckDBPyConnection, config: Config, repeat: int) -> dict[str, Any]:
    """`spend(by=["vtag:team"])` on the key sums (ours) and on the rows (the path before the
    sums), each against the plain GROUP BY over the materialized CASE column (`vtags_baseline`,
    which must exist), interleaved run by run so load drifts hit all three alike; wall and CPU."""
    engine = DuckDBEngine(con)
    query = SpendQuery(by=["vtag:team"])
    expected = spend(engine, config, query)
    _hide_sums(con, True)
    try:
        before = spend(engine, config, query)
    finally:
        _hide_sums(con, False)
    if expected.rows != before.rows or "hash(" not in before.sql or "hash(" in expected.sql:
        raise AssertionError("the key sums and the row path disagree, or a path was not taken")
    runs: dict[str, list[float]] = {"ours": [], "rows": [], "baseline": []}
    cpu: dict[str, list[float]] = {"ours": [], "rows": [], "baseline": []}

    def timed(name: str, call: Any) -> None:
        wall, start = time.perf_counter(), _cpu_seconds()
        call()
        cpu[name].append(_cpu_seconds() - start)
        runs[name].append(time.perf_counter() - wall)

    for _ in range(repeat):
        timed("ours", lambda: spend(engine, config, query))
        _hide_sums(con, True)
        try:
            timed("rows", lambda: spend(engine, config, query))
        finally:
            _hide_sums(con, False)
        timed("baseline", lambda: con.execute(_BASELINE_BREAKDOWN).fetchall())
    wall = {k: statistics.median(v) for k, v in runs.items()}
    cpus = {k: statistics.median(v) for k, v in cpu.items()}
    sums_rows = {t: (con.execute(f"SELECT count(*) FROM {t}").fetchone() or (0,))[0] for t in _SUMS}
    return {
        "ours_spend_median_s": round(wall["ours"], 4),
        "row_path_spend_median_s": round(wall["rows"], 4),
        "baseline_group_by_median_s": round(wall["baseline"], 4),
        "query_ratio": round(wall["ours"] / wall["baseline"], 3),
        "query_ratio_row_path": round(wall["rows"] / wall["baseline"], 3),
        "query_cpu_ratio": round(cpus["ours"] / cpus["baseline"], 3),
        "query_cpu_ratio_row_path": round(cpus["rows"] / cpus["baseline"], 3),
        "sums_rows": sums_rows,
        "runs_s": {k: [round(t, 4) for t in v] for k, v in runs.items()},
        "cpu_s": {k: [round(t, 4) for t in v] for k, v in cpu.items()},
    }


def bench_vtags(
    warehouse: Path,
    repeat: int,
    *,
    config: Config | None = None,
    explain_to: Path | None = None,
) -> dict[str, Any]:
    """Allocation and a `vtag:team` breakdown, ours vs the plain CASE, on a loaded warehouse."""
    config = config or vtag_config()
    load_before = os.getloadavg()[0]
    con = duckdb.connect(str(warehouse))
    rows_row = con.execute("SELECT count(*) FROM costs").fetchone()
    threads_row = con.execute("SELECT current_setting('threads')").fetchone()
    threads = threads_row[0] if threads_row else None
    stage_runs: list[dict[str, float]] = []
    keys = 0

    cpu: dict[str, list[float]] = {"ours_build": [], "baseline_ctas": []}

    def build(_: None) -> None:
        nonlocal keys
        start = _cpu_seconds()
        keys, stages = _stages(con, config)
        stage_runs.append(stages)
        cpu["ours_build"].append(_cpu_seconds() - start)

    ours, ours_all = median_seconds(build, lambda: None, repeat)
    profile = _profile(con, config, explain_to)

    ctas = baseline_sql(config)

    def baseline(_: None) -> None:
        start = _cpu_seconds()
        con.execute(ctas)
        cpu["baseline_ctas"].append(_cpu_seconds() - start)

    base, base_all = median_seconds(baseline, lambda: None, repeat)
    queries = bench_vtag_query(con, config, max(repeat, 5))
    ours_q, base_q = queries["ours_spend_median_s"], queries["baseline_group_by_median_s"]
    coverage = _coverage(con, config)
    key_months = con.execute("SELECT count(*) FROM vtag_keys").fetchone()
    con.execute("DROP TABLE vtags_baseline")
    con.close()
    tags = config.virtual_tags
    return {
        "rows": rows_row[0] if rows_row else 0,
        "allocation_keys": keys,
        "allocation_key_months": key_months[0] if key_months else 0,
        "virtual_tags": {
            n: {"sources": len(vt.sources), "rules": len(vt.rules), "shared": len(vt.shared)}
            for n, vt in sorted(tags.items())
        },
        "target_s": TARGET_S,
        "ours_build_median_s": round(ours, 3),
        "baseline_case_ctas_median_s": round(base, 3),
        "ratio": round(ours / base, 3),
        "cpu_s_median": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "cpu_ratio": round(
            statistics.median(cpu["ours_build"]) / statistics.median(cpu["baseline_ctas"]), 3
        ),
        "ours_spend_vtag_team_median_s": ours_q,
        "baseline_group_by_median_s": base_q,
        "query_ratio": queries["query_ratio"],
        "query": queries,
        "end_to_end_ratio": round((ours + ours_q) / (base + base_q), 3),
        "ours_stages_median_s": _median_dict(stage_runs),
        "profile": profile,
        "coverage": coverage,
        "duckdb": duckdb.__version__,
        "threads": threads,
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "runs": {
            "ours_build": [round(t, 3) for t in ours_all],
            "baseline_ctas": [round(t, 3) for t in base_all],
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument(
        "--query-only",
        action="store_true",
        help="one allocation build, then only the vtag:team query against its baselines",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    parquet = scale_parquet(args.out, args.rows)
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        path = Path(tmp) / "vtags.duckdb"
        con = connect(path)
        ingest_focus(con, parquet)
        con.close()
        if args.query_only:
            result = _query_only(path, args.repeat)
            name = f"results_vtags_query_{args.rows}.json"
        else:
            result = bench_vtags(
                path, args.repeat, explain_to=args.out / f"vtags_explain_{args.rows}.txt"
            )
            name = f"results_vtags_{args.rows}.json"
    write_results(args.out / name, result)
    return result


def _query_only(warehouse: Path, repeat: int) -> dict[str, Any]:
    config = vtag_config()
    load_before = os.getloadavg()[0]
    con = duckdb.connect(str(warehouse))
    build_allocation(con, config)
    con.execute(baseline_sql(config))
    rows_row = con.execute("SELECT count(*) FROM costs").fetchone()
    result = {"rows": rows_row[0] if rows_row else 0, **bench_vtag_query(con, config, repeat)}
    con.close()
    load = {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)}
    return {**result, "duckdb": duckdb.__version__, "load_average_1min": load}


if __name__ == "__main__":
    main()
