"""The baseline for `bench.anomalies`: the same detection method as a straightforward pandas
groupby implementation (one family of series, `ResourceId`), fed by one DuckDB aggregation.

Same inputs and the same rules as `tools.anomalies.sql` — dense days from each series' first
non-zero day, same-weekday lags, trailing median, reference profile, level and week-over-week MAD,
blend, relative spread with floors, flags, episodes — so the two can be compared for speed and
checked for agreement (the benchmark compares the episodes found).
"""

from __future__ import annotations

import importlib
import math
from datetime import date, timedelta
from typing import Any

import duckdb

from tools.anomalies.config import AnomalyConfig
from tools.anomalies.sql import BASELINE_INFLATION

__all__ = ["pandas_available", "pandas_detect"]


def pandas_available() -> bool:
    try:
        importlib.import_module("pandas")
    except ImportError:
        return False
    return True


def _load(con: duckdb.DuckDBPyConnection, load_from: date, until: date, metric: str) -> Any:
    column = {"billed": "BilledCost", "effective": "EffectiveCost", "list": "ListCost"}[metric]
    sql = (
        "SELECT coalesce(CAST(ResourceId AS VARCHAR), '(none)') AS k, "
        f"CAST(ChargePeriodStart AS DATE) AS d, CAST(sum({column}) AS DOUBLE) AS c FROM costs "
        "WHERE ChargePeriodStart >= ? AND ChargePeriodStart < ? GROUP BY 1, 2"
    )
    return con.execute(sql, [load_from, until + timedelta(days=1)]).df()


def _dense(pd: Any, df: Any, load_from: date, until: date) -> Any:
    days = pd.date_range(load_from, until, freq="D")
    df["d"] = pd.to_datetime(df["d"])
    wide = df.pivot(index="k", columns="d", values="c").reindex(columns=days).fillna(0.0)
    first = df[df["c"] != 0].groupby("k")["d"].min()
    long = wide.stack().rename("c").reset_index()
    long.columns = ["k", "d", "c"]
    long = long.merge(first.rename("f"), left_on="k", right_index=True)
    long = long[long["d"] >= long["f"]].sort_values(["k", "d"], kind="stable")
    long["age"] = (long["d"] - long["f"]).dt.days
    return long.reset_index(drop=True)


def _baseline(pd: Any, long: Any, cfg: AnomalyConfig, score_from: date) -> Any:
    g = long.groupby("k", sort=False)["c"]
    lags = [f"w{i}" for i in range(1, cfg.seasonal_weeks + 1)]
    for i, name in enumerate(lags, start=1):
        long[name] = g.shift(7 * i)
    rolled = g.rolling(cfg.recent_days, min_periods=1).median()
    long["m_recent"] = rolled.groupby(level=0).shift(1).to_numpy()
    long["dow"] = long["d"].dt.dayofweek
    start = pd.Timestamp(score_from)
    ref_from = pd.Timestamp(score_from - timedelta(days=cfg.reference_days))
    ref = long[(long["d"] >= ref_from) & (long["d"] < start)].copy()
    ref["wd"] = ref["c"] - ref["w1"]
    pm = ref.groupby(["k", "dow"])["c"].median().rename("pm")
    lm = ref.groupby("k")["c"].median().rename("lm")
    med = ref.groupby("k")["wd"].transform("median")
    wmad = (ref["wd"] - med).abs().groupby(ref["k"]).median().rename("wmad")
    est = long[long["d"] >= start].copy()
    est["m_dow"] = est[lags].median(axis=1, skipna=True)
    est = est.merge(pm, left_on=["k", "dow"], right_index=True, how="left")
    est = est.merge(lm, left_on="k", right_index=True, how="left")
    est = est.merge(wmad, left_on="k", right_index=True, how="left")
    return est


def _score(pd: Any, np: Any, est: Any, cfg: AnomalyConfig) -> Any:
    w = cfg.seasonal_weight
    ratio = est["m_recent"] * est["pm"] / est["lm"]
    recent = np.where(
        (est["lm"] > 0) & est["pm"].notna(),
        ratio,
        np.where(est["pm"].notna(), est["pm"], est["m_recent"]),
    )
    recent = pd.Series(recent, index=est.index)
    blend = w * est["m_dow"] + (1 - w) * recent
    est["expected"] = blend.fillna(est["m_dow"]).fillna(recent).fillna(0.0)
    sigma = BASELINE_INFLATION * 1.4826 / math.sqrt(2) * est["wmad"]
    rel = np.where(est["lm"] > 0, sigma * est["expected"].abs() / est["lm"], sigma)
    floors = np.maximum(
        cfg.spread_floor_percent / 100 * est["expected"].abs(), float(cfg.spread_floor)
    )
    est["spread"] = np.fmax(rel, floors)
    est["z"] = (est["c"] - est["expected"]) / est["spread"]
    return est


def pandas_detect(
    con: duckdb.DuckDBPyConnection, cfg: AnomalyConfig, since: date, until: date
) -> set[tuple[str, date]]:
    """(ResourceId, start day) of every up-episode touching [since, until]."""
    pd = importlib.import_module("pandas")
    np = importlib.import_module("numpy")
    score_from = since - timedelta(days=cfg.new_normal_days + cfg.merge_gap_days)
    load_from = score_from - timedelta(days=cfg.history_days())
    long = _dense(pd, _load(con, load_from, until, cfg.metric), load_from, until)
    est = _score(pd, np, _baseline(pd, long, cfg, score_from), cfg)
    gain = est["c"] - est["expected"]
    hit = est[
        (est["age"] >= cfg.min_history_days)
        & (est["z"] >= cfg.threshold)
        & (gain >= float(cfg.min_impact))
        & (gain >= cfg.min_percent / 100 * est["expected"].abs())
    ].sort_values(["k", "d"])
    gaps = hit.groupby("k")["d"].diff().dt.days
    hit = hit.assign(e=(gaps.isna() | (gaps > cfg.merge_gap_days + 1)).cumsum())
    episodes = hit.groupby(["k", "e"]).agg(start=("d", "min"), last=("d", "max"))
    episodes = episodes[episodes["last"] >= pd.Timestamp(since)]
    return {(str(k), s.date()) for (k, _), s in episodes["start"].items()}
