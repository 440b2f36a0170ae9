"""The query layer: dimension resolution, safe literals, and dialect-neutral execution.

Queries are written once in DuckDB's SQL dialect and transpiled with sqlglot for the engine that
runs them (`Engine.dialect`; engines live in `warehouse.engines`), so the same code serves the
embedded DuckDB warehouse and a distributed engine (Spark; the dialects of Trino/Athena,
Databricks, Snowflake and BigQuery render through the same layer). Identifiers come only from the
FOCUS schema and user values only through `literal()`, which escapes them: no user text is ever
spliced into SQL unquoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from warehouse.engines import DuckDBEngine, Engine, transpile
from warehouse.errors import QueryError
from warehouse.schema import focus_columns

if TYPE_CHECKING:
    from tools.vtags.definitions import VirtualTag

__all__ = [
    "METRICS",
    "Dimension",
    "DuckDBEngine",
    "Engine",
    "cost_expression",
    "from_clause",
    "literal",
    "resolve_dimension",
    "spend_from",
    "transpile",
    "vtag_dimension",
    "weighted",
]

Metric = Literal["billed", "effective", "list", "contracted"]
METRICS: dict[str, str] = {
    "billed": "BilledCost",
    "effective": "EffectiveCost",
    "list": "ListCost",
    "contracted": "ContractedCost",
}
"""`--metric` name → FOCUS money column."""

_TAG_KEY = re.compile(r"^[^\"\\\x00-\x1f]{1,256}$")


def literal(value: object) -> str:
    """A SQL literal for a user-supplied value, quotes escaped."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Dimension:
    """A group-by / filter dimension: its display name and SQL expression over `costs`.

    A virtual tag also brings the join to its allocation and a `weight` (the share of a split
    shared cost) that every summed cost and quantity is multiplied by; `key_join` is the same join
    on the allocation-key sums (`spend_from`). `columns` names the `costs` columns `sql` reads
    (None: not known, so never read from the key sums).
    """

    name: str
    sql: str
    join: str | None = None
    weight: str | None = None
    columns: tuple[str, ...] | None = None
    key_join: str | None = None


def from_clause(dims: Sequence[Dimension]) -> str:
    """`costs` plus the joins the dimensions need (each once)."""
    joins = dict.fromkeys(d.join for d in dims if d.join)
    return " ".join(["costs", *(j for j in joins if j)])


def weighted(expr: str, dims: Sequence[Dimension]) -> str:
    """A per-row amount multiplied by the dimensions' split weights (each once)."""
    weights = [w for w in dict.fromkeys(d.weight for d in dims if d.weight) if w]
    if not weights:
        return expr
    if len(weights) == 1:
        return f"({expr} * {weights[0]})"
    # two splits: keep the product at DECIMAL(18,12) so the sum cannot overflow DECIMAL(38)
    return f"({expr} * CAST({' * '.join(weights)} AS DECIMAL(18,12)))"


def _focus_lookup() -> dict[str, str]:
    return {c.name.lower(): c.name for c in focus_columns() if c.focus_type != "Decimal"}


def _tag_dimension(spec: str) -> Dimension:
    """`tag:team`, or `tag:team|Team|TEAM`: one tag whose key is spelled several ways (the first
    spelling present on a row wins), so a question about "team" covers every spelling."""
    keys = spec.split("|") if "|" in spec else [spec]
    for key in keys:
        if not _TAG_KEY.match(key):
            raise QueryError(f"invalid tag key {key!r}: 1-256 characters, no quotes or backslashes")
    paths = [literal('$."' + key + '"') for key in keys]
    parts = [f"json_extract_string(Tags, {path})" for path in paths]
    sql = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    return Dimension(f"tag:{spec}", sql, columns=("Tags",))


def resolve_dimension(spec: str, vtags: Mapping[str, VirtualTag] | None = None) -> Dimension:
    """Turn `ServiceName`, `servicename`, `tag:team`, `vtag:team` into a dimension, or explain
    what is valid. Virtual tags need their definitions (`vtags`, from the config)."""
    text = spec.strip()
    if text.lower().startswith("tag:"):
        return _tag_dimension(text[4:])
    if text.lower().startswith("vtag:"):
        return vtag_dimension(text[5:].strip(), vtags or {})
    canonical = _focus_lookup().get(text.lower())
    if canonical is None:
        raise QueryError(
            f"unknown dimension {spec!r}; use a FOCUS column (e.g. ServiceName, SubAccountName, "
            "RegionId, ChargeCategory, ProviderName, SkuId) or tag:KEY"
        )
    if canonical in (
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "BillingPeriodStart",
        "BillingPeriodEnd",
    ):
        return Dimension(canonical, f"CAST(CAST({canonical} AS DATE) AS VARCHAR)")
    return Dimension(canonical, f"CAST({canonical} AS VARCHAR)", columns=(canonical,))


