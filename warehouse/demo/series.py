"""Synthetic daily cost series with known structure, for forecast tests and benchmarks.

Each series is `base × (1 + growth)^t × weekday shape × (1 + noise)`; the messy variant adds a
level shift (±20–50% from a random day on) and rare spikes (2% of days, 3–8×), which is what
real bills do and what a forecast must survive. Seeded: a seed always gives the same series.
`insert_series` writes them into `costs` as one row per series and day (provider `syn-NN`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import duckdb
import numpy as np
import pyarrow as pa

__all__ = ["insert_series", "synthetic_series"]


def synthetic_series(
    seed: int, days: int, end: date, *, messy: bool = True, count: int = 10
) -> list[np.ndarray]:
    """`count` daily series of `days` days ending on `end` (costs rounded to 4 decimals)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    weekend = ((end - timedelta(days=days - 1)).weekday() + t) % 7 >= 5
    out = []
    for _ in range(count):
        level = rng.uniform(50, 5000) * (1 + rng.uniform(-0.002, 0.005)) ** t
        if messy:
            at = rng.integers(40, days - 10)
            jump = rng.choice([-1, 1]) * rng.uniform(0.2, 0.5)
            level = np.where(t >= at, level * (1 + jump), level)
        y = level * np.where(weekend, rng.uniform(0.35, 0.9), 1.0)
        y = y * (1 + rng.normal(0, rng.uniform(0.03, 0.12), days))
        if messy:
            y = np.where(rng.random(days) < 0.02, y * rng.uniform(3, 8, days), y)
        out.append(np.maximum(y, 0.0).round(4))
    return out


def insert_series(
    con: duckdb.DuckDBPyConnection, series: Sequence[np.ndarray], end: date, prefix: str = "syn"
) -> None:
    """One USD usage row per series and day (ProviderName `<prefix>-NN`), in one statement."""
    days: list[date] = []
    costs: list[str] = []
    names: list[str] = []
    for i, y in enumerate(series):
        start = end - timedelta(days=len(y) - 1)
        days += [start + timedelta(days=d) for d in range(len(y))]
        costs += [f"{v:.4f}" for v in y]
        names += [f"{prefix}-{i:02d}"] * len(y)
    con.register("synthetic_rows", pa.table({"day": days, "cost": costs, "provider": names}))
    try:
        money = "CAST(cost AS DECIMAL(38, 12))"
        con.execute(
            "INSERT INTO costs (BilledCost, EffectiveCost, ListCost, ContractedCost, "
            "BillingCurrency, ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, "
            "BillingPeriodEnd, ChargeCategory, ProviderName, ServiceName, x_SourceName) "
            f"SELECT {money}, {money}, {money}, {money}, 'USD', CAST(day AS TIMESTAMP), "
            "CAST(day AS TIMESTAMP) + INTERVAL 1 DAY, CAST(date_trunc('month', day) AS TIMESTAMP), "
            "CAST(date_trunc('month', day) AS TIMESTAMP) + INTERVAL 1 MONTH, 'Usage', provider, "
            "'Synthetic Service', 'synthetic' FROM synthetic_rows"
        )
    finally:
        con.unregister("synthetic_rows")
