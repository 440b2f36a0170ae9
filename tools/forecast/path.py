"""The day-by-day path of a scope-total forecast, for charts: actual daily spend of the period to
date, the forecast of each day left, and the 80% / 95% bands of the period's running total.

`spend_forecast` answers with the period totals only (its day list is dropped to keep the answer
short). A chart of that answer needs the days, so `forecast_path(engine, config, data)` rebuilds
them from the answer itself (scope filters, metric, horizon, as-of day): the same history, the
same model and the same bootstrap seed as `tools.forecast.service`, so the band on the last day is
exactly
the interval the answer states, and a scoped answer (filters forced to a viewer's team) draws
only that scope's spend.

Example:
    path = forecast_path(ctx.engine(), ctx.config, tool_result)
    path.interval(80)  # (lower, upper) of the period total, as in the answer
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from tools.forecast.model import fit
from tools.forecast.service import (
    LEVELS,
    TOTAL,
    ForecastQuery,
    _seed,
    fit_window,
    history_since,
    load_history,
)
from tools.query import Engine
from tools.settings import ToolSettings
from tools.spend.engine import Filter

__all__ = ["Band", "ForecastPath", "forecast_path"]

_CENT = Decimal("0.01")


class Band(BaseModel):
    """Bounds of the period's running total at `level` percent, one pair per forecast day."""

    level: int
    lower: list[Decimal]
    upper: list[Decimal]


class ForecastPath(BaseModel):
    """Actual days (period start … as-of) then forecast days (as-of + 1 … period end)."""

    metric: str
    currency: str
    horizon: str
    period_start: date
    period_end: date
    as_of: date
    filters: list[Filter] = Field(default_factory=list)
    actual_days: list[date]
    actual: list[Decimal] = Field(description="Daily spend of each actual day.")
    forecast_days: list[date]
    forecast: list[Decimal] = Field(description="Point forecast of each day left.")
    bands: list[Band] = Field(description="Running-total bands, widest last.")

    @property
    def actual_to_date(self) -> Decimal:
        return sum(self.actual, Decimal(0))

    @property
    def forecast_total(self) -> Decimal:
        return self.actual_to_date + sum(self.forecast, Decimal(0))

    def interval(self, level: int) -> tuple[Decimal, Decimal]:
        """The period total's interval at `level` percent (the answer's figures)."""
        band = next(b for b in self.bands if b.level == level)
        if not band.lower:
            return self.forecast_total, self.forecast_total
        return band.lower[-1], band.upper[-1]

    def scope(self) -> str:
        """`ProviderName=AWS; vtag:team=payments` or `all spend`."""
        parts = [
            f"{f.dimension}{'!=' if f.negate else '='}{','.join(f.values)}" for f in self.filters
        ]
        return "; ".join(parts) or "all spend"


def _cents(value: float) -> Decimal:
    return Decimal(repr(round(float(value), 2))).quantize(_CENT)


def _running(point: np.ndarray) -> np.ndarray:
    """Running total of the daily points; its last value is the plain sum, from which the answer's
    `forecast_remaining` is rounded (so the two agree to the cent)."""
    running = np.cumsum(point)
    if len(point):
        running[-1] = point.sum()
    return running


def _bands(bounds: np.ndarray, running: np.ndarray, so_far: Decimal) -> list[Band]:
    """Bands as `tools.forecast.service` states the interval: the actual to date plus the bootstrap
    bound, never narrower than the point forecast."""
    return [
        Band(
            level=level,
            lower=[
                so_far + min(_cents(lo), _cents(p))
                for lo, p in zip(bounds[i, 0], running, strict=True)
            ],
            upper=[
                so_far + max(_cents(hi), _cents(p))
                for hi, p in zip(bounds[i, 1], running, strict=True)
            ],
        )
        for i, level in enumerate(LEVELS)
    ]


def forecast_path(engine: Engine, config: ToolSettings, data: dict[str, Any]) -> ForecastPath:
    """Rebuild the daily path behind one `spend_forecast` result (its JSON `data`)."""
    as_of = date.fromisoformat(str(data["as_of"]))
    start = date.fromisoformat(str(data["period_start"]))
    end = date.fromisoformat(str(data["period_end"]))
    filters = [Filter.model_validate(f) for f in data.get("filters") or []]
    query = ForecastQuery(filters=filters, horizon=data["horizon"], metric=data["metric"])
    history = load_history(
        engine,
        config,
        by=None,
        filters=filters,
        metric=query.metric,
        since=history_since(as_of, query.horizon, query.history_days),
        until=as_of,
        top=query.top,
    )
    last = history.index(as_of)
    window, first = fit_window(history.total, last, query.history_days)
    model = fit(window, history.day(first).weekday())
    horizon = (end - as_of).days
    running = _running(model.point(horizon))
    actual = history.total[history.index(start) : last + 1]
    so_far = sum(actual, Decimal(0))
    points = [_cents(p) for p in running]
    return ForecastPath(
        metric=query.metric,
        currency=history.currency,
        horizon=query.horizon,
        period_start=start,
        period_end=end,
        as_of=as_of,
        filters=filters,
        actual_days=[start + timedelta(days=i) for i in range(len(actual))],
        actual=list(actual),
        forecast_days=[as_of + timedelta(days=i + 1) for i in range(horizon)],
        forecast=[b - a for a, b in zip([Decimal(0), *points], points, strict=False)],
        bands=_bands(model.bounds(horizon, LEVELS, seed=_seed(TOTAL, as_of)), running, so_far),
    )
