"""Building daily cost series for anomaly tests, and a tool context over a temporary home."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from agent.config import Config
from guardrails.approvals import Ledger
from guardrails.audit import AuditLog
from tools.anomalies.config import AnomalyConfig, SeriesSpec
from tools.context import ToolContext
from warehouse.state.store import StateStore

__all__ = [
    "END",
    "NOW",
    "daily",
    "insert",
    "make_ctx",
    "resource_cfg",
]

END = date(2026, 11, 27)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_TEXT = ("ProviderName", "ServiceName", "SubAccountName", "SkuId", "RegionId", "ResourceId")


def resource_cfg(**settings: Any) -> AnomalyConfig:
    """Only the ResourceId family (plus the total when `total=True`)."""
    total = settings.pop("total", False)
    series = [SeriesSpec(by=["ResourceId"])] + ([SeriesSpec()] if total else [])
    return AnomalyConfig(series=series, **settings)


def daily(
    resource: str,
    level: float,
    *,
    days: int = 70,
    end: date = END,
    noise: float = 0.0,
    weekly: Iterable[float] | None = None,
    spikes: Mapping[date, float] | None = None,
    shift: tuple[date, float] | None = None,
    start: date | None = None,
    seed: int = 0,
    tags: Mapping[str, str] | None = None,
    **columns: str,
) -> list[dict[str, Any]]:
    """One row per day: level × weekday factor × (1 + noise) × spike/shift multipliers."""
    rng = np.random.default_rng(seed)
    profile = list(weekly or [1.0] * 7)
    rows = []
    for i in range(days):
        day = end - timedelta(days=days - 1 - i)
        if start is not None and day < start:
            continue
        cost = level * profile[day.weekday()] * (1 + noise * float(rng.standard_normal()))
        if spikes and day in spikes:
            cost *= spikes[day]
        if shift and day >= shift[0]:
            cost *= shift[1]
        rows.append(
            {
                "day": day,
                "cost": round(max(cost, 0.0), 6),
                "ResourceId": resource,
                "tags": json.dumps(tags) if tags else None,
                **columns,
            }
        )
    return rows


def insert(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Insert cost rows (one charge day each, USD) in one statement through Arrow."""
    data: dict[str, list[Any]] = {
        "day": [r["day"] for r in rows],
        "cost": [str(r["cost"]) for r in rows],
        "tags": [r.get("tags") for r in rows],
    }
    defaults = {"ProviderName": "AWS", "ServiceName": "Amazon EC2", "RegionId": "us-east-1"}
    for col in _TEXT:
        data[col] = [r.get(col, defaults.get(col)) for r in rows]
    con.register("_anomaly_rows", pa.table(data))
    try:
        con.execute(
            "INSERT INTO costs (BilledCost, EffectiveCost, ListCost, ContractedCost, "
            "BillingCurrency, ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, "
            f"BillingPeriodEnd, ChargeCategory, Tags, x_SourceName, {', '.join(_TEXT)}) "
            "SELECT CAST(cost AS DECIMAL(38, 12)), CAST(cost AS DECIMAL(38, 12)), "
            "CAST(cost AS DECIMAL(38, 12)), CAST(cost AS DECIMAL(38, 12)), 'USD', "
            "CAST(day AS TIMESTAMP), CAST(day AS TIMESTAMP) + INTERVAL 1 DAY, "
            "date_trunc('month', day), date_trunc('month', day) + INTERVAL 1 MONTH, 'Usage', "
            f"CAST(tags AS JSON), 'test', {', '.join(_TEXT)} FROM _anomaly_rows"
        )
    finally:
        con.unregister("_anomaly_rows")


def make_ctx(
    con: duckdb.DuckDBPyConnection, home: Path, config: Config | None = None, now: datetime = NOW
) -> ToolContext:
    """A tool context over `con` and a state store in `home` with a fixed clock."""
    cfg = config or Config()
    store = StateStore(home / "state.db")

    def clock() -> datetime:
        return now

    audit = AuditLog(store, clock)
    return ToolContext(
        config=cfg,
        store=store,
        ledger=Ledger(store, audit, cfg, clock),
        audit=audit,
        clock=clock,
        warehouse=lambda: con,
    )
