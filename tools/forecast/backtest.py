"""Rolling-origin backtest of the forecast on the warehouse's own history, against seasonal-naive.

Every day of the last `origins` days (that has `min_history` days of history before it) is
taken in turn as the as-of day; the model is fitted on the history up to that day only (the same
`history_days` window the live forecast uses) and its forecast of the following days is compared
with what was actually billed. The horizons are:

* **rest of month** (primary): the sum of the days left in the origin's month, for origins whose
  month is complete in the warehouse — exactly what the month-end forecast predicts. The error of
  the month-end *total* (actual-to-date + forecast) is reported too; it is smaller, since the
  actual part is known.
* rest of quarter (with `quarter`; primary then, once a whole quarter is in the warehouse).
* fixed horizons (7, 14 and 28 days by default): the sum of the next N days.

For each, in the same run, the baseline is seasonal-naive: every future day repeats the same
weekday of the last observed week. Errors are pooled over origins and series (the scope total
and each value of `by`):

* MAPE = mean |F − A| / |A| (points with A = 0 are left out and counted separately),
* sMAPE = mean 2|F − A| / (|F| + |A|) (defined when either is non-zero),
* WAPE = Σ|F − A| / Σ|A| (large series weigh more).

The verdict compares MAPE on the primary horizon (WAPE where no point has a non-zero actual);
when no month is complete after `min_history` days, the longest fixed horizon with points is
primary. Interval coverage (share of points inside the 80% / 95% interval, from a lighter
bootstrap of 500 paths) says how honest the intervals are.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from tools.forecast.model import fit, seasonal_naive
from tools.forecast.service import (
    LEVELS,
    METHOD,
    TOTAL,
    History,
    fit_window,
    load_history,
    period_bounds,
    resolve_as_of,
)
from tools.query import Engine
from tools.settings import ToolSettings
from tools.spend.engine import Filter
from warehouse.errors import QueryError

__all__ = ["BASELINE", "BacktestQuery", "BacktestResult", "HorizonScore", "Score", "backtest"]

BASELINE = "seasonal-naive (same weekday of the last observed week, repeated)"
REST_OF_MONTH = "rest of month"
REST_OF_QUARTER = "rest of quarter"
_COVERAGE_PATHS = 500


class BacktestQuery(BaseModel):
    """Which history to backtest on and how."""

    by: str | None = None
    filters: list[Filter] = Field(default_factory=list)
    as_of: date | None = None
    metric: Literal["billed", "effective", "list"] = "billed"
    origins: int = Field(default=90, ge=7, le=730, description="Last N days used as origins.")
    min_history: int = Field(default=28, ge=14, le=365)
    history_days: int = Field(default=120, ge=28, le=1096)
    horizons: list[int] = Field(default_factory=lambda: [7, 14, 28])
    quarter: bool = Field(default=False, description="Also backtest the rest of the quarter.")
    top: int = Field(default=20, ge=1, le=1000)


class Score(BaseModel):
    """Pooled errors of one method at one horizon, in percent."""

    mape: float | None
    smape: float | None
    wape: float | None
    points: int
    mape_points: int


class HorizonScore(BaseModel):
    horizon: str
    days: int | None
    points: int
    ours: Score
    baseline: Score
    coverage: dict[str, float | None]
    ours_month_total_mape: float | None = None
    baseline_month_total_mape: float | None = None
    beats: bool | None


class BacktestResult(BaseModel):
    """Backtest figures for our method and the baseline, and the verdict."""

    metric: str
    currency: str
    by: str | None
    filters: list[Filter]
    as_of: date
    first_origin: date | None
    last_origin: date | None
    series: int
    method: str
    baseline: str
    horizons: list[HorizonScore]
    primary: str | None
    beats_baseline: bool | None
    verdict: str
    sql: str


@dataclass
class _Points:
    actual: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    known: list[float] = field(default_factory=list)
    inside: dict[int, list[bool]] = field(default_factory=lambda: {lv: [] for lv in LEVELS})


def _pct(value: float) -> float:
    return round(100 * value, 2)


def _score(actual: np.ndarray, forecast: np.ndarray) -> Score:
    err = np.abs(forecast - actual)
    nonzero = actual != 0
    denom = np.abs(forecast) + np.abs(actual)
    both = denom > 0
    total = float(np.abs(actual).sum())
    return Score(
        mape=_pct(float((err[nonzero] / np.abs(actual[nonzero])).mean()))
        if nonzero.any()
        else None,
        smape=_pct(float((2 * err[both] / denom[both]).mean())) if both.any() else None,
        wape=_pct(float(err.sum()) / total) if total else None,
        points=len(actual),
        mape_points=int(nonzero.sum()),
    )


def _beats(ours: Score, base: Score) -> bool | None:
    for name in ("mape", "wape", "smape"):
        a, b = getattr(ours, name), getattr(base, name)
        if a is not None and b is not None:
            return bool(a < b)
    return None


def _horizons(
    day: date, index: int, last: int, query: BacktestQuery, as_of: date
) -> dict[str, int]:
    out = {f"{h} days": h for h in query.horizons if index + h <= last}
    periods = [(REST_OF_MONTH, "month")] + ([(REST_OF_QUARTER, "quarter")] if query.quarter else [])
    for name, kind in periods:
        end = period_bounds(day, kind)[1]  # type: ignore[arg-type]
        if day < end <= as_of:
            out[name] = (end - day).days
    return out


def _evaluate(
    history: History,
    key: str,
    values: Sequence[Decimal],
    origins: range,
    query: BacktestQuery,
    points: dict[str, _Points],
) -> list[date]:
    floats = np.array([float(v) for v in values])
    last = len(values) - 1
    used = []
    for o in origins:
        window, first = fit_window(values, o, query.history_days)
        if len(window) < query.min_history:
            continue
        day = history.day(o)
        wanted = _horizons(day, o, last, query, history.until)
        if not wanted:
            continue
        used.append(day)
        model = fit(window, history.day(first).weekday())
        span = max(wanted.values())
        ours = np.cumsum(model.point(span))
        base = np.cumsum(seasonal_naive(window, span))
        seed = zlib.crc32(f"{key}|{day.isoformat()}".encode())
        spans = sorted(set(wanted.values()))
        bounds = model.bounds(span, LEVELS, seed=seed, paths=_COVERAGE_PATHS, at=spans)
        month_start = history.index(period_bounds(day, "month")[0])
        for name, h in wanted.items():
            p = points.setdefault(name, _Points())
            p.actual.append(float(floats[o + 1 : o + 1 + h].sum()))
            p.ours.append(float(ours[h - 1]))
            p.base.append(float(base[h - 1]))
            p.known.append(float(floats[max(month_start, 0) : o + 1].sum()))
            k = spans.index(h)
            for i, level in enumerate(LEVELS):
                low = min(bounds[i, 0, k], ours[h - 1]) - 0.005
                high = max(bounds[i, 1, k], ours[h - 1]) + 0.005
                p.inside[level].append(bool(low <= p.actual[-1] <= high))
    return used


def _horizon_score(name: str, days: int | None, p: _Points) -> HorizonScore:
    actual, ours, base = np.array(p.actual), np.array(p.ours), np.array(p.base)
    o, b = _score(actual, ours), _score(actual, base)
    score = HorizonScore(
        horizon=name,
        days=days,
        points=len(actual),
        ours=o,
        baseline=b,
        coverage={str(lv): _pct(float(np.mean(v))) if v else None for lv, v in p.inside.items()},
        beats=_beats(o, b),
    )
    if name == REST_OF_MONTH:
        known = np.array(p.known)
        score.ours_month_total_mape = _score(known + actual, known + ours).mape
        score.baseline_month_total_mape = _score(known + actual, known + base).mape
    return score


def _verdict(primary: HorizonScore | None) -> str:
    if primary is None:
        return "not enough history to backtest: no origin has a complete horizon after it"
    if primary.beats is None:
        return f"no spend in the backtest window ({primary.horizon})"
    ours, base = primary.ours, primary.baseline
    metric = "MAPE" if ours.mape is not None and base.mape is not None else "WAPE"
    a, b = (ours.mape, base.mape) if metric == "MAPE" else (ours.wape, base.wape)
    word = "beats" if primary.beats else "does NOT beat"
    return f"ours {word} seasonal-naive on {primary.horizon} {metric}: {a}% vs {b}%"


def backtest(
    engine: Engine, config: ToolSettings, query: BacktestQuery, *, today: date | None = None
) -> BacktestResult:
    """Rolling-origin backtest of the month-end forecast and fixed horizons vs seasonal-naive.

    Example: `backtest(engine, config, BacktestQuery(by="ProviderName"))` → MAPE, sMAPE, WAPE
    and interval coverage per horizon for both methods, and whether ours beats the baseline.
    """
    if any(h < 1 or h > 366 for h in query.horizons):
        raise QueryError(f"horizons must be 1–366 days, got {query.horizons}")
    as_of = resolve_as_of(engine, query.as_of, today)
    since = as_of - timedelta(days=query.origins + query.history_days)
    history = load_history(
        engine,
        config,
        by=query.by,
        filters=query.filters,
        metric=query.metric,
        since=since,
        until=as_of,
        top=query.top,
    )
    last = len(history.total) - 1
    origins = range(max(0, last - query.origins), last)
    points: dict[str, _Points] = {}
    used: list[date] = []
    for key, values in [(TOTAL, history.total), *history.groups.items()]:
        used += _evaluate(history, key, values, origins, query, points)
    periods = (REST_OF_QUARTER, REST_OF_MONTH)
    order = [*periods, *(f"{h} days" for h in sorted(set(query.horizons)))]
    scores = [
        _horizon_score(name, None if name in periods else int(name.split()[0]), points[name])
        for name in order
        if name in points
    ]
    ranked = sorted(scores, key=lambda s: (s.days is not None, -(s.days or 0)))
    primary = ranked[0] if ranked else None
    return BacktestResult(
        metric=query.metric,
        currency=history.currency,
        by=history.by,
        filters=query.filters,
        as_of=as_of,
        first_origin=min(used) if used else None,
        last_origin=max(used) if used else None,
        series=1 + len(history.groups),
        method=METHOD,
        baseline=BASELINE,
        horizons=scores,
        primary=primary.horizon if primary else None,
        beats_baseline=primary.beats if primary else None,
        verdict=_verdict(primary),
        sql=history.sql,
    )
