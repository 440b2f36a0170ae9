"""The query layer: dimension resolution, safe literals, and dialect-neutral execution.

Queries are written once in DuckDB's SQL dialect and transpiled with sqlglot for the engine that
runs them (`Engine.dialect`), so the same code serves the embedded DuckDB warehouse and, later, a
distributed engine (Spark, Trino/Athena, Snowflake, BigQuery). Identifiers come only from the
FOCUS schema and user values only through `literal()`, which escapes them: no user text is ever
spliced into SQL unquoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

import duckdb
import sqlglot

from agent.errors import QueryError
from warehouse.schema import focus_columns

__all__ = [
    "METRICS",
    "Dimension",
    "DuckDBEngine",
    "Engine",
    "cost_expression",
    "literal",
    "resolve_dimension",
]

Metric = Literal["billed", "effective", "list"]
METRICS: dict[str, str] = {"billed": "BilledCost", "effective": "EffectiveCost", "list": "ListCost"}
"""`--metric` name → FOCUS money column."""

_TAG_KEY = re.compile(r"^[^\"\\\x00-\x1f]{1,256}$")


class Engine(Protocol):
    """Something that runs a SELECT in its dialect and returns rows."""

    dialect: str

    def fetch(self, sql: str) -> list[tuple[Any, ...]]: ...


@dataclass
class DuckDBEngine:
    """The embedded default: the DuckDB warehouse connection."""

    con: duckdb.DuckDBPyConnection
    dialect: str = "duckdb"

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()


def transpile(sql: str, dialect: str) -> str:
    """Render DuckDB-dialect SQL for the engine's dialect (identity for DuckDB)."""
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


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
    """A group-by / filter dimension: its display name and SQL expression over `costs`."""

    name: str
    sql: str


def _focus_lookup() -> dict[str, str]:
    return {c.name.lower(): c.name for c in focus_columns() if c.focus_type != "Decimal"}


def resolve_dimension(spec: str) -> Dimension:
    """Turn `ServiceName`, `servicename`, `tag:team` into a dimension, or explain what is valid.

    `vtag:NAME` (virtual tags) is reserved for the allocation feature.
    """
    text = spec.strip()
    if text.lower().startswith("tag:"):
        key = text[4:]
        if not _TAG_KEY.match(key):
            raise QueryError(f"invalid tag key {key!r}: 1-256 characters, no quotes or backslashes")
        path = literal(f'$."{key}"')
        return Dimension(f"tag:{key}", f"json_extract_string(Tags, {path})")
    if text.lower().startswith("vtag:"):
        raise QueryError(
            f"virtual tag {text[5:]!r} is not defined: virtual tags are configured under "
            "`virtual_tags:` in finops.yaml"
        )
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
