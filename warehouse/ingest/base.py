"""The connector contract and the raw-input loaders every connector shares.

A connector turns one billing input into FOCUS rows in three steps: `detect` says whether a file
looks like its format (from the header, the parquet schema or the JSON shape), `load` registers
the raw input as a DuckDB view, and `columns` maps that view to FOCUS columns as SQL expressions.
The runner does the rest (transaction, validation, replacement, provenance) the same way for all.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.errors import IngestError
from warehouse.ingest.exprs import Expr, q
from warehouse.ingest.safety import Limits, clean, open_gzip_text
from warehouse.settings import WarehouseSettings

__all__ = [
    "Connector",
    "LoadContext",
    "LocalFile",
    "Probe",
    "load_csv",
    "load_parquet",
    "load_records",
    "parse_service_table",
    "read_json_document",
    "require",
]

FileKind = Literal["csv", "parquet", "json", "unknown"]


@dataclass(frozen=True)
class LocalFile:
    """An input on local disk; `display` is what the user named (path, s3:// or https:// URL)."""

    path: Path
    display: str

    @property
    def kind(self) -> FileKind:
        name = self.path.name.lower().removesuffix(".gz").removesuffix(".gzip")
        if name.endswith((".csv", ".tsv", ".txt")):
            return "csv"
        if name.endswith((".parquet", ".pq")):
            return "parquet"
        if name.endswith((".json", ".jsonl", ".ndjson")):
            return "json"
        return "unknown"

    @property
    def gzipped(self) -> bool:
        return self.path.name.lower().endswith((".gz", ".gzip"))


@dataclass
class Probe:
    """What detection may look at: header columns, or the parsed JSON document."""

    file: LocalFile
    columns: list[str] = field(default_factory=list)
    document: Any = None

    @property
    def column_set(self) -> set[str]:
        return set(self.columns)


@dataclass
class LoadContext:
    """Everything a connector may use while loading: the connection, config and options."""

    con: duckdb.DuckDBPyConnection
    config: WarehouseSettings
    options: Mapping[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    raw_types: dict[str, str] = field(default_factory=dict)
    """SQL type of each column of the raw view last loaded (VARCHAR for CSV and JSON)."""

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class Connector(ABC):
    """One billing format. Subclasses are registered by `format` in `registry.py`."""

    format: ClassVar[str]
    description: ClassVar[str]
    replace_scope: ClassVar[Literal["billing_period", "charge_day"]] = "billing_period"
    """Which existing rows of the same source a re-ingest replaces: whole billing periods for
    bills that providers restate, or only the charge days present for API pulls of N days."""

    @abstractmethod
    def detect(self, probe: Probe) -> bool:
        """True when the probed input is in this format."""

    @abstractmethod
    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        """Register the raw input as view `view`; return its column names."""

    @abstractmethod
    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        """Map raw columns to FOCUS columns; FOCUS columns left out become NULL."""

    def default_source(self, ctx: LoadContext) -> str:
        """The source name when `--source` is not given (the format name by default)."""
        return self.format


def parse_service_table(text: str) -> dict[str, tuple[str, str]]:
    """Parse `Category/Subcategory (X): code code …` lines into {code: (category, subcategory)}.

    Connectors keep their provider's service → FOCUS ServiceCategory table as such text.
    """
    table: dict[str, tuple[str, str]] = {}
    for line in text.strip().splitlines():
        head, _, codes = line.partition(": ")
        category, _, subcategory = head.partition("/")
        for code in codes.split():
            table[code] = (category, subcategory)
    return table


def require(raw_columns: Iterable[str], needed: Iterable[str], fmt: str) -> None:
    """Fail with the list of missing columns when a format's required columns are absent."""
    have = set(raw_columns)
    missing = [c for c in needed if c not in have]
    if missing:
        raise IngestError(f"not a valid {fmt} file: missing column(s) {', '.join(missing)}")


HEADER_LIMIT = 1024 * 1024
"""The header row must end within this many characters (a file with no line break is refused
instead of being read whole into memory)."""


def _open_text(file: LocalFile, limits: Limits | None = None) -> IO[str]:
    """Open a plain or gzip text file, BOM stripped (the caller closes it); gzip inputs are
    inflated within `limits` (the default limits when not given)."""
    if file.gzipped:
        return open_gzip_text(file.path, limits or _default_limits(), file.display)
    return open(file.path, encoding="utf-8-sig", errors="replace", newline="")


@cache
def _default_limits() -> Limits:
    return Limits.of()


def read_header(file: LocalFile, delimiter: str = ",") -> list[str]:
    """The CSV header row (BOM stripped, names trimmed), or [] for an empty file."""
    try:
        with _open_text(file) as fh:
            head = fh.read(HEADER_LIMIT)
        if len(head) >= HEADER_LIMIT and "\n" not in head and "\r" not in head:
            raise IngestError(
                f"no header row: the first line is longer than {HEADER_LIMIT:,} characters",
                file=file.display,
            )
        first = next(csv.reader(io.StringIO(head), delimiter=delimiter), [])
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"cannot read: {exc}", file=file.display) from None
    except csv.Error as exc:
        raise IngestError(f"unreadable CSV header: {exc}", file=file.display) from None
    return [c.strip() for c in first]


def read_json_document(file: LocalFile) -> Any:
    """Parse a JSON document (or JSON lines, as a list) with a precise error on truncation."""
    try:
        with _open_text(file) as fh:
            text_ = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"cannot read: {exc}", file=file.display) from None
    try:
        return json.loads(text_)
    except json.JSONDecodeError as first_error:
        lines = [ln for ln in text_.splitlines() if ln.strip()]
        if len(lines) > 1:
            docs = []
            for n, ln in enumerate(lines, 1):
                try:
                    docs.append(json.loads(ln))
                except json.JSONDecodeError as exc:
                    raise IngestError(
                        f"invalid JSON: {exc.msg}", file=file.display, row=n
                    ) from None
            return docs
        raise IngestError(
            f"invalid JSON at line {first_error.lineno}, column {first_error.colno}: "
            f"{first_error.msg}",
            file=file.display,
        ) from None


