"""Loading business usage (requests, customers, agent tasks…) from CSV into `usage_metrics`.

The file has one row per day, metric and virtual tag value:

    date,metric,vtag,value,quantity
    2026-10-01,requests,feature,Checkout,120000
    2026-10-01,tasks,agent,ticket-triage-agent,5400

Why this shape: unit economics divides the cost a virtual tag allocates to a value by the usage
of that value, so usage is keyed the same way (`vtag` names the virtual tag, `value` is one of its
values). Values are normalized as the virtual tag stores them (`Checkout` → `checkout`, aliases
applied), so the CSV can use the spelling of whatever system exported it.

Validated strictly, before anything is written: a bad date, a negative or non-numeric quantity,
a missing or unknown column, an empty metric or value fails with the file, the line (as an editor
numbers it, header = line 1) and the column. The write is one transaction, and a load replaces
the earlier rows of the same source, metric and day, so loading a file again is idempotent.
"""

from __future__ import annotations

import csv
import gzip
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from tools.settings import ToolSettings
from tools.vtags.definitions import VirtualTag
from warehouse.errors import IngestError

__all__ = [
    "USAGE_COLUMNS",
    "UsageFileError",
    "UsageLoadResult",
    "UsageSeries",
    "load_usage_csv",
]

USAGE_COLUMNS = ("date", "metric", "vtag", "value", "quantity")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VTAG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MICRO = Decimal("1E-6")
_MAX_QUANTITY = Decimal(10) ** 32
_MAX_TEXT = 200


class UsageFileError(IngestError):
    """A usage CSV was rejected; nothing was written. Names the file, line and column."""

    def __init__(
        self, message: str, *, file: str, line: int | None = None, column: str | None = None
    ) -> None:
        super().__init__(message, file=file, column=column)
        self.line = line
        where = [file, f"line {line:,}" if line else None, f"column {column}" if column else None]
        self.args = (f"{', '.join(p for p in where if p)}: {message}",)


class UsageSeries(BaseModel):
    """What one load holds for one metric of one virtual tag."""

    metric: str
    vtag: str
    first_day: date
    last_day: date
    rows: int
    values: int
    quantity: Decimal


class UsageLoadResult(BaseModel):
    """A finished load: rows written, earlier rows replaced, per-series summary, warnings."""

    file: str
    source: str
    rows: int
    replaced_rows: int
    loaded_at: datetime
    series: list[UsageSeries]
    warnings: list[str]


@dataclass
class _Parsed:
    days: list[date]
    metrics: list[str]
    vtags: list[str]
    values: list[str]
    raw: list[str]
    quantities: list[Decimal]


