"""Stored forecasts: the `forecasts` warehouse table, refreshed after every ingest.

`refresh_forecasts` computes the month-end and quarter-end forecasts of the configured scopes
(`forecast:` in finops.yaml: the total, `ProviderName` and every virtual tag by default) as of
the latest charge day, then writes them in one transaction: the rows of the same as-of day and
metric are replaced, earlier as-of days are kept (how a forecast moved is itself useful to
budgets). Everything is computed before the first write, so a bad dimension or an empty
warehouse raises and stores nothing. `refresh_after_ingest` is the hook the ingest command
calls after a successful ingest; it never fails the ingest, it reports.

The table is warehouse migration 6 (`warehouse.migrations`), applied when the warehouse opens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import duckdb
from pydantic import BaseModel

from tools.forecast.config import ForecastConfig, forecast_config
from tools.forecast.service import (
    METHOD,
    ForecastQuery,
    ForecastResult,
    SeriesForecast,
    forecast_history,
    history_since,
    load_history,
    resolve_as_of,
)
from tools.query import DuckDBEngine
from tools.settings import ToolSettings
from warehouse.clock import utc_now_naive
from warehouse.errors import FinopsError, QueryError
from warehouse.migrations import ensure_tables

__all__ = [
    "RefreshResult",
    "refresh_after_ingest",
    "refresh_forecasts",
    "refresh_summary",
    "stored_forecasts",
]

_COLUMNS = (
    "refreshed_at",
    "as_of",
    "horizon",
    "period_start",
    "period_end",
    "scope",
    "dimension",
    "value",
    "metric",
    "currency",
    "actual_to_date",
    "forecast_remaining",
    "forecast_total",
    "lower_80",
    "upper_80",
    "lower_95",
    "upper_95",
    "model",
    "method",
    "history_days",
)
"""The columns of `forecasts`. `scope` is the filter text ('' = all spend); `dimension`/`value`
are '' for the scope total."""
Clock = Callable[[], datetime]


class RefreshResult(BaseModel):
    """What a refresh stored (or, from the ingest hook, why it stored nothing)."""

    as_of: date | None
    refreshed_at: datetime
    rows: int
    scopes: list[str]
    seconds: float
    method: str = METHOD
    warnings: list[str] = []
    error: str | None = None


def _dimensions(
    con: duckdb.DuckDBPyConnection, config: ToolSettings, cfg: ForecastConfig, warnings: list[str]
) -> list[str | None]:
    """The total, the configured breakdowns and (when on) every virtual tag; the allocation is
    brought up to date first when any of them is a virtual tag."""
    dims: list[str | None] = [None, *cfg.dimensions]
    named = any(d.lower().startswith("vtag:") for d in cfg.dimensions)
    if (cfg.virtual_tags or named) and config.virtual_tags:
        from tools.vtags.allocate import ensure_allocation

        try:
            ensure_allocation(con, config)
            if cfg.virtual_tags:
                dims += [f"vtag:{name}" for name in sorted(config.virtual_tags)]
        except FinopsError as exc:
            if named:
                raise
            warnings.append(f"virtual tags skipped: {exc}")
    return list(dict.fromkeys(dims))


def _row(now: datetime, r: ForecastResult, s: SeriesForecast) -> list[Any]:
    dim, value = next(iter(s.dimensions.items()), ("", ""))
    return [
        now,
        r.as_of,
        r.horizon,
        r.period_start,
        r.period_end,
        "",
        dim,
        value,
        r.metric,
        r.currency,
        s.actual_to_date,
        s.forecast_remaining,
        s.forecast_total,
        s.interval(80).lower,
        s.interval(80).upper,
        s.interval(95).lower,
        s.interval(95).upper,
        s.model,
        s.method,
        s.history_days,
    ]


def _compute(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    cfg: ForecastConfig,
    dims: Sequence[str | None],
    as_of: date,
) -> list[ForecastResult]:
    engine = DuckDBEngine(con)
    since = min(history_since(as_of, h, cfg.history_days) for h in cfg.horizons)
    results = []
    for dim in dims:
        history = load_history(
            engine,
            config,
            by=dim,
            filters=[],
            metric=cfg.metric,
            since=since,
            until=as_of,
            top=cfg.top,
        )
        for horizon in cfg.horizons:
            query = ForecastQuery(
                by=dim,
                horizon=horizon,
                metric=cfg.metric,
                history_days=cfg.history_days,
                top=cfg.top,
            )
            results.append(forecast_history(history, query, as_of))
    return results


def refresh_forecasts(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    *,
    as_of: date | None = None,
    dimensions: Sequence[str] | None = None,
    clock: Clock = utc_now_naive,
) -> RefreshResult:
    """Compute and store the configured forecasts as of the latest charge day (or `as_of`).

    `dimensions` overrides the configured breakdowns (the total is always stored).
    Example: `refresh_forecasts(con, config)` after an ingest → rows in `forecasts`.
    """
    started = time.perf_counter()
    cfg = forecast_config(config)
    if dimensions is not None:
        cfg = cfg.model_copy(update={"dimensions": list(dimensions), "virtual_tags": False})
    warnings: list[str] = []
    day = resolve_as_of(DuckDBEngine(con), as_of)
    dims = _dimensions(con, config, cfg, warnings)
    results = _compute(con, config, cfg, dims, day)
    now = clock()
    rows = [_row(now, r, s) for r in results for s in ([r.total] if r.by is None else r.groups)]
    _write(con, day, cfg.metric, rows)
    return RefreshResult(
        as_of=day,
        refreshed_at=now,
        rows=len(rows),
        scopes=["total" if d is None else d for d in dims],
        seconds=round(time.perf_counter() - started, 3),
        warnings=warnings,
    )


def _write(con: duckdb.DuckDBPyConnection, as_of: date, metric: str, rows: list[list[Any]]) -> None:
    placeholders = ", ".join("?" for _ in _COLUMNS)
    ensure_tables(con, "forecasts")
    con.begin()
    try:
        con.execute(
            "DELETE FROM forecasts WHERE as_of = ? AND metric = ? AND scope = ''", [as_of, metric]
        )
        if rows:
            con.executemany(
                f"INSERT INTO forecasts ({', '.join(_COLUMNS)}) VALUES ({placeholders})", rows
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def refresh_after_ingest(
    con: duckdb.DuckDBPyConnection, config: ToolSettings, *, clock: Clock = utc_now_naive
) -> RefreshResult | None:
    """The ingest hook: refresh when `forecast.on_ingest` is on; report failures, never raise.

    The ingest has committed when this runs, so any failure here (a bad forecast config, an
    engine error) is reported as one line for a warning, never as a failed ingest.
    """
    if not forecast_config(config).on_ingest:
        return None
    try:
        return refresh_forecasts(con, config, clock=clock)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, FinopsError):
            with contextlib.suppress(duckdb.Error):
                con.rollback()
        return RefreshResult(
            as_of=None, refreshed_at=clock(), rows=0, scopes=[], seconds=0.0, error=first[:300]
        )


def refresh_summary(result: RefreshResult) -> str:
    """One line for the ingest command's stderr."""
    if result.error:
        return f"warning: forecasts not refreshed: {result.error}"
    text = (
        f"forecasts refreshed as of {result.as_of}: {result.rows:,} rows "
        f"({', '.join(result.scopes)}) in {result.seconds:.2f} s"
    )
    return "; ".join([text, *result.warnings])


def stored_forecasts(
    con: duckdb.DuckDBPyConnection, *, horizon: str | None = None
) -> list[dict[str, Any]]:
    """Rows of the most recent refresh (optionally one horizon), totals first."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'forecasts'"
    ).fetchone()
    if not exists or not exists[0] or not con.execute("FROM forecasts LIMIT 1").fetchone():
        raise QueryError("no forecasts are stored yet: they are refreshed after every ingest")
    where = "refreshed_at = (SELECT max(refreshed_at) FROM forecasts)"
    params: list[Any] = []
    if horizon is not None:
        where += " AND horizon = ?"
        params.append(horizon)
    cur = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM forecasts WHERE {where} "
        "ORDER BY horizon, dimension <> '', dimension, forecast_total DESC, value",
        params,
    )
    return [dict(zip(_COLUMNS, r, strict=True)) for r in cur.fetchall()]
