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
    shared cost) that every summed cost and quantity is multiplied by.
    """

    name: str
    sql: str
    join: str | None = None
    weight: str | None = None


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
    return Dimension(f"tag:{spec}", sql)


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
    return Dimension(canonical, f"CAST({canonical} AS VARCHAR)")


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
    engine: Engine, reporting_currency: str, fx_rates: Mapping[str, Decimal]
) -> Sequence[str]:
    """Billing currencies in the warehouse that the config cannot convert."""
    rows = engine.fetch(transpile("SELECT DISTINCT BillingCurrency FROM costs", engine.dialect))
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
    join = (
        f"LEFT JOIN (SELECT k AS vt_k, month AS vt_month, value, share FROM vtag_alloc "
        f"WHERE vtag = {literal(name)}) AS {alias} ON {alias}.vt_k = {key} AND "
        f"({alias}.vt_month IS NULL OR {alias}.vt_month = "
        f"CAST(date_trunc('month', ChargePeriodStart) AS DATE))"
    )
    return Dimension(
        f"vtag:{name}", f"{alias}.value", join=join, weight=f"coalesce({alias}.share, 1)"
    )
