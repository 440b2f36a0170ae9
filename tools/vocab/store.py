"""Building the catalog from the warehouse, storing it, reading it back, and telling if it is stale.

The catalog lives in the warehouse (`vocab`, `vocab_meta`: migration 7) so every process reads
the same one; it is rebuilt wholesale through the query layer's `Engine` (DuckDB as written, Spark
transpiled). It is stale when the data or the allocation changed since it was built: the
fingerprint covers the cost rows and ingests (the allocation's own fingerprint), the allocation's
build, the reporting currency and fx rates, and `VOCAB_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tools.query import Engine, cost_expression
from tools.settings import ToolSettings
from tools.vocab.models import CatalogMeta, Row
from tools.vocab.sql import (
    COUNTS_SQL,
    LABEL_PAIRS,
    META_COLUMNS,
    PLAIN_COLUMNS,
    VOCAB_COLUMNS,
    catalog_select,
    groups_sql,
    months_sql,
    presence_sql,
    store_meta_sql,
    store_sql,
    vtags_select,
)
from warehouse.clock import utc_now_naive
from warehouse.errors import QueryError

__all__ = [
    "VOCAB_VERSION",
    "Snapshot",
    "build_catalog",
    "fingerprint",
    "stored_meta",
    "stored_rows",
    "writable",
]

VOCAB_VERSION = 1
"""Bump when the build changes what is stored, so existing catalogs rebuild."""

_CANDIDATES = (*PLAIN_COLUMNS, *(c for pair in LABEL_PAIRS for c in pair), "Tags")


@dataclass(frozen=True)
class Snapshot:
    """A built (or read) catalog: its rows and what it was built from."""

    rows: list[Row] | None
    meta: CatalogMeta
    stored: bool


def fingerprint(engine: Engine, config: ToolSettings) -> str:
    """What the catalog depends on, hashed: data, allocation, currency, fx, version."""
    tables = engine.tables()
    if "costs" not in tables:
        raise QueryError("the warehouse has no `costs` table; run `finops ingest` first")
    if "ingests" in tables:
        from tools.vtags.freshness import FINGERPRINT_SQL

        data = engine.query(FINGERPRINT_SQL)
    else:
        data = engine.query("SELECT count(*), CAST(max(ChargePeriodStart) AS VARCHAR) FROM costs")
    allocation: list[Any] = []
    if config.virtual_tags:
        from tools.vtags.allocate import allocation_state, definitions_sha

        state = allocation_state(engine)
        allocation = [definitions_sha(config), state["built_at"] if state else None]
    doc = {
        "version": VOCAB_VERSION,
        "data": [None if v is None else str(v) for v in (data[0] if data else ())],
        "allocation": allocation,
        "currency": config.reporting_currency,
        "fx": {k: str(v) for k, v in sorted(config.fx_rates.items())},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def writable(engine: Engine) -> bool:
    """Whether the catalog can be stored: not on a read-only DuckDB connection (the agent's)."""
    if engine.dialect != "duckdb":
        return True
    rows = engine.query(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return not (rows and rows[0][0])


def _presence(engine: Engine) -> tuple[int, date | None, date | None, set[str]]:
    """Rows, data range, and the candidate columns that exist and hold a value.

    One query; when a column is missing (a lakehouse table without some FOCUS column) the
    engine's error differs per engine, so each column is then probed on its own.
    """
    try:
        row = engine.query(presence_sql(_CANDIDATES))[0]
        counts = dict(zip(_CANDIDATES, row[3:], strict=True))
    except Exception:
        row = engine.query(presence_sql(()))[0]
        counts = {c: _probe(engine, c) for c in _CANDIDATES}
    present = {c for c, n in counts.items() if n}
    return int(row[0] or 0), row[1], row[2], present


def _probe(engine: Engine, column: str) -> int:
    """The column's non-null count; 0 when the engine cannot read it (absent)."""
    try:
        return int(engine.query(f"SELECT count({column}) FROM costs")[0][0] or 0)
    except Exception:
        return 0


def _vtags(engine: Engine, config: ToolSettings, cost: str, warnings: list[str]) -> str | None:
    """The virtual-tag branch when the allocation is current, else a warning."""
    if not config.virtual_tags:
        return None
    from tools.vtags.freshness import require_fresh
    from tools.vtags.sql import key_columns, key_expression

    try:
        require_fresh(engine, config)
    except QueryError as exc:
        warnings.append(f"virtual tags not catalogued: {exc}")
        return None
    key = key_expression(key_columns(list(config.virtual_tags.values())))
    return vtags_select(sorted(config.virtual_tags), key, cost)


def _rows(raw: Sequence[tuple[Any, ...]]) -> list[Row]:
    """The catalog's own rows as `Row` tuples (entries are made from them on demand)."""
    return [
        (
            str(r[0]),
            str(r[1]),
            None if r[2] is None else str(r[2]),
            r[3] if isinstance(r[3], Decimal) else Decimal(str(r[3] or 0)),
            r[4],
            r[5],
            int(r[6]),
        )
        for r in raw
    ]


def build_catalog(
    engine: Engine, config: ToolSettings, *, store: bool, read_back: bool = True
) -> Snapshot:
    """Build the catalog from `costs` (and the allocation); store it when `store`. The rows
    come back (`Snapshot.rows`) unless a stored build is not `read_back` (a refresh hook only
    needs the counts)."""
    started = time.perf_counter()
    fp = fingerprint(engine, config)
    rows, first, last, present = _presence(engine)
    months = [r[0] for r in engine.query(months_sql())] if rows else []
    plain = [c for c in PLAIN_COLUMNS if c in present]
    pairs = [p for p in LABEL_PAIRS if p[0] in present and p[1] in present]
    singles = [c for p in LABEL_PAIRS if p not in pairs for c in p if c in present]
    tags = "Tags" in present
    cost = cost_expression("billed", config.reporting_currency, config.fx_rates)
    warnings: list[str] = []
    vtags = _vtags(engine, config, cost, warnings) if rows else None
    select = catalog_select(plain, pairs, singles, tags, vtags, engine.dialect)
    grouped = bool(plain or pairs or singles or tags)
    built: list[Row] | None = None
    if not store:
        if grouped:
            engine.execute(groups_sql([*plain, *singles], pairs, tags, cost))
        built = _rows(engine.query(select))
        counts = _counts(built)
        meta = _meta(fp, started, config, (first, last), months, counts, warnings)
        return Snapshot(rows=built, meta=meta, stored=False)
    with engine.transaction():
        if grouped:
            engine.execute(groups_sql([*plain, *singles], pairs, tags, cost))
        engine.execute(store_sql(select))
        if read_back:
            names = ", ".join(n for n, _t in VOCAB_COLUMNS)
            built = _rows(engine.query(f"SELECT {names} FROM vocab"))
            counts = _counts(built)
        else:
            found = engine.query(COUNTS_SQL)[0]
            counts = (int(found[0]), int(found[1]), int(found[2]))
        meta = _meta(fp, started, config, (first, last), months, counts, warnings)
        engine.execute(store_meta_sql(), _meta_params(meta))
    return Snapshot(rows=built, meta=meta, stored=True)


def _counts(rows: Sequence[Row]) -> tuple[int, int, int]:
    dims = {r[0] for r in rows}
    return len(rows), len(dims), sum(d.startswith("tag:") for d in dims)


def _meta(
    fp: str,
    started: float,
    config: ToolSettings,
    span: tuple[date | None, date | None],
    months: list[date],
    counts: tuple[int, int, int],
    warnings: list[str],
) -> CatalogMeta:
    return CatalogMeta(
        fingerprint=fp,
        built_at=utc_now_naive(),
        seconds=round(time.perf_counter() - started, 3),
        currency=config.reporting_currency,
        first_day=span[0],
        last_day=span[1],
        months=months,
        entries=counts[0],
        dimensions=counts[1],
        tag_keys=counts[2],
        warnings=warnings,
    )


def _meta_params(meta: CatalogMeta) -> list[object]:
    return [
        meta.fingerprint,
        meta.built_at,
        meta.seconds,
        meta.currency,
        meta.first_day,
        meta.last_day,
        json.dumps([m.isoformat() for m in meta.months]),
        meta.entries,
        meta.dimensions,
        meta.tag_keys,
        json.dumps(meta.warnings),
    ]


def stored_meta(engine: Engine) -> CatalogMeta | None:
    """The stored catalog's record, or None when none was stored yet, or when it cannot be read
    (a table of another shape, whatever error the engine gives): the caller then rebuilds it."""
    if not {"vocab", "vocab_meta"} <= engine.tables():
        return None
    try:
        rows = engine.query(f"SELECT {', '.join(n for n, _t in META_COLUMNS)} FROM vocab_meta")
    except Exception:
        return None
    if not rows:
        return None
    r = rows[0]
    return CatalogMeta(
        fingerprint=r[0],
        built_at=r[1] if isinstance(r[1], datetime) else datetime.fromisoformat(str(r[1])),
        seconds=float(r[2]),
        currency=r[3],
        first_day=r[4],
        last_day=r[5],
        months=[date.fromisoformat(m) for m in json.loads(r[6] or "[]")],
        entries=int(r[7]),
        dimensions=int(r[8] or 0),
        tag_keys=int(r[9] or 0),
        warnings=json.loads(r[10] or "[]"),
    )


def stored_rows(engine: Engine) -> list[Row]:
    """Every stored catalog row."""
    names = ", ".join(n for n, _t in VOCAB_COLUMNS)
    return _rows(engine.query(f"SELECT {names} FROM vocab"))
