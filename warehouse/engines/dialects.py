"""Per-engine sqlglot settings: the dialect to render, and tree rewrites it needs.

sqlglot already maps most of DuckDB onto each target (QUALIFY, `list` → `collect_list`, JSON
paths, `isodow`, integer division). What is left are constructs with no direct equivalent, which
are rewritten here, on the syntax tree, so the query text stays single:

* Spark forbids a frame on `median(x) OVER (…)`: the frame's values are collected, sorted and
  the two middle ones interpolated (exactly DuckDB's continuous median).
* DuckDB's `hash(…)` is 64-bit; Spark's `hash` is 32-bit murmur3, so a few hundred thousand
  allocation keys would collide. Spark gets `xxhash64`, its 64-bit hash. Keys are engine-local:
  an engine always joins on keys computed by itself.
* `isodow(d)` (Monday = 1 … Sunday = 7) is spelled from Spark's `dayofweek` (Sunday = 1).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

__all__ = ["SUPPORTED_DIALECTS", "dialect_for", "rewrite_for"]

Rule = Callable[[exp.Expr], exp.Expr]

SUPPORTED_DIALECTS = ("duckdb", "spark", "databricks", "trino", "athena", "snowflake", "bigquery")
"""Dialects the query layer renders; duckdb and spark are exercised by the shared test suite."""


def _framed_median(node: exp.Expr) -> exp.Expr:
    if not (
        isinstance(node, exp.Window) and isinstance(node.this, exp.Median) and node.args.get("spec")
    ):
        return node
    collected = node.copy()
    collected.set("this", exp.ArrayAgg(this=node.this.this.copy()))
    arr = f"SORT_ARRAY({collected.sql(dialect='spark')})"
    n = f"SIZE({arr})"
    lo = f"TRY_ELEMENT_AT({arr}, CAST(({n} + 1) DIV 2 AS INT))"
    hi = f"TRY_ELEMENT_AT({arr}, CAST({n} DIV 2 + 1 AS INT))"
    text = f"CASE WHEN {n} > 0 THEN {lo} + ({hi} - {lo}) * CAST(0.5 AS DOUBLE) END"
    return sqlglot.parse_one(text, read="spark")


def _hash64(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        return exp.Anonymous(this="XXHASH64", expressions=[e.copy() for e in node.expressions])
    return node


def _isodow(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.DayOfWeekIso):
        day = node.this.sql(dialect="spark")
        return sqlglot.parse_one(f"((DAYOFWEEK({day}) + 5) % 7 + 1)", read="spark")
    return node


_RULES: dict[str, tuple[Rule, ...]] = {
    "spark": (_framed_median, _hash64, _isodow),
    "databricks": (_framed_median, _hash64, _isodow),
}


def rewrite_for(dialect: str) -> tuple[Rule, ...]:
    """The tree rewrites applied before rendering `dialect`."""
    return _RULES.get(dialect, ())


def dialect_for(dialect: str) -> str:
    """The sqlglot dialect name to render (validated)."""
    if dialect not in SUPPORTED_DIALECTS:
        raise ValueError(f"unsupported SQL dialect {dialect!r}; known: {SUPPORTED_DIALECTS}")
    return dialect
