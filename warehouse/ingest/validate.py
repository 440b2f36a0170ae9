"""Row-level checks on freshly inserted rows, and locating the first bad row of an input.

Checks run on the fast path as cheap aggregates over the new rows; only when one fails does the
diagnosis rescan the raw input with row numbers to name the exact row and column.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from importlib import resources

import duckdb

from warehouse.errors import IngestError
from warehouse.ingest.exprs import Expr, q
from warehouse.ingest.safety import clean
from warehouse.schema import MANDATORY_NOT_NULL, REQUIRED_VALUES, focus_columns

__all__ = [
    "check_currencies",
    "check_magnitudes",
    "check_mandatory",
    "iso_currencies",
    "locate_conversion_error",
]


@cache
def iso_currencies() -> frozenset[str]:
    """ISO 4217 codes accepted as BillingCurrency (list from the FOCUS validator, MIT)."""
    text = resources.files("warehouse").joinpath("data/currency_codes.csv").read_text()
    codes = (line.split(",")[-1].strip() for line in text.splitlines()[1:])
    return frozenset(c for c in codes if c)


def _numbered(view: str) -> str:
    return f"(SELECT row_number() OVER () AS __rn, * FROM {q(view)})"


def locate_conversion_error(
    con: duckdb.DuckDBPyConnection, view: str, exprs: Mapping[str, Expr], file: str, cause: str
) -> IngestError:
    """Find the first raw row whose value cannot be converted, and say where and why."""
    flagged = [(target, chk) for target, e in exprs.items() for chk in e.checks]
    if flagged:
        conditions = [f"(({c.input}) IS NOT NULL AND ({c.output}) IS NULL)" for _, c in flagged]
        flags = ", ".join(conditions)
        row = con.execute(
            f"SELECT __rn, [{flags}] FROM {_numbered(view)} "
            f"WHERE {' OR '.join(conditions)} ORDER BY __rn LIMIT 1"
        ).fetchone()
        if row is not None:
            index = list(row[1]).index(True)
            target, chk = flagged[index]
            value = con.execute(
                f"SELECT CAST({chk.input} AS VARCHAR) FROM {_numbered(view)} WHERE __rn = ?",
                [row[0]],
            ).fetchone()
            shown = _quoted(value[0] if value else None)
            return IngestError(
                f"cannot convert {shown} to {chk.expected} (for FOCUS {target})",
                file=file,
                row=int(row[0]),
                column=chk.source,
            )
    return IngestError(f"conversion failed: {clean(cause.splitlines()[0], 200)}", file=file)


def _quoted(value: object) -> str:
    return "None" if value is None else f"'{clean(value, 60)}'"


def check_mandatory(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    file: str,
    view: str,
    exprs: Mapping[str, Expr],
) -> list[str]:
    """Reject nulls in `REQUIRED_VALUES`; return warnings for nulls in other mandatory columns."""
    counts = ", ".join(f"count(*) FILTER (WHERE {q(c)} IS NULL)" for c in MANDATORY_NOT_NULL)
    row = con.execute(
        f"SELECT {counts} FROM costs WHERE x_IngestId = ? AND x_SourceFile = ?", [ingest_id, file]
    ).fetchone()
    if row is None:
        return []
    warnings = []
    for name, nulls in zip(MANDATORY_NOT_NULL, row, strict=True):
        if nulls and name not in REQUIRED_VALUES:
            warnings.append(
                f"{file}: {nulls:,} row(s) without a value for mandatory FOCUS column {name} "
                "(kept as NULL)"
            )
        elif nulls:
            e = exprs[name]
            found = con.execute(
                f"SELECT __rn FROM {_numbered(view)} WHERE ({e.lenient}) IS NULL "
                "ORDER BY __rn LIMIT 1"
            ).fetchone()
            source = f" (source column {e.source})" if e.source and e.source != name else ""
            raise IngestError(
                f"missing value for mandatory FOCUS column {name}{source}; "
                f"{nulls:,} row(s) affected",
                file=file,
                row=int(found[0]) if found else None,
                column=e.source or name,
            )
    return warnings


def check_currencies(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    file: str,
    view: str,
    exprs: Mapping[str, Expr],
    reporting_currency: str,
    fx_rates: Mapping[str, Decimal],
) -> list[str]:
    """BillingCurrency must be ISO 4217 and convertible to the reporting currency."""
    found = [
        str(r[0])
        for r in con.execute(
            "SELECT DISTINCT BillingCurrency FROM costs WHERE x_IngestId = ? AND x_SourceFile = ? "
            "ORDER BY 1",
            [ingest_id, file],
        ).fetchall()
    ]
    expr = exprs["BillingCurrency"]

    def first_row(code: str) -> int | None:
        hit = con.execute(
            f"SELECT __rn FROM {_numbered(view)} "
            f"WHERE upper(trim(CAST(({expr.lenient}) AS VARCHAR))) = ? ORDER BY __rn LIMIT 1",
            [code],
        ).fetchone()
        return int(hit[0]) if hit else None

    for code in found:
        if code not in iso_currencies():
            raise IngestError(
                f"unknown currency {_quoted(code)} (not an ISO 4217 code)",
                file=file,
                row=first_row(code),
                column=expr.source or "BillingCurrency",
            )
    for code in found:
        if code != reporting_currency and code not in fx_rates:
            mixed = "mixed currencies " + "/".join(found) if len(found) > 1 else f"currency {code}"
            raise IngestError(
                f"{mixed} without a rate: no fx_rates.{code} to convert into the reporting "
                f"currency {reporting_currency}; add `fx_rates: {{{code}: <rate>}}` to finops.yaml "
                f"or set reporting_currency: {code}",
                file=file,
                row=first_row(code),
                column=expr.source or "BillingCurrency",
            )
    return found


def check_magnitudes(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    file: str,
    view: str,
    exprs: Mapping[str, Expr],
    bound: Decimal,
) -> None:
    """Reject a value above `bound` (absolute) in any money or quantity column of the new rows.

    One such value would commit fine and then overflow every SUM over the warehouse.
    """
    names = [c.name for c in focus_columns() if c.is_decimal and c.name in exprs]
    if not names:
        return
    limit = f"CAST({bound} AS DOUBLE)"
    flags = ", ".join(
        f"count(*) FILTER (WHERE abs(CAST({q(n)} AS DOUBLE)) > {limit})" for n in names
    )
    row = con.execute(
        f"SELECT {flags} FROM costs WHERE x_IngestId = ? AND x_SourceFile = ?", [ingest_id, file]
    ).fetchone()
    if row is None or not any(row):
        return
    name = names[[bool(n) for n in row].index(True)]
    e = exprs[name]
    found = con.execute(
        f"SELECT __rn, CAST(({e.lenient}) AS VARCHAR) FROM {_numbered(view)} "
        f"WHERE abs(CAST(({e.lenient}) AS DOUBLE)) > {limit} ORDER BY __rn LIMIT 1"
    ).fetchone()
    shown = _quoted(_plain(found[1])) if found else "a value"
    raise IngestError(
        f"{shown} is out of range for FOCUS {name}: the absolute value of one row may not exceed "
        f"{bound:,f} (ingest_max_abs_value); {sum(row):,} value(s) over it in this file",
        file=file,
        row=int(found[0]) if found else None,
        column=e.source or name,
    )


def _plain(value: str | None) -> str | None:
    """A decimal as written by a person: `150`, not `150.000000000000`."""
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except ArithmeticError:
        return value
