"""Run one ingest: every input in one transaction, validated, replacing restated periods.

The sequence is: bound every gzip input (`safety.py`) → resolve connector → load raw view →
`INSERT INTO costs SELECT <mapping>` → validate the new rows (mandatory values, currencies,
magnitudes) → delete the rows of the same export (source, provider, billing account, billing
period or charge day; `replace.py`) from earlier ingests → log the ingest → commit. Any error
rolls the whole ingest back, so the warehouse is exactly as it was, and surfaces as one sanitized
`IngestError` line.
"""

from __future__ import annotations

import contextlib
import csv
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from warehouse.clock import utc_now_naive
from warehouse.errors import IngestError
from warehouse.ingest.base import Connector, LoadContext, LocalFile
from warehouse.ingest.exprs import Expr, cast, dec, q, ts, upper
from warehouse.ingest.registry import detect_format, get_connector
from warehouse.ingest.replace import replace_previous
from warehouse.ingest.safety import Limits, check_gzip, clean, clean_error
from warehouse.ingest.validate import (
    check_currencies,
    check_magnitudes,
    check_mandatory,
    locate_conversion_error,
)
from warehouse.schema import DECIMAL_TYPE, MANDATORY_NOT_NULL, focus_columns
from warehouse.settings import WarehouseSettings

__all__ = ["FileResult", "IngestReport", "PeriodTotal", "run_ingest"]

Clock = Callable[[], datetime]
FileCallback = Callable[[LocalFile, int, int], None]


class FileResult(BaseModel):
    """One input file: its detected format and how many FOCUS rows it produced."""

    file: str
    format: str
    source: str
    rows: int


class PeriodTotal(BaseModel):
    """Totals of the new rows per source, billing period and currency."""

    source: str
    billing_period_start: date
    currency: str
    rows: int
    billed_cost: Decimal
    effective_cost: Decimal


class IngestReport(BaseModel):
    """What an ingest did: rows written and replaced, totals, and warnings."""

    ingest_id: str
    rows: int
    replaced_rows: int
    files: list[FileResult]
    totals: list[PeriodTotal]
    warnings: list[str]
    started_at: datetime
    finished_at: datetime


def finalize(exprs: Mapping[str, Expr]) -> dict[str, Expr]:
    """Give every mapped expression its FOCUS type, adding a cast only where needed."""
    out: dict[str, Expr] = {}
    for column in focus_columns():
        e = exprs.get(column.name)
        if e is None:
            continue
        if column.name == "BillingCurrency":
            e = upper(e)
        if column.is_decimal and e.typed != DECIMAL_TYPE:
            e = dec(e)
        elif column.is_timestamp and e.typed != "TIMESTAMP":
            e = ts(e)
        elif column.is_json and e.typed != "JSON":
            e = cast(e, "JSON", "valid JSON")
        elif column.sql_type == "VARCHAR" and e.typed != "VARCHAR":
            e = cast(e, "VARCHAR", "text")
        out[column.name] = e
    return out


def _insert(
    con: duckdb.DuckDBPyConnection,
    view: str,
    exprs: Mapping[str, Expr],
    provenance: Sequence[Any],
) -> int:
    names = [c.name for c in focus_columns() if c.name in exprs]
    select = ", ".join(f"{exprs[n].strict} AS {q(n)}" for n in names)
    targets = ", ".join(
        q(n) for n in [*names, "x_SourceName", "x_SourceFile", "x_IngestedAt", "x_IngestId"]
    )
    row = con.execute(
        f"INSERT INTO costs ({targets}) SELECT {select}, ?, ?, ?, ? FROM {q(view)}",
        list(provenance),
    ).fetchone()
    return int(row[0]) if row else 0


class _Prepared(BaseModel, arbitrary_types_allowed=True):
    file: LocalFile
    format: str
    source: str
    view: str
    exprs: dict[str, Expr]


def _prepare(ctx: LoadContext, connector: Connector, file: LocalFile, view: str) -> dict[str, Expr]:
    """Register the raw view and build the finalized mapping (outside the transaction)."""
    raw_columns = connector.load(ctx, file, view)
    try:
        mapping = connector.columns(ctx, raw_columns)
    except IngestError as exc:
        raise IngestError(exc.detail, file=file.display, row=exc.row, column=exc.column) from None
    missing = [c for c in MANDATORY_NOT_NULL if c not in mapping]
    if missing:
        raise IngestError(
            f"no source for mandatory FOCUS column(s) {', '.join(missing)} "
            f"in this {connector.format} input",
            file=file.display,
        )
    return finalize(mapping)


class _ConversionFailed(Exception):
    def __init__(self, prepared: _Prepared, cause: str) -> None:
        super().__init__(cause)
        self.prepared = prepared
        self.cause = cause


def _write(ctx: LoadContext, p: _Prepared, provenance: Sequence[Any]) -> int:
    """Insert one prepared input and validate the new rows (inside the transaction)."""
    try:
        rows = _insert(ctx.con, p.view, p.exprs, provenance)
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        raise _ConversionFailed(p, str(exc)) from None
    except duckdb.Error as exc:
        raise IngestError(str(exc).split("\n")[0], file=p.file.display) from None
    ingest_id = str(provenance[3])
    for warning in check_mandatory(ctx.con, ingest_id, p.file.display, p.view, p.exprs):
        ctx.warn(warning)
    check_currencies(
        ctx.con,
        ingest_id,
        p.file.display,
        p.view,
        p.exprs,
        ctx.config.reporting_currency,
        ctx.config.fx_rates,
    )
    check_magnitudes(
        ctx.con, ingest_id, p.file.display, p.view, p.exprs, ctx.config.ingest_max_abs_value
    )
    return rows