def _open(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _records(path: Path, name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank record, with read errors made operator-clear."""
    try:
        with _open(path) as handle:
            reader = csv.reader(handle, strict=True)
            try:
                for fields in reader:
                    if fields and any(f.strip() for f in fields):
                        yield reader.line_num, fields
            except csv.Error as exc:
                raise UsageFileError(
                    f"malformed CSV: {exc}", file=name, line=reader.line_num
                ) from None
    except FileNotFoundError:
        raise UsageFileError("file not found", file=name) from None
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise UsageFileError(f"cannot read the file as UTF-8 CSV: {exc}", file=name) from None


def _header(fields: list[str], name: str, line: int) -> list[int]:
    """Column positions of `USAGE_COLUMNS` in the header (case and spaces ignored)."""
    names = [f.strip().lower() for f in fields]
    expected = ",".join(USAGE_COLUMNS)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageFileError(f"duplicate column(s) {', '.join(dupes)}", file=name, line=line)
    unknown = [n for n in names if n not in USAGE_COLUMNS]
    if unknown:
        raise UsageFileError(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; expected {expected}",
            file=name,
            line=line,
        )
    missing = [c for c in USAGE_COLUMNS if c not in names]
    if missing:
        raise UsageFileError(
            f"missing column(s) {', '.join(missing)}; expected {expected}", file=name, line=line
        )
    return [names.index(c) for c in USAGE_COLUMNS]


def _day(text: str, err: _Err) -> date:
    if not _DATE.match(text):
        raise err("date", f"invalid date {text!r}; expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise err("date", f"invalid date {text!r}: no such day") from None


def _quantity(text: str, err: _Err) -> Decimal:
    try:
        q = Decimal(text)
    except InvalidOperation:
        hint = " (no thousands separators: write 1000, not 1,000)" if "," in text else ""
        raise err("quantity", f"{text!r} is not a number{hint}") from None
    if not q.is_finite():
        raise err("quantity", f"{text!r} is not a finite number")
    if q < 0:
        raise err("quantity", f"negative quantity {text}; usage must be >= 0")
    if q >= _MAX_QUANTITY:
        raise err("quantity", f"quantity {text} is too large (at most 32 integer digits)")
    if q != q.quantize(_MICRO):
        raise err("quantity", f"quantity {text} has more than 6 decimal places")
    return q


def _text(text: str, column: str, err: _Err) -> str:
    if not text:
        raise err(column, f"empty {column}")
    if len(text) > _MAX_TEXT:
        raise err(column, f"{column} is longer than {_MAX_TEXT} characters")
    return text


class _Err:
    """Builds the error for one line: `err("quantity", "…")`."""

    def __init__(self, name: str, line: int) -> None:
        self.name, self.line = name, line

    def __call__(self, column: str, message: str) -> UsageFileError:
        return UsageFileError(message, file=self.name, line=self.line, column=column)


def _parse(path: Path, name: str, vtags: Mapping[str, VirtualTag]) -> _Parsed:
    out = _Parsed([], [], [], [], [], [])
    records = _records(path, name)
    first = next(records, None)
    if first is None:
        raise UsageFileError(
            f"the file is empty; expected a header {','.join(USAGE_COLUMNS)}", file=name
        )
    positions = _header(first[1], name, first[0])
    default = VirtualTag()
    for line, fields in records:
        err = _Err(name, line)
        if len(fields) != len(first[1]):
            raise UsageFileError(
                f"expected {len(first[1])} fields, found {len(fields)}", file=name, line=line
            )
        raw_day, metric, vtag, raw_value, raw_q = (fields[i].strip() for i in positions)
        vtag = _text(vtag, "vtag", err).lower().removeprefix("vtag:").strip()
        if not _VTAG.match(vtag):
            raise err("vtag", f"invalid virtual tag name {vtag!r} (lower case, digits, _)")
        value = vtags.get(vtag, default).norm(_text(raw_value, "value", err))
        if not value:
            raise err("value", f"value {raw_value!r} is empty once normalized")
        out.days.append(_day(raw_day, err))
        out.metrics.append(_text(metric, "metric", err))
        out.vtags.append(vtag)
        out.values.append(value)
        out.raw.append(raw_value)
        out.quantities.append(_quantity(raw_q, err))
    if not out.days:
        raise UsageFileError("no data rows after the header", file=name)
    return out


def _warnings(parsed: _Parsed, config: ToolSettings | None) -> list[str]:
    if config is None:
        return []
    out = []
    vtags = config.virtual_tags
    for name in sorted(set(parsed.vtags)):
        if name not in vtags:
            out.append(
                f"virtual tag {name!r} is not defined in finops.yaml "
                f"({', '.join(sorted(vtags)) or 'none are'}); its values were normalized with "
                "the default rules and no cost can be matched to them until it is defined"
            )
            continue
        allowed = vtags[name].allowed()
        if allowed is None:
            continue
        outside = sorted(
            {v for t, v in zip(parsed.vtags, parsed.values, strict=True) if t == name}
            - set(allowed)
        )
        if outside:
            out.append(
                f"{name}: value(s) {', '.join(outside[:5])}{' …' if len(outside) > 5 else ''} "
                "are not in allowed_values, so no cost is allocated to them"
            )
    return out


def _arrow(parsed: _Parsed) -> pa.Table:
    return pa.table(
        {
            "day": pa.array(parsed.days, pa.date32()),
            "metric": pa.array(parsed.metrics, pa.string()),
            "vtag": pa.array(parsed.vtags, pa.string()),
            "value": pa.array(parsed.values, pa.string()),
            "raw_value": pa.array(parsed.raw, pa.string()),
            "quantity": pa.array(parsed.quantities, pa.decimal128(38, 6)),
        }
    )


def _series(con: duckdb.DuckDBPyConnection, view: str) -> list[UsageSeries]:
    rows = con.execute(
        f"SELECT metric, vtag, min(day), max(day), count(*), count(DISTINCT value), sum(quantity) "
        f"FROM {view} GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    keys = ("metric", "vtag", "first_day", "last_day", "rows", "values", "quantity")
    return [UsageSeries.model_validate(dict(zip(keys, r, strict=True))) for r in rows]


def _write(con: duckdb.DuckDBPyConnection, view: str, provenance: list[Any], replace: bool) -> int:
    """Delete what the load replaces, insert the rows; return the replaced row count."""
    replaced = 0
    if replace:
        row = con.execute(
            f"DELETE FROM usage_metrics USING (SELECT DISTINCT metric, day FROM {view}) AS n "
            "WHERE usage_metrics.source = ? AND usage_metrics.metric = n.metric "
            "AND usage_metrics.day = n.day",
            provenance[:1],
        ).fetchone()
        replaced = int(row[0]) if row else 0
    con.execute(
        "INSERT INTO usage_metrics (day, metric, vtag, value, raw_value, quantity, source, file, "
        f"loaded_at) SELECT day, metric, vtag, value, raw_value, quantity, ?, ?, ? FROM {view}",
        provenance,
    )
    return replaced


def load_usage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    *,
    config: ToolSettings | None = None,
    source: str | None = None,
    replace: bool = True,
    now: datetime | None = None,
) -> UsageLoadResult:
    """Validate a usage CSV and write it to `usage_metrics` in one transaction.

    `source` (default: the file name) keys the replacement: with `replace`, rows of the same
    source, metric and day are deleted first, so loading a corrected or identical file again
    leaves exactly its rows. Values are normalized by their virtual tag in `config`.
    Example: `load_usage_csv(con, "usage.csv", config=config, source="product-analytics")`.
    """
    p, name = Path(path), str(path)
    src = (source or p.name).strip()
    if not src:
        raise UsageFileError("the source name is empty", file=name)
    parsed = _parse(p, name, config.virtual_tags if config else {})
    loaded_at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    view = f"usage_load_{uuid.uuid4().hex}"
    con.register(view, _arrow(parsed))
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            replaced = _write(con, view, [src, str(p.resolve()), loaded_at], replace)
            series = _series(con, view)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister(view)
    return UsageLoadResult(
        file=name,
        source=src,
        rows=len(parsed.days),
        replaced_rows=replaced,
        loaded_at=loaded_at,
        series=series,
        warnings=_warnings(parsed, config),
    )