def cost_expression(metric: str, reporting_currency: str, fx_rates: Mapping[str, Decimal]) -> str:
    """The per-row cost in the reporting currency for a metric (`billed`, `effective`, `list`)."""
    column = METRICS.get(metric)
    if column is None:
        raise QueryError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    rates = {c: r for c, r in fx_rates.items() if c != reporting_currency}
    if not rates:
        return column
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(r)}" for c, r in sorted(rates.items()))
    return f"({column} * CASE BillingCurrency {cases} ELSE 1 END)"


def unconvertible_currencies(
    engine: Engine,
    reporting_currency: str,
    fx_rates: Mapping[str, Decimal],
    source: str = "costs",
) -> Sequence[str]:
    """Billing currencies in the warehouse that the config cannot convert. `source` is a FROM
    clause (`spend_from`): the rows it reads hold every currency `costs` holds (the key sums do,
    and are smaller)."""
    sums = ("vtag_sums", "vtag_month_sums")
    table = next((t for t in re.findall(r"\w+", source) if t in sums), "costs")
    sql = f"SELECT DISTINCT BillingCurrency FROM {table}"
    rows = engine.fetch(transpile(sql, engine.dialect))
    return sorted(
        str(r[0])
        for r in rows
        if r[0] is not None and r[0] != reporting_currency and r[0] not in fx_rates
    )


def vtag_dimension(name: str, vtags: Mapping[str, VirtualTag]) -> Dimension:
    """`vtag:NAME`: the value from the allocation, joined on the allocation key and month."""
    from tools.vtags.sql import key_columns, key_expression

    if name not in vtags:
        defined = ", ".join(sorted(vtags)) or "none are defined"
        raise QueryError(
            f"virtual tag {name!r} is not defined ({defined}); virtual tags are configured under "
            "`virtual_tags:` in finops.yaml"
        )
    alias = f"vt_{name}"
    key = key_expression(key_columns(list(vtags.values())))
    head = (
        f"LEFT JOIN (SELECT k AS vt_k, month AS vt_month, value, share FROM vtag_alloc "
        f"WHERE vtag = {literal(name)}) AS {alias} ON {alias}.vt_k = "
    )
    month = f"({alias}.vt_month IS NULL OR {alias}.vt_month = "
    join = f"{head}{key} AND {month}CAST(date_trunc('month', ChargePeriodStart) AS DATE))"
    key_join = f"{head}costs.k AND {month}costs.month)"
    return Dimension(
        f"vtag:{name}",
        f"{alias}.value",
        join=join,
        weight=f"coalesce({alias}.share, 1)",
        columns=(),
        key_join=key_join,
    )


def _sums_table(grain: str, cuts: Sequence[date | None]) -> str | None:
    """The key sums that answer a grain with these cuts exactly: per month when every cut is a
    month start, per week-in-month bucket when every cut is a Monday or a month start."""
    from tools.vtags.sql import KEY_SUMS, MONTH_SUMS

    days = [c for c in cuts if c is not None]
    if grain in ("total", "month") and all(c.day == 1 for c in days):
        return MONTH_SUMS
    if grain in ("total", "month", "week") and all(c.day == 1 or c.weekday() == 0 for c in days):
        return KEY_SUMS
    return None


def spend_from(
    engine: Engine,
    dims: Sequence[Dimension],
    vtags: Mapping[str, VirtualTag],
    *,
    grain: str = "total",
    cuts: Sequence[date | None] = (),
) -> str:
    """The FROM clause of a spend query: the allocation-key sums when they give the same answer,
    else `from_clause(dims)` (the cost rows, each hashed to its allocation key).

    The sums (`vtag_month_sums`, `vtag_sums`: built with the allocation) serve a query with a
    virtual tag when every other dimension and filter reads only allocation-key columns, the grain
    is total, month or week, and every date the query compares `ChargePeriodStart` with (`cuts`:
    inclusive starts and exclusive ends) starts a month, or for the weekly sums a bucket. The
    query's other text reads the sums unchanged (`<sums> AS costs`, with the key columns it reads
    joined from `vtag_attrs`): its money and quantity columns are sums, and a product with a split
    share sums exactly the same.
    Callers check freshness first (`require_fresh`): the sums are built with `vtag_alloc`.
    Example: `spend_from(engine, dims, config.virtual_tags, grain="month", cuts=[since, end])`.
    """
    from tools.vtags.sql import key_columns

    table = _sums_table(grain, cuts)
    if table is None or not any(d.key_join for d in dims):
        return from_clause(dims)
    keys = key_columns(list(vtags.values()))
    if any(d.columns is None or not set(d.columns) <= set(keys) for d in dims):
        return from_clause(dims)
    if table not in engine.tables():
        return from_clause(dims)
    read = [c for c in keys if any(c in (d.columns or ()) for d in dims)]
    source = f"{table} AS costs"
    if read:
        cols = ", ".join(f"a.{c}" for c in read)
        source = (
            f"(SELECT s.*, {cols} FROM {table} AS s JOIN vtag_attrs AS a ON a.k = s.k) AS costs"
        )
    joins = dict.fromkeys(d.key_join for d in dims if d.key_join)
    return " ".join([source, *(j for j in joins if j)])