def _totals(con: duckdb.DuckDBPyConnection, ingest_id: str) -> list[PeriodTotal]:
    rows = con.execute(
        "SELECT x_SourceName, CAST(BillingPeriodStart AS DATE), BillingCurrency, count(*), "
        "sum(BilledCost), sum(EffectiveCost) FROM costs WHERE x_IngestId = ? "
        "GROUP BY ALL ORDER BY 1, 2, 3",
        [ingest_id],
    ).fetchall()
    return [
        PeriodTotal(
            source=r[0],
            billing_period_start=r[1],
            currency=r[2],
            rows=r[3],
            billed_cost=r[4] or Decimal(0),
            effective_cost=r[5] or Decimal(0),
        )
        for r in rows
    ]


def _log(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    results: Sequence[FileResult],
    totals: Sequence[PeriodTotal],
    replaced: int,
    warnings: Sequence[str],
    started: datetime,
    finished: datetime,
) -> None:
    con.execute(
        "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ingest_id,
            ",".join(sorted({r.source for r in results})),
            ",".join(sorted({r.format for r in results})),
            json.dumps([r.file for r in results]),
            sum(r.rows for r in results),
            replaced,
            json.dumps(sorted({str(t.billing_period_start) for t in totals})),
            json.dumps(list(warnings)),
            started,
            finished,
        ],
    )


def run_ingest(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[LocalFile],
    *,
    config: WarehouseSettings,
    fmt: str = "auto",
    source: str | None = None,
    options: Mapping[str, Any] | None = None,
    clock: Clock = utc_now_naive,
    on_file: FileCallback | None = None,
) -> IngestReport:
    """Ingest `files` in one transaction and report what changed.

    `fmt="auto"` detects each file's format. A re-ingest replaces the earlier rows of the same
    export: same source (`source`, default the format's), provider, billing account and billing
    period (or charge day). With an explicit `source`, a re-ingest that would leave another
    provider's or account's rows of that source and period behind is refused instead.
    Every failure is one sanitized `IngestError` line and leaves the warehouse unchanged.
    """
    try:
        return _run(con, files, config, fmt, source, options, clock, on_file)
    except IngestError as exc:
        raise clean_error(exc) from None
    except (duckdb.Error, OSError, UnicodeError, ValueError, csv.Error, pa.ArrowException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise clean_error(IngestError(f"cannot ingest: {first}")) from None


def _run(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[LocalFile],
    config: WarehouseSettings,
    fmt: str,
    source: str | None,
    options: Mapping[str, Any] | None,
    clock: Clock,
    on_file: FileCallback | None,
) -> IngestReport:
    if not files:
        raise IngestError("no input files")
    limits = Limits.of(config)
    for f in files:
        if f.gzipped:
            check_gzip(f.path, limits, f.display)
    plan = [(f, detect_format(f) if fmt == "auto" else fmt) for f in files]
    connectors = {name: get_connector(name) for _, name in plan}
    ingest_id = uuid.uuid4().hex
    started = clock()
    ctx = LoadContext(con=con, config=config, options=dict(options or {}))
    con.execute("SET TimeZone = 'UTC'")
    prepared: list[_Prepared] = []
    try:
        for index, (file, name) in enumerate(plan):
            view = f"raw_{ingest_id[:8]}_{index}"
            exprs = _prepare(ctx, connectors[name], file, view)
            prepared.append(
                _Prepared(
                    file=file,
                    format=name,
                    source=source or connectors[name].default_source(ctx),
                    view=view,
                    exprs=exprs,
                )
            )
        report = _transaction(
            ctx, prepared, connectors, ingest_id, started, clock, on_file, source is not None
        )
    finally:
        for index in range(len(plan)):
            view = f"raw_{ingest_id[:8]}_{index}"
            con.execute(f"DROP VIEW IF EXISTS {q(view)}")
            with contextlib.suppress(duckdb.Error):
                con.unregister(f"{view}_arrow")
    return report


def _transaction(
    ctx: LoadContext,
    prepared: Sequence[_Prepared],
    connectors: Mapping[str, Connector],
    ingest_id: str,
    started: datetime,
    clock: Clock,
    on_file: FileCallback | None,
    explicit: bool,
) -> IngestReport:
    con = ctx.con
    results: list[FileResult] = []
    con.begin()
    try:
        for index, p in enumerate(prepared):
            rows = _write(ctx, p, [p.source, p.file.display, started, ingest_id])
            if rows == 0:
                ctx.warn(f"{p.file.display}: no billing rows")
            results.append(
                FileResult(file=p.file.display, format=p.format, source=p.source, rows=rows)
            )
            if on_file:
                on_file(p.file, index + 1, len(prepared))
        replaced = 0
        for src, scope in sorted({(r.source, connectors[r.format].replace_scope) for r in results}):
            replaced += replace_previous(con, ingest_id, src, scope, explicit=explicit)
        totals = _totals(con, ingest_id)
        finished = clock()
        total_rows = sum(r.rows for r in results)
        warnings = [clean(w, 400) for w in ctx.warnings]
        _log(con, ingest_id, results, totals, replaced, warnings, started, finished)
        con.commit()
    except _ConversionFailed as failure:
        con.rollback()
        p = failure.prepared
        raise locate_conversion_error(con, p.view, p.exprs, p.file.display, failure.cause) from None
    except BaseException:
        con.rollback()
        raise
    return IngestReport(
        ingest_id=ingest_id,
        rows=total_rows,
        replaced_rows=replaced,
        files=results,
        totals=totals,
        warnings=warnings,
        started_at=started,
        finished_at=finished,
    )
