"""Allocation: every cost row gets each virtual tag's value, with provenance and confidence.

How it stays fast on 10⁷+ rows: rows are grouped once by the columns that decide allocation
(their 64-bit hash is the *allocation key*, one per resource/account/tag combination and month),
and every step after that (sources, rules, inference, shared splits) runs on the few keys, not the
rows. Queries join `costs` to `vtag_alloc` on the same key expression; a shared key has one row per
month and value with a `share` (DECIMAL(18,12), the shares of one key-month summing exactly to 1),
every other key one row with share 1.

Allocation is retroactive: `ensure_allocation` rebuilds the tables whenever the definitions (or the
data) changed since the last build, recorded in `vtag_meta`.

The build is a sequence of DuckDB-dialect `CREATE TABLE … AS` / `INSERT … SELECT` statements run
through the query layer's `Engine.execute`: on DuckDB as written (one transaction), on Spark each
transpiled by sqlglot and materialized as a session view, so one text serves both engines.

Tables (all in the warehouse):
- `vtag_sums(k, month, ChargePeriodStart, BillingCurrency, <money and quantity sums>, n)`: the
  rows summed per key and week-in-month bucket, and `vtag_month_sums` (the same per month), read
  by `vtag:` queries at total, month and week grain (`tools.query.spend_from`);
- `vtag_keys(k, month, cost, n, <key columns>)` and `vtag_attrs(k, cost, <key columns>)`;
- `vtag_direct(vtag, k, src_value, src_detail, rule_value, rule_id, shared_id)`;
- `vtag_guess(vtag, k, value, confidence, reason, feature)`: the best inferred value per
  unallocated key (also below the threshold: those are the candidates);
- `vtag_alloc(vtag, k, month, value, share, provenance, detail, confidence)`;
- `vtag_meta(definitions_sha, fingerprint, key_columns, built_at, seconds, keys)`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import duckdb
from pydantic import BaseModel

from tools.query import DuckDBEngine, Engine, cost_expression, literal
from tools.settings import ToolSettings
from tools.vtags.definitions import SharedRule, VirtualTag
from tools.vtags.freshness import FINGERPRINT_SQL, fingerprint_of
from tools.vtags.inference import guess_sql
from tools.vtags.sql import (
    key_columns,
    key_expression,
    key_sums_sql,
    month_sums_sql,
    rules_sql,
    shared_sql,
    sources_sql,
)
from warehouse.clock import utc_now_naive
from warehouse.errors import QueryError

__all__ = [
    "ALLOCATION_VERSION",
    "BuildResult",
    "Warehouse",
    "allocation_state",
    "build_allocation",
    "definitions_sha",
    "ensure_allocation",
]

ALLOCATION_VERSION = 1
"""Bump when the build logic changes, so existing warehouses rebuild."""

Step = Callable[[str], None]

Warehouse = duckdb.DuckDBPyConnection | Engine
"""Where the allocation is built: a DuckDB connection (the default warehouse) or any engine."""


def _engine(warehouse: Warehouse) -> Engine:
    """An engine as is; anything else is a DuckDB connection (or a stand-in for one, such as
    the benchmark's statement timer) and runs through `DuckDBEngine`."""
    if isinstance(warehouse, Engine):
        return warehouse
    return DuckDBEngine(warehouse)


class BuildResult(BaseModel):
    """What an allocation build did (or that nothing needed doing)."""

    rebuilt: bool
    tags: list[str]
    keys: int
    seconds: float
    definitions_sha: str
    built_at: datetime | None


def definitions_sha(config: ToolSettings) -> str:
    """A fingerprint of everything that changes allocation results."""
    doc = {
        "version": ALLOCATION_VERSION,
        "virtual_tags": {k: v.model_dump(mode="json") for k, v in config.virtual_tags.items()},
        "currency": config.reporting_currency,
        "fx": {k: str(v) for k, v in sorted(config.fx_rates.items())},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _fingerprint(engine: Engine) -> str:
    rows = engine.query(FINGERPRINT_SQL)
    return fingerprint_of(rows[0] if rows else None)


def allocation_state(warehouse: Warehouse) -> dict[str, str] | None:
    """The last build's record, or None."""
    engine = _engine(warehouse)
    if "vtag_meta" not in engine.tables():
        return None
    rows = engine.query(
        "SELECT definitions_sha, fingerprint, key_columns, CAST(built_at AS VARCHAR), "
        "CAST(seconds AS VARCHAR), CAST(keys AS VARCHAR) FROM vtag_meta"
    )
    if not rows:
        return None
    names = ("definitions_sha", "fingerprint", "key_columns", "built_at", "seconds", "keys")
    return dict(zip(names, rows[0], strict=True))


def ensure_allocation(
    con: Warehouse,
    config: ToolSettings,
    *,
    force: bool = False,
    on_step: Step | None = None,
) -> BuildResult:
    """Rebuild the allocation when the definitions or the data changed (or `force`).

    `con` is the DuckDB warehouse connection or an `Engine` (e.g. Spark): the same statements
    build the allocation on either.
    """
    engine = _engine(con)
    if not config.virtual_tags:
        raise QueryError(
            "no virtual tags are defined: add a `virtual_tags:` section to finops.yaml "
            "(see README, Virtual tags)"
        )
    sha = definitions_sha(config)
    state = allocation_state(engine)
    if (
        not force
        and state is not None
        and state["definitions_sha"] == sha
        and state["fingerprint"] == _fingerprint(engine)
    ):
        return BuildResult(
            rebuilt=False,
            tags=sorted(config.virtual_tags),
            keys=int(state["keys"]),
            seconds=float(state["seconds"]),
            definitions_sha=sha,
            built_at=datetime.fromisoformat(state["built_at"]),
        )
    return build_allocation(engine, config, on_step=on_step)


def _params_sql(tags: Mapping[str, VirtualTag]) -> str:
    rows = []
    for name, vt in sorted(tags.items()):
        inf = vt.inference
        features = "[" + ", ".join(literal(f) for f in inf.features) + "]::VARCHAR[]"
        known = sorted(vt.allowed() or [])
        known_sql = "[" + ", ".join(literal(v) for v in known) + "]::VARCHAR[]"
        pairs = sorted(vt.alias_map().items())
        # [alias, value] pairs, not a MAP: a list of lists reads the same on every engine.
        alias_sql = (
            "[" + ", ".join(f"[{literal(k)}, {literal(v)}]" for k, v in pairs) + "]::VARCHAR[][]"
        )
        rows.append(
            f"({literal(name)}, {literal(inf.enabled)}, {inf.min_confidence!r}, "
            f"{inf.min_support}, {inf.name_match_confidence!r}, {features}, "
            f"{literal(vt.norm(vt.default))}, {known_sql}, {alias_sql})"
        )
    return (
        "CREATE OR REPLACE TEMP TABLE vtag_params AS SELECT * FROM (VALUES "
        + ", ".join(rows)
        + ") AS p(vtag, enabled, min_confidence, min_support, name_confidence, features, "
        "default_value, known_values, aliases)"
    )


def _direct_sql(tags: Mapping[str, VirtualTag]) -> str:
    parts = []
    for name, vt in sorted(tags.items()):
        src, src_detail = sources_sql(vt)
        rule, rule_id = rules_sql(vt)
        parts.append(
            f"SELECT {literal(name)} AS vtag, k, {src} AS src_value, {src_detail} AS src_detail, "
            f"{rule} AS rule_value, {rule_id} AS rule_id, {shared_sql(vt)} AS shared_id "
            "FROM vtag_attrs"
        )
    return "CREATE OR REPLACE TABLE vtag_direct AS " + " UNION ALL ".join(parts)


_DECIDED = """
CREATE OR REPLACE TEMP TABLE vtag_decided AS
SELECT d.vtag, d.k, d.shared_id,
  CASE WHEN d.src_value IS NOT NULL THEN d.src_value
       WHEN d.rule_value IS NOT NULL THEN d.rule_value
       WHEN g.confidence >= p.min_confidence THEN g.value END AS value,
  CASE WHEN d.src_value IS NOT NULL THEN 'tag'
       WHEN d.rule_value IS NOT NULL THEN 'rule'
       WHEN g.confidence >= p.min_confidence THEN 'inferred' END AS provenance,
  CASE WHEN d.src_value IS NOT NULL THEN d.src_detail
       WHEN d.rule_value IS NOT NULL THEN 'rule ' || d.rule_id
       WHEN g.confidence >= p.min_confidence THEN g.reason END AS detail,
  CASE WHEN d.src_value IS NOT NULL OR d.rule_value IS NOT NULL THEN 1.0
       WHEN g.confidence >= p.min_confidence THEN g.confidence END AS confidence,
  p.default_value
FROM vtag_direct d
JOIN vtag_params p USING (vtag)
LEFT JOIN vtag_guess g ON g.vtag = d.vtag AND g.k = d.k
"""


def _only_unallocated(tags: Mapping[str, VirtualTag]) -> list[tuple[str, str]]:
    return [(n, s.id) for n, vt in tags.items() for s in vt.shared if s.only_unallocated]


def _shared_keys_sql(tags: Mapping[str, VirtualTag]) -> str:
    pairs = _only_unallocated(tags)
    waive = "FALSE"
    if pairs:
        listed = ", ".join(f"({literal(n)}, {literal(i)})" for n, i in pairs)
        waive = f"(value IS NOT NULL AND (vtag, shared_id) IN (SELECT * FROM (VALUES {listed})))"
    return (
        "CREATE OR REPLACE TEMP TABLE vtag_shared_keys AS SELECT vtag, k, shared_id "
        f"FROM vtag_decided WHERE shared_id IS NOT NULL AND NOT {waive}"
    )


_OWN = """
CREATE OR REPLACE TEMP TABLE vtag_own AS
SELECT d.vtag, m.month, d.value, sum(m.cost) AS w
FROM vtag_decided d JOIN vtag_keys m USING (k)
WHERE d.value IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM vtag_shared_keys s WHERE s.vtag = d.vtag AND s.k = d.k)
GROUP BY ALL
"""


def _values_table(pairs: Sequence[tuple[str, str]]) -> str:
    rows = ", ".join(f"({literal(v)}, {w})" for v, w in pairs)
    return f"(SELECT * FROM (VALUES {rows}) AS t(value, weight))"


def _targets_sql(name: str, vt: VirtualTag, rule: SharedRule) -> str:
    """(vtag, rule_id, method, month, value, weight) for one shared rule's months."""
    months = (
        "(SELECT DISTINCT m.month FROM vtag_shared_keys s JOIN vtag_keys m USING (k) "
        f"WHERE s.vtag = {literal(name)} AND s.shared_id = {literal(rule.id)})"
    )
    head = f"SELECT {literal(name)} AS vtag, {literal(rule.id)} AS rule_id, "
    head += f"{literal(rule.method)} AS method, "
    own = f"vtag_own o ON o.vtag = {literal(name)} AND o.month = mo.month"
    if rule.method == "fixed":
        assert rule.ratios is not None
        table = _values_table([(vt.norm(v), str(w)) for v, w in sorted(rule.ratios.items())])
        weight = "CAST(t.weight AS DOUBLE) AS weight"
        return f"{head}mo.month, t.value, {weight} FROM {months} mo, {table} t"
    if rule.values is not None:
        table = _values_table([(vt.norm(v), "1") for v in sorted(set(rule.values))])
        weight = "1.0" if rule.method == "even" else "coalesce(CAST(o.w AS DOUBLE), 0)"
        return (
            f"{head}mo.month, t.value, {weight} AS weight FROM {months} mo CROSS JOIN {table} t "
            f"LEFT JOIN {own} AND o.value = t.value"
        )
    weight = "1.0" if rule.method == "even" else "CAST(o.w AS DOUBLE)"
    default = literal(vt.norm(vt.default))
    return (
        f"{head}mo.month, o.value, {weight} AS weight FROM {months} mo JOIN {own} "
        f"WHERE o.value <> {default} AND o.w > 0"
    )


def _splits_sql(tags: Mapping[str, VirtualTag]) -> str | None:
    parts = [_targets_sql(n, vt, r) for n, vt in sorted(tags.items()) for r in vt.shared]
    if not parts:
        return None
    targets = " UNION ALL ".join(parts)
    return f"""
CREATE OR REPLACE TEMP TABLE vtag_splits AS
WITH t AS ({targets}),
w AS (
  SELECT *, sum(weight) OVER (PARTITION BY vtag, rule_id, month) AS total,
         count(*) OVER (PARTITION BY vtag, rule_id, month) AS cnt,
         row_number() OVER (PARTITION BY vtag, rule_id, month ORDER BY value) AS rn
  FROM t
),
s AS (
  SELECT *, CAST(round(CASE WHEN total > 0 THEN weight / total ELSE 1.0 / cnt END, 12)
                   AS DECIMAL(18,12)) AS s0
  FROM w
)
SELECT vtag, rule_id, method, month, value,
  CASE WHEN rn = cnt
       THEN CAST(1 AS DECIMAL(18,12)) - coalesce(sum(s0) OVER (
              PARTITION BY vtag, rule_id, month ORDER BY value
              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
       ELSE s0 END AS share
FROM s
"""


_ALLOC_DIRECT = """
CREATE OR REPLACE TABLE vtag_alloc AS
SELECT d.vtag, d.k, CAST(NULL AS DATE) AS month,
  coalesce(d.value, d.default_value) AS value,
  CAST(1 AS DECIMAL(18,12)) AS share,
  coalesce(d.provenance, 'default') AS provenance,
  d.detail,
  d.confidence
FROM vtag_decided d
WHERE NOT EXISTS (SELECT 1 FROM vtag_shared_keys s WHERE s.vtag = d.vtag AND s.k = d.k)
"""

_ALLOC_SHARED = """
INSERT INTO vtag_alloc
SELECT s.vtag, s.k, m.month, x.value, x.share, 'shared',
  'shared rule ' || s.shared_id || ' (' || x.method || ')', 1.0
FROM vtag_shared_keys s
JOIN (SELECT DISTINCT k, month FROM vtag_keys) m USING (k)
JOIN vtag_splits x ON x.vtag = s.vtag AND x.rule_id = s.shared_id AND x.month = m.month
"""

_ALLOC_UNSPLIT = """
INSERT INTO vtag_alloc
SELECT s.vtag, s.k, m.month, p.default_value, CAST(1 AS DECIMAL(18,12)), 'default',
  'shared rule ' || s.shared_id || ' found no values to split to in ' || strftime(m.month, '%Y-%m'),
  NULL
FROM vtag_shared_keys s
JOIN vtag_params p USING (vtag)
JOIN (SELECT DISTINCT k, month FROM vtag_keys) m USING (k)
WHERE NOT EXISTS (
  SELECT 1 FROM vtag_splits x WHERE x.vtag = s.vtag AND x.rule_id = s.shared_id
    AND x.month = m.month)
"""


_META = (
    "CREATE OR REPLACE TABLE vtag_meta AS SELECT CAST(? AS VARCHAR) AS definitions_sha, "
    "CAST(? AS VARCHAR) AS fingerprint, CAST(? AS VARCHAR) AS key_columns, "
    "CAST(? AS TIMESTAMP) AS built_at, CAST(? AS DOUBLE) AS seconds, CAST(? AS BIGINT) AS keys"
)


def _key_tables_sql(columns: Sequence[str], cost: str) -> list[str]:
    cols = ", ".join(columns)
    return [
        f"CREATE OR REPLACE TABLE vtag_keys AS SELECT {key_expression(columns)} AS k, "
        "CAST(date_trunc('month', ChargePeriodStart) AS DATE) AS month, "
        f"sum({cost}) AS cost, count(*) AS n, {cols} FROM costs GROUP BY ALL",
        key_sums_sql(columns),
        month_sums_sql(),
        f"CREATE OR REPLACE TABLE vtag_attrs AS SELECT k, {cols}, sum(cost) AS cost, "
        "sum(n) AS n FROM vtag_keys GROUP BY ALL",
    ]


def _run(engine: Engine, statements: Sequence[str]) -> None:
    for statement in statements:
        engine.execute(statement)


def build_allocation(
    con: Warehouse, config: ToolSettings, *, on_step: Step | None = None
) -> BuildResult:
    """Recompute every virtual tag over the whole history, in one transaction (on DuckDB; on
    Spark the views are replaced together, see `SparkEngine.transaction`)."""
    engine = _engine(con)
    tags = config.virtual_tags
    step = on_step or (lambda _s: None)
    started = time.perf_counter()
    columns = key_columns(list(tags.values()))
    cost = cost_expression("billed", config.reporting_currency, config.fx_rates)
    with engine.transaction():
        step("grouping cost rows by allocation key")
        _run(engine, [*_key_tables_sql(columns, cost), _params_sql(tags)])
        step("reading sources and rules")
        engine.execute(_direct_sql(tags))
        step("inferring values for untagged spend")
        _run(engine, guess_sql(tags))
        step("splitting shared costs")
        _run(engine, [_DECIDED, _shared_keys_sql(tags), _OWN, _ALLOC_DIRECT])
        splits = _splits_sql(tags)
        if splits is not None:
            _run(engine, [splits, _ALLOC_SHARED, _ALLOC_UNSPLIT])
        keys_row = engine.query("SELECT count(*) FROM vtag_attrs")
        keys = int(keys_row[0][0]) if keys_row else 0
        seconds = time.perf_counter() - started
        built_at = utc_now_naive()
        meta = [definitions_sha(config), _fingerprint(engine), json.dumps(columns)]
        engine.execute(_META, [*meta, built_at, seconds, keys])
    return BuildResult(
        rebuilt=True,
        tags=sorted(tags),
        keys=keys,
        seconds=round(seconds, 3),
        definitions_sha=definitions_sha(config),
        built_at=built_at,
    )
