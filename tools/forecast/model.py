"""The forecasting model: robust day-of-week profile + robust damped Holt, numpy only.

Why this model. Daily cloud and AI spend is a level that drifts slowly, a strong weekly shape
(weekday usage, weekend dips), one-day spikes (a runaway agent, a backfill) that must not be
extrapolated, and occasional level shifts (a new cluster, a deleted database) that must be
followed within days. So:

1. **Weekly profile** from the last `PROFILE_WEEKS` whole weeks: each day divided by its week's
   median, then per weekday the mean ratio after winsorising at the median ± 3 robust standard
   deviations, normalised to mean 1 (multiplicative). Week medians and winsorising keep spikes
   out of it. Series with negative days or weeks whose median is 0 use additive offsets
   instead; series younger than two weeks have no profile.
2. **Robust damped Holt** on the deseasonalised series (Gelper, Fried & Croux 2010): each new
   day's one-step error is clipped at `HUBER_K` robust standard deviations before it updates the
   level and trend, so a spike moves the level by at most a little; `SHIFT_RUN` consecutive
   same-side outliers are taken as a level shift and the level restarts there. The trend is
   damped (`phi` < 1) so a month-end forecast never extrapolates a short-lived slope for weeks.
   `alpha`, `beta`, `phi` are chosen per series from a small grid by the error of the next
   `SCORE_HORIZON` days' sum over the series' own history (the quantity a month-end forecast
   needs), all grid points filtered at once with numpy.
3. **Intervals** by bootstrapping the model's own one-step errors: `PATHS` sample
   paths are simulated through the same level/trend equations (plus the level's own estimation
   error) with errors resampled from the last `RESIDUAL_WINDOW` days, and the requested
   quantiles of each path's sum are the interval. Spikes are one-sided, so each bound is the
   wider of the bootstrap with the errors as observed (the upper bound carries incident risk)
   and with them winsorised at `SHIFT_K` (the lower bound is what a normal period looks like).
   Seeded, so a forecast is reproducible.

Young series (< `MIN_SEASONAL_DAYS` days) get a flat median of the last week with a bootstrap of
its days (floored at ±`YOUNG_SPREAD` per day, since a few days say little about spread); a series
that is zero everywhere forecasts zero with a zero-width interval.

`seasonal_naive` is the baseline every backtest compares against: the same weekday of the last
observed week, repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "MIN_SEASONAL_DAYS",
    "PATHS",
    "Model",
    "fit",
    "seasonal_naive",
]

SEASON = 7
MIN_SEASONAL_DAYS = 14
PROFILE_WEEKS = 8
HUBER_K = 2.0
SHIFT_K = 3.0
SIGMA_RATE = 0.1
SHIFT_RUN = 3
SCORE_HORIZON = 7
RESIDUAL_WINDOW = 56
PATHS = 2000
YOUNG_SPREAD = 0.25
_SQRT_HALF_PI = float(np.sqrt(np.pi / 2))
_ALPHAS = (0.05, 0.1, 0.2, 0.35, 0.5)
_BETAS = (0.0, 0.05, 0.2)
_PHIS = (0.8, 0.9, 0.97)

Kind = Literal["zero", "young", "holt"]


@dataclass(frozen=True)
class Model:
    """A fitted series: its state at the last day and how to extend it.

    `season[w]` is the factor (multiplicative) or offset (additive) of weekday `w` (Monday 0).
    `errors` are the recent one-step errors of the deseasonalised series used for the bootstrap,
    rescaled to the current level when the profile is multiplicative.
    """

    kind: Kind
    level: float = 0.0
    trend: float = 0.0
    alpha: float = 0.0
    beta: float = 0.0
    phi: float = 0.0
    sigma: float = 0.0
    season: np.ndarray = field(default_factory=lambda: np.ones(SEASON))
    multiplicative: bool = True
    nonnegative: bool = True
    next_weekday: int = 0
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    young_days: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def description(self) -> str:
        if self.kind == "zero":
            return "zero (no spend in the history)"
        if self.kind == "young":
            return f"flat median of the last {len(self.young_days)} days (young series)"
        shape = "multiplicative" if self.multiplicative else "additive"
        return (
            f"robust damped Holt (alpha {self.alpha}, beta {self.beta}, phi {self.phi}) "
            f"with {shape} day-of-week profile"
        )

    def _weekdays(self, horizon: int) -> np.ndarray:
        return (self.next_weekday + np.arange(horizon)) % SEASON

    def _reseason(self, z: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
        y = z * self.season[weekdays] if self.multiplicative else z + self.season[weekdays]
        return np.maximum(y, 0.0) if self.nonnegative else y

    def point(self, horizon: int) -> np.ndarray:
        """Daily point forecasts for the next `horizon` days."""
        if horizon <= 0 or self.kind == "zero":
            return np.zeros(max(horizon, 0))
        if self.kind == "young":
            return np.full(horizon, float(np.median(self.young_days)))
        damp = np.cumsum(self.phi ** np.arange(1, horizon + 1))
        return self._reseason(self.level + self.trend * damp, self._weekdays(horizon))

    def bounds(
        self,
        horizon: int,
        levels: Sequence[int],
        seed: int = 0,
        paths: int = PATHS,
        at: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Interval bounds of the running total of the next `horizon` days.

        Returns an array (levels × 2 × days): `[i, 0, k]` / `[i, 1, k]` are the lower and upper
        bound of the sum of the next `at[k]` days (default: every day 1..horizon) at `levels[i]`
        percent. Each bound is the wider of two bootstraps on the same draws: the one-step
        errors as observed (spikes included: the upper bound carries incident risk) and
        winsorised at `SHIFT_K` (what a normal period looks like: the lower bound is not lifted
        by the odd spike).
        """
        days = np.arange(1, horizon + 1) if at is None else np.asarray(at, dtype=int)
        if horizon <= 0 or len(days) == 0:
            return np.zeros((len(levels), 2, len(days)))
        full = self.sample_cumulative(horizon, seed, paths)[:, days - 1]
        regular = self.sample_cumulative(horizon, seed, paths, regular=True)[:, days - 1]
        tails = np.array([(100 - lv) / 200 for lv in levels])
        q = np.concatenate([tails, 1 - tails])
        qf, qr = np.quantile(full, q, axis=0), np.quantile(regular, q, axis=0)
        n = len(levels)
        return np.stack([np.minimum(qf[:n], qr[:n]), np.maximum(qf[n:], qr[n:])], axis=1)

    def sample_cumulative(
        self, horizon: int, seed: int = 0, paths: int = PATHS, *, regular: bool = False
    ) -> np.ndarray:
        """Bootstrap paths of the next `horizon` days, as running totals (paths × horizon).

        `regular` winsorises the resampled errors at ±`SHIFT_K` robust standard deviations.
        """
        if horizon <= 0 or self.kind == "zero":
            return np.zeros((paths, max(horizon, 0)))
        rng = np.random.default_rng(seed)
        if self.kind == "young":
            return np.cumsum(self._young_draws(rng, horizon, paths), axis=1)
        pool = self.errors if len(self.errors) else np.zeros(1)
        if regular:
            pool = pool.clip(-SHIFT_K * self.sigma, SHIFT_K * self.sigma)
        limit = HUBER_K * self.sigma
        shocks = pool[rng.integers(0, len(pool), size=(paths, horizon))]
        start = pool[rng.integers(0, len(pool), size=paths)].clip(-limit, limit)
        level = self.level + start * np.sqrt(self.alpha / (2 - self.alpha))
        trend = np.full(paths, self.trend)
        days = np.empty((paths, horizon))
        for h, weekday in enumerate(self._weekdays(horizon).tolist()):
            trend = self.phi * trend
            pred = level + trend
            shock = shocks[:, h]
            days[:, h] = (
                (pred + shock) * self.season[weekday]
                if self.multiplicative
                else pred + shock + self.season[weekday]
            )
            clipped = np.minimum(np.maximum(shock, -limit), limit)
            level = pred + self.alpha * clipped
            trend = trend + (self.alpha * self.beta) * clipped
        if self.nonnegative:
            np.maximum(days, 0.0, out=days)
        return np.cumsum(days, axis=1)

    def _young_draws(self, rng: np.random.Generator, horizon: int, paths: int) -> np.ndarray:
        days = self.young_days
        centre = float(np.median(days))
        spread = np.maximum(np.abs(days - centre), YOUNG_SPREAD * abs(centre))
        signs = rng.choice((-1.0, 1.0), size=(paths, horizon))
        draws = centre + signs * spread[rng.integers(0, len(days), size=(paths, horizon))]
        return np.maximum(draws, 0.0) if self.nonnegative else draws


