"""Building inventories, utilization series and bills for optimizer tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from agent.config import Config
from tools.optimize.config import OptimizeConfig
from tools.optimize.engine import recommend_on
from tools.optimize.models import Finding, OptimizationReport
from tools.query import DuckDBEngine

__all__ = [
    "END",
    "add_costs",
    "add_resource",
    "add_util",
    "daily_bill",
    "hourly",
    "only",
    "run",
]

END = date(2026, 11, 27)
"""Last day of utilization and bills in these tests."""
_COST_TEXT = (
    "ProviderName",
    "ServiceName",
    "ServiceCategory",
    "SubAccountName",
    "RegionId",
    "ResourceId",
    "SkuMeter",
    "PricingCategory",
    "ChargeCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountName",
)


def add_resource(
    con: duckdb.DuckDBPyConnection,
    resource_id: str,
    kind: str = "ec2_instance",
    *,
    provider: str = "aws",
    instance_type: str | None = None,
    region: str | None = "us-east-1",
    state: str | None = "running",
    attached: bool | None = None,
    tags: Mapping[str, str] | None = None,
    properties: Mapping[str, Any] | None = None,
    name: str | None = None,
    launched_at: datetime | None = None,
) -> None:
    """One `resources` row (collected at the end of the test window)."""
    con.execute(
        "INSERT INTO resources (provider, resource_id, kind, region, account_id, name, state, "
        "instance_type, attached, tags, properties, launched_at, collected_at, source) "
        "VALUES (?, ?, ?, ?, '111122223333', ?, ?, ?, ?, ?, ?, ?, ?, 'test')",
        [
            provider,
            resource_id,
            kind,
            region,
            name,
            state,
            instance_type,
            attached,
            json.dumps(dict(tags)) if tags else None,
            json.dumps(dict(properties)) if properties else None,
            launched_at,
            datetime(END.year, END.month, END.day, 23),
        ],
    )


def hourly(
    per_day: Sequence[float | Sequence[float]], end: date = END
) -> list[tuple[datetime, float]]:
    """Hourly samples for the days ending on `end`: a number repeats all day, a list gives the
    24 hourly values."""
    first = end - timedelta(days=len(per_day) - 1)
    out = []
    for i, day in enumerate(per_day):
        start = datetime(first.year, first.month, first.day) + timedelta(days=i)
        values = [float(day)] * 24 if isinstance(day, int | float) else [float(v) for v in day]
        out += [(start + timedelta(hours=h), v) for h, v in enumerate(values)]
    return out


def add_util(
    con: duckdb.DuckDBPyConnection,
    resource_id: str,
    metric: str,
    samples: Iterable[tuple[datetime, float]] | np.ndarray,
    *,
    provider: str = "aws",
    start: datetime | None = None,
) -> None:
    """Utilization samples: (ts, value) pairs, or an hourly array starting at `start`."""
    if isinstance(samples, np.ndarray):
        assert start is not None
        ts = [start + timedelta(hours=i) for i in range(len(samples))]
        values = [float(v) for v in samples]
    else:
        pairs = list(samples)
        ts, values = [p[0] for p in pairs], [p[1] for p in pairs]
    table = pa.table({"ts": pa.array(ts, pa.timestamp("us")), "value": values})
    con.register("_util", table)
    try:
        con.execute(
            "INSERT INTO utilization SELECT ?, ?, ?, ts, value, NULL, 'test' FROM _util",
            [provider, resource_id, metric],
        )
    finally:
        con.unregister("_util")


def daily_bill(
    resource_id: str | None, per_day: float | str, days: int = 30, end: date = END, **columns: Any
) -> list[dict[str, Any]]:
    """One cost row per day for `days` days ending on `end`."""
    return [
        {"day": end - timedelta(days=i), "cost": per_day, "ResourceId": resource_id, **columns}
        for i in range(days)
    ]


def add_costs(con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Cost rows: `day` (or `start` + `hours`), `cost`, `tags`, and FOCUS text columns."""
    data: dict[str, list[Any]] = {"t0": [], "t1": [], "cost": [], "tags": []}
    defaults = {
        "ProviderName": "AWS",
        "ServiceName": "Amazon Elastic Compute Cloud",
        "ServiceCategory": "Compute",
        "RegionId": "us-east-1",
        "PricingCategory": "Standard",
        "ChargeCategory": "Usage",
    }
    for col in _COST_TEXT:
        data[col] = []
    for r in rows:
        start = r.get("start") or datetime.combine(r["day"], datetime.min.time())
        data["t0"].append(start)
        data["t1"].append(start + timedelta(hours=r.get("hours", 24)))
        data["cost"].append(str(Decimal(str(r["cost"]))))
        tags = r.get("tags")
        data["tags"].append(json.dumps(tags) if tags else None)
        for col in _COST_TEXT:
            data[col].append(r.get(col, defaults.get(col)))
    con.register("_cost_rows", pa.table(data))
    try:
        con.execute(
            "INSERT INTO costs (BilledCost, EffectiveCost, ListCost, ContractedCost, "
            "BillingCurrency, ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, "
            f"BillingPeriodEnd, Tags, x_SourceName, {', '.join(_COST_TEXT)}) "
            "SELECT CAST(cost AS DECIMAL(38, 12)), CAST(cost AS DECIMAL(38, 12)), "
            "CAST(cost AS DECIMAL(38, 12)), CAST(cost AS DECIMAL(38, 12)), 'USD', t0, t1, "
            "date_trunc('month', t0), date_trunc('month', t0) + INTERVAL 1 MONTH, "
            f"CAST(tags AS JSON), 'test', {', '.join(_COST_TEXT)} FROM _cost_rows"
        )
    finally:
        con.unregister("_cost_rows")


def run(
    con: duckdb.DuckDBPyConnection,
    cfg: OptimizeConfig | None = None,
    *,
    config: Config | None = None,
    kind: str | None = None,
) -> OptimizationReport:
    return recommend_on(DuckDBEngine(con), config or Config(), cfg or OptimizeConfig(), kind)


def only(report: OptimizationReport, rule: str) -> dict[str, Finding]:
    """Resource id → finding, for one rule."""
    return {f.resource_id or f.resource_name or "": f for f in report.findings if f.rule == rule}