def probe(file: LocalFile) -> Probe:
    """Look at an input just enough to detect its format."""
    if file.kind == "parquet":
        try:
            names = pq.read_schema(file.path).names
        except (OSError, pa.ArrowInvalid) as exc:
            raise IngestError(
                f"not a readable parquet file: {clean(exc, 200)}", file=file.display
            ) from None
        return Probe(file, columns=list(names))
    if file.kind == "json":
        return Probe(file, document=read_json_document(file))
    return Probe(file, columns=read_header(file))


def _duck_error(file: LocalFile, exc: Exception) -> IngestError:
    """One line from DuckDB's (often multi-line) reader error, keeping the line/column facts."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    keep = [
        ln
        for ln in lines[1:]
        if ln.startswith(("Number of expected", "Actual number", "Line:", "Original Line"))
    ]
    first = clean(lines[0], 200) if lines else type(exc).__name__
    message = "; ".join([first, *(clean(k, 120) for k in keep[:2])])
    return IngestError(message, file=file.display)


def load_csv(
    ctx: LoadContext, file: LocalFile, view: str, *, delimiter: str | None = None
) -> list[str]:
    """Register a CSV (plain or gzip) as a view of VARCHAR columns with trimmed header names.

    Everything is read as text so that conversions happen in the mapping, where a failure can be
    traced to its row and column. `NULL` and empty strings are nulls (FOCUS samples use `NULL`).
    """
    header = read_header(file, delimiter or ",")
    if not header or header == [""]:
        raise IngestError("empty file: no header row", file=file.display)
    options = {
        "header": True,
        "all_varchar": True,
        "nullstr": ["NULL", ""],
        "strict_mode": True,
        "names": header,
    }
    if delimiter:
        options["delim"] = delimiter
    rel_sql = f"read_csv({_sql_str(str(file.path))}, {_kwargs(options)})"
    try:
        ctx.con.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT * FROM {rel_sql}")
        ctx.con.execute(f"SELECT count(*) FROM {q(view)}").fetchone()
    except duckdb.Error as exc:
        raise _duck_error(file, exc) from None
    ctx.raw_types = dict.fromkeys(header, "VARCHAR")
    return header


def load_parquet(ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
    """Register a parquet file (any compression) as a view."""
    try:
        ctx.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {q(view)} AS "
            f"SELECT * FROM read_parquet({_sql_str(str(file.path))})"
        )
        desc = ctx.con.execute(f"DESCRIBE {q(view)}").fetchall()
    except duckdb.Error as exc:
        raise _duck_error(file, exc) from None
    ctx.raw_types = {str(r[0]): str(r[1]) for r in desc}
    return [str(r[0]) for r in desc]


def load_records(
    ctx: LoadContext, records: Sequence[Mapping[str, Any]], view: str, columns: Sequence[str]
) -> list[str]:
    """Register parsed JSON records (API pages) as a view with the given columns.

    Values are stored as text so conversions stay in the mapping, like CSV inputs.
    """
    data = {c: [None if r.get(c) is None else _as_text(r.get(c)) for r in records] for c in columns}
    table = pa.table({c: pa.array(v, type=pa.string()) for c, v in data.items()})
    name = f"{view}_arrow"
    ctx.con.register(name, table)
    ctx.con.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT * FROM {q(name)}")
    ctx.raw_types = dict.fromkeys(columns, "VARCHAR")
    return list(columns)


def _as_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _kwargs(options: Mapping[str, Any]) -> str:
    parts = []
    for key, value in options.items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, list):
            rendered = "[" + ", ".join(_sql_str(str(v)) for v in value) + "]"
        else:
            rendered = _sql_str(str(value))
        parts.append(f"{key}={rendered}")
    return ", ".join(parts)