def _profile(y: np.ndarray, first_weekday: int) -> tuple[np.ndarray, bool]:
    weeks = min(len(y) // SEASON, PROFILE_WEEKS)
    start = len(y) - SEASON * weeks
    block = y[start:].reshape(weeks, SEASON)
    median = np.median(block, axis=1, keepdims=True)
    columns = (first_weekday + start + np.arange(SEASON)) % SEASON
    season = np.empty(SEASON)
    if (block >= 0).all() and (median > 0).all():
        factors = _robust_mean(block / median)
        season[columns] = factors / factors.mean()
        return season, True
    offsets = _robust_mean(block - median)
    season[columns] = offsets - offsets.mean()
    return season, False


def _robust_mean(columns: np.ndarray) -> np.ndarray:
    """Per-column mean after winsorising at the median ± 3 robust standard deviations."""
    centre = np.median(columns, axis=0)
    spread = 1.4826 * np.median(np.abs(columns - centre), axis=0)
    return np.clip(columns, centre - 3 * spread, centre + 3 * spread).mean(axis=0)


def _robust_scale(values: np.ndarray, centre: float) -> float:
    scale = 1.4826 * float(np.median(np.abs(values - centre))) if len(values) else 0.0
    return max(scale, 0.01 * abs(centre), 1e-9)


@dataclass
class _Run:
    level: np.ndarray
    trend: np.ndarray
    sigma: np.ndarray
    levels: np.ndarray
    trends: np.ndarray
    errors: np.ndarray
    preds: np.ndarray


def _filter(z: np.ndarray, alpha: np.ndarray, beta: np.ndarray, phi: np.ndarray) -> _Run:
    """Run the robust damped Holt filter for every parameter set (vectors) at once."""
    n, g = len(z), len(alpha)
    head = z[: SEASON * 2][~np.isnan(z[: SEASON * 2])]
    start = float(np.median(head[:SEASON])) if len(head) else 0.0
    level = np.full(g, start)
    trend = np.zeros(g)
    sigma = np.full(g, _robust_scale(head, start))
    gain = alpha * beta
    above, below = np.zeros(g), np.zeros(g)
    levels, trends, preds = np.empty((n, g)), np.empty((n, g)), np.empty((n, g))
    errors = np.full((n, g), np.nan)
    missing = np.isnan(z).tolist()
    for t in range(n):
        trend *= phi
        pred = level + trend
        if missing[t]:
            level = pred
        else:
            err = z[t] - pred
            errors[t], preds[t] = err, pred
            limit = HUBER_K * sigma
            clipped = np.minimum(np.maximum(err, -limit), limit)
            level = pred + alpha * clipped
            trend += gain * clipped
            outlier = SHIFT_K * sigma
            above = (above + 1) * (err > outlier)
            below = (below + 1) * (err < -outlier)
            shifted = (above >= SHIFT_RUN) | (below >= SHIFT_RUN)
            if shifted.any():
                recent = float(np.nanmedian(z[max(0, t - SHIFT_RUN + 1) : t + 1]))
                level[shifted], trend[shifted] = recent, 0.0
                above[shifted], below[shifted] = 0.0, 0.0
            sigma = (1 - SIGMA_RATE) * sigma + (SIGMA_RATE * _SQRT_HALF_PI) * np.abs(clipped)
        levels[t], trends[t] = level, trend
    return _Run(level, trend, sigma, levels, trends, errors, preds)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mesh = np.array([(a, b, p) for a in _ALPHAS for b in _BETAS for p in _PHIS])
    return mesh[:, 0], mesh[:, 1], mesh[:, 2]


def _score(z: np.ndarray, run: _Run, phi: np.ndarray) -> np.ndarray:
    """Mean absolute error of the next SCORE_HORIZON days' sum, over the series' history.

    Days without a deseasonalised value (a weekday whose factor is 0) count on neither side.
    """
    n, h = len(z), SCORE_HORIZON
    if n <= SEASON + h:
        return np.zeros(len(phi))
    origins = np.arange(SEASON, n - h)
    window = origins[:, None] + 1 + np.arange(h)[None, :]
    observed = ~np.isnan(z[window])
    actual = np.where(observed, z[window], 0.0).sum(axis=1)
    damp = np.cumsum(phi[None, :] ** np.arange(1, h + 1)[:, None], axis=0)
    forecast = run.levels[origins] * observed.sum(axis=1)[:, None] + run.trends[origins] * (
        observed.astype(float) @ damp
    )
    return np.abs(forecast - actual[:, None]).mean(axis=0)


def fit(y: Sequence[float] | np.ndarray, first_weekday: int) -> Model:
    """Fit daily history `y` whose first day is weekday `first_weekday` (Monday 0)."""
    values = np.asarray(y, dtype=float)
    n = len(values)
    next_weekday = (first_weekday + n) % SEASON
    nonnegative = bool((values >= 0).all())
    if n == 0 or not values.any():
        return Model(kind="zero", next_weekday=next_weekday)
    if n < MIN_SEASONAL_DAYS:
        return Model(
            kind="young",
            next_weekday=next_weekday,
            nonnegative=nonnegative,
            young_days=values[-SEASON:],
        )
    season, multiplicative = _profile(values, first_weekday)
    weekdays = (first_weekday + np.arange(n)) % SEASON
    if multiplicative:
        factors = season[weekdays]
        z = np.where(factors > 0, values / np.where(factors > 0, factors, 1.0), np.nan)
    else:
        z = values - season[weekdays]
    alpha, beta, phi = _grid()
    run = _filter(z, alpha, beta, phi)
    best = int(np.argmin(_score(z, run, phi)))
    errors = run.errors[-RESIDUAL_WINDOW:, best]
    if multiplicative:
        preds = run.preds[-RESIDUAL_WINDOW:, best]
        rescale = np.where(preds > 0, run.level[best] / np.where(preds > 0, preds, 1.0), 1.0)
        errors = errors * np.clip(rescale, 0.0, 10.0)
    return Model(
        kind="holt",
        level=float(run.level[best]),
        trend=float(run.trend[best]),
        alpha=float(alpha[best]),
        beta=float(beta[best]),
        phi=float(phi[best]),
        sigma=float(run.sigma[best]),
        season=season,
        multiplicative=multiplicative,
        nonnegative=nonnegative,
        next_weekday=next_weekday,
        errors=errors[~np.isnan(errors)],
    )


def seasonal_naive(y: Sequence[float] | np.ndarray, horizon: int) -> np.ndarray:
    """The baseline: each future day repeats the same weekday of the last observed week.

    Shorter histories than a week repeat the last day.
    """
    values = np.asarray(y, dtype=float)
    if horizon <= 0 or len(values) == 0:
        return np.zeros(max(horizon, 0))
    if len(values) < SEASON:
        return np.full(horizon, values[-1])
    week = values[-SEASON:]
    return week[np.arange(horizon) % SEASON]
