"""SQL expression builders for connectors: each carries a strict and a lenient form.

Connectors describe the FOCUS row as SQL over the raw input (`{FOCUS column: Expr}`), so DuckDB
does the heavy lifting in one `INSERT … SELECT`. The strict form (`CAST`) runs on the fast path;
when it fails, the lenient form (`TRY_CAST`) and the recorded checks let the ingest locate the
first offending row and column for the error message without slowing down good files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from warehouse.schema import DECIMAL_TYPE

__all__ = [
    "Check",
    "Expr",
    "cast",
    "coalesce",
    "col",
    "dec",
    "json_obj",
    "lit",
    "null",
    "q",
    "sql",
    "text",
    "ts",
    "typed",
    "upper",
]


def q(name: str) -> str:
    """Quote an identifier for DuckDB (column names like `lineItem/UnblendedCost`)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Check:
    """A conversion that can fail: `output` is NULL while `input` is not, for a bad value."""

    input: str
    output: str
    source: str
    expected: str


@dataclass(frozen=True)
class Expr:
    """A SQL expression over the raw input with its strict and lenient forms."""

    strict: str
    lenient: str
    source: str | None = None
    checks: tuple[Check, ...] = field(default=())
    typed: str | None = None
    """The SQL type the expression already has, when known (saves a redundant cast)."""


def col(name: str) -> Expr:
    """A raw input column, unchanged."""
    ref = q(name)
    return Expr(ref, ref, source=name)


def sql(text_: str, *parts: Expr) -> Expr:
    """A computed expression that cannot fail; `{}` placeholders take `parts` in order."""
    strict = text_.format(*(p.strict for p in parts))
    lenient = text_.format(*(p.lenient for p in parts))
    checks = tuple(c for p in parts for c in p.checks)
    source = next((p.source for p in parts if p.source), None)
    return Expr(strict, lenient, source=source, checks=checks)


def lit(value: object) -> Expr:
    """A constant (string, number, bool or None)."""
    v = _literal(value)
    return Expr(v, v)


def null() -> Expr:
    return lit(None)


def _cast(e: Expr, sql_type: str, expected: str) -> Expr:
    strict = f"CAST({e.strict} AS {sql_type})"
    lenient = f"TRY_CAST({e.lenient} AS {sql_type})"
    check = Check(e.lenient, lenient, e.source or e.lenient, expected)
    return Expr(strict, lenient, source=e.source, checks=(*e.checks, check), typed=sql_type)


def cast(e: Expr | str, sql_type: str, expected: str) -> Expr:
    """Cast to any SQL type, recording a check so a failing value can be located."""
    return _cast(col(e) if isinstance(e, str) else e, sql_type, expected)


def typed(e: Expr | str, sql_type: str) -> Expr:
    """Declare that an expression already has `sql_type` (e.g. a typed parquet column)."""
    e = col(e) if isinstance(e, str) else e
    return Expr(e.strict, e.lenient, source=e.source, checks=e.checks, typed=sql_type)


def dec(e: Expr | str) -> Expr:
    """Cast to the warehouse's exact decimal type (accepts `1.5`, `5.6E-05`)."""
    return _cast(col(e) if isinstance(e, str) else e, DECIMAL_TYPE, "a decimal number")


def text(e: Expr | str) -> Expr:
    """Cast to VARCHAR (for typed parquet inputs where a FOCUS string column holds numbers)."""
    return _cast(col(e) if isinstance(e, str) else e, "VARCHAR", "text")


def ts(e: Expr | str, fmt: str | None = None) -> Expr:
    """Parse a timestamp into naive UTC.

    Without `fmt`, ISO 8601 with or without `T`, seconds and a zone (`2023-11-13T10:00Z`,
    `2024-09-18 22:00:00`, `…+02:00`) is accepted and converted to UTC. With `fmt`, the value is
    parsed by `strptime` (e.g. `%m/%d/%Y` for Azure EA exports) and taken as UTC.
    """
    e = col(e) if isinstance(e, str) else e
    if fmt is None:
        strict = f"timezone('UTC', CAST({e.strict} AS TIMESTAMPTZ))"
        lenient = f"timezone('UTC', TRY_CAST({e.lenient} AS TIMESTAMPTZ))"
        expected = "an ISO 8601 timestamp"
    else:
        f = _literal(fmt)
        strict = f"strptime(CAST({e.strict} AS VARCHAR), {f})"
        lenient = f"try_strptime(CAST({e.lenient} AS VARCHAR), {f})"
        expected = f"a date in the format {fmt}"
    check = Check(e.lenient, lenient, e.source or e.lenient, expected)
    return Expr(strict, lenient, source=e.source, checks=(*e.checks, check), typed="TIMESTAMP")


def upper(e: Expr | str) -> Expr:
    e = col(e) if isinstance(e, str) else e
    u = sql("upper(trim(CAST({} AS VARCHAR)))", e)
    return typed(u, "VARCHAR")


def coalesce(*parts: Expr) -> Expr:
    return sql("coalesce(" + ", ".join("{}" for _ in parts) + ")", *parts)


def json_obj(pairs: dict[str, Expr]) -> Expr:
    """A JSON object of the non-null pairs (used to build `Tags` from tag columns)."""
    if not pairs:
        return null()
    keys = list(pairs)
    args = ", ".join(f"{_literal(k)}, {{}}" for k in keys)
    inner = sql(f"json_object({args})", *(pairs[k] for k in keys))
    return Expr(
        f"CAST(NULLIF(CAST(json_strip_nulls({inner.strict}) AS VARCHAR), '{{}}') AS JSON)",
        f"CAST(NULLIF(CAST(json_strip_nulls({inner.lenient}) AS VARCHAR), '{{}}') AS JSON)",
        source=inner.source,
        checks=inner.checks,
        typed="JSON",
    )
