"""Run the detection statement over the configured series families and read back episodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tools.anomalies.config import AnomalyConfig, SeriesSpec, default_series
from tools.anomalies.models import Anomaly, anomaly_id
from tools.anomalies.sql import KEY_SEP, detection_sql, raw_series_sql
from tools.query import (
    Dimension,
    Engine,
    cost_expression,
    resolve_dimension,
    transpile,
    unconvertible_currencies,
)
from tools.settings import ToolSettings
from warehouse.errors import QueryError

__all__ = ["Family", "checked_cost", "detect", "families", "money", "settings"]


def settings(config: ToolSettings) -> AnomalyConfig:
    """The `anomalies:` section, or the defaults while the config has none."""
    value = getattr(config, "anomalies", None)
    return value if isinstance(value, AnomalyConfig) else AnomalyConfig()


def money(value: float | Decimal | None) -> Decimal:
    """A statistic as money: rounded to the cent (Decimal, exact from there on)."""
    return Decimal(f"{float(value or 0.0):.2f}")


@dataclass(frozen=True)
class Family:
    """One configured series family with its resolved dimensions."""

    index: int
    spec: SeriesSpec
    dims: tuple[Dimension, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dims)

    def series(self, key: str) -> dict[str, str]:
        if not self.dims:
            return {}
        return dict(zip(self.names, key.split(KEY_SEP), strict=True))


def families(engine: Engine, config: ToolSettings, cfg: AnomalyConfig) -> list[Family]:
    """The series families to watch; a `vtag:` dimension needs a fresh allocation."""
    out = []
    for i, spec in enumerate(default_series(cfg, set(config.virtual_tags))):
        dims = tuple(resolve_dimension(d, config.virtual_tags) for d in spec.by)
        out.append(Family(i, spec, dims))
    if any(d.join for f in out for d in f.dims):
        from tools.vtags.freshness import require_fresh

        require_fresh(engine, config)
    return out


def checked_cost(engine: Engine, config: ToolSettings, metric: str) -> str:
    """The per-row cost in the reporting currency, refusing currencies it cannot convert."""
    missing = unconvertible_currencies(engine, config.reporting_currency, config.fx_rates)
    if missing:
        raise QueryError(
            f"the warehouse holds costs in {', '.join(missing)} with no fx_rates entry to convert "
            f"into the reporting currency {config.reporting_currency}"
        )
    return cost_expression(metric, config.reporting_currency, config.fx_rates)


def _overrides(
    fams: Sequence[Family], thresholds: Mapping[str, tuple[dict[str, str], float]]
) -> dict[tuple[int, str], float]:
    out: dict[tuple[int, str], float] = {}
    for series, threshold in thresholds.values():
        for f in fams:
            if f.names == tuple(series):
                out[(f.index, KEY_SEP.join(series.values()))] = threshold
    return out


def _anomaly(row: tuple[Any, ...], fam: Family, cfg: AnomalyConfig, currency: str) -> Anomaly:
    _, key, direction, start, last, days, counted, expected, actual, score, thr, level = row
    series = fam.series(str(key))
    exp, act = money(expected), money(actual)
    impact = act - exp
    pct = (impact / exp * 100).quantize(Decimal("0.1")) if exp > 0 else None
    return Anomaly(
        id=anomaly_id(series, start),
        series=series,
        direction="down" if direction == "down" else "up",
        start_day=start,
        end_day=last,
        days=int(days),
        counted_days=list(counted),
        expected=exp,
        actual=act,
        impact=impact,
        impact_percent=pct,
        score=round(float(score), 2),
        threshold=round(float(thr), 2),
        level=money(level),
        status="new_normal" if int(days) >= cfg.new_normal_days else "open",
        currency=currency,
        metric=cfg.metric,
    )


def detect(
    engine: Engine,
    config: ToolSettings,
    cfg: AnomalyConfig,
    *,
    since: date,
    until: date,
    thresholds: Mapping[str, tuple[dict[str, str], float]] | None = None,
) -> tuple[list[Anomaly], list[Family], str]:
    """Anomalous episodes touching [since, until], in one statement over every family.

    `thresholds` maps a series key to (series, raised threshold) — from false-positive feedback.
    """
    fams = families(engine, config, cfg)
    cost = checked_cost(engine, config, cfg.metric)
    score_from = since - timedelta(days=cfg.new_normal_days + cfg.merge_gap_days)
    load_from = score_from - timedelta(days=cfg.history_days())
    raw = " UNION ALL ".join(
        raw_series_sql(f.index, f.dims, cost, load_from, until, top=f.spec.top) for f in fams
    )
    sql = transpile(
        detection_sql(raw, cfg, since, until, _overrides(fams, thresholds or {})), engine.dialect
    )
    by_index = {f.index: f for f in fams}
    found = [
        _anomaly(r, by_index[int(r[0])], cfg, config.reporting_currency) for r in engine.fetch(sql)
    ]
    return found, fams, sql
