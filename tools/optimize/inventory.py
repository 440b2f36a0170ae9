"""Reading what the rules need: resources, utilization statistics, bills, owners, protection.

All reads are single SQL statements over `resources`, `utilization` and `costs` (DuckDB dialect,
transpiled for the engine like every other query). Utilization windows end on the last day that
has samples; bill windows end on the last charge day in the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tools.optimize.config import OptimizeConfig
from tools.optimize.models import MONTH_HOURS
from tools.query import Engine, cost_expression, from_clause, literal, transpile, weighted
from tools.settings import ToolSettings
from warehouse.inventory.models import Resource

__all__ = [
    "Bill",
    "DayStat",
    "Stats",
    "bills",
    "daily_stats",
    "load_resources",
    "owners",
    "top_vtag_values",
    "utilization_until",
    "window_stats",
]


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    data = json.loads(value) if isinstance(value, str) else value
    return data if isinstance(data, dict) else {}


def load_resources(engine: Engine) -> list[Resource]:
    """Every row of `resources`, ordered by provider and id."""
    sql = (
        "SELECT provider, resource_id, kind, region, account_id, name, state, instance_type, "
        "attached, CAST(tags AS VARCHAR), CAST(properties AS VARCHAR), launched_at, collected_at, "
        "source FROM resources ORDER BY provider, resource_id"
    )
    out = []
    for r in engine.fetch(transpile(sql, engine.dialect)):
        tags = {str(k): "" if v is None else str(v) for k, v in _json(r[9]).items()}
        out.append(
            Resource(
                provider=str(r[0]),
                resource_id=str(r[1]),
                kind=str(r[2]),
                source=str(r[13]),
                region=r[3],
                account_id=r[4],
                name=r[5],
                state=r[6],
                instance_type=r[7],
                attached=r[8],
                tags=tags,
                properties=_json(r[10]),
                launched_at=r[11],
                collected_at=r[12],
            )
        )
    return out


def utilization_until(engine: Engine) -> date | None:
    """The last day with utilization samples."""
    row = engine.fetch(transpile("SELECT CAST(max(ts) AS DATE) FROM utilization", engine.dialect))
    return row[0][0] if row else None


def _between(start: date, end: date, column: str = "ts") -> str:
    lo = literal(start.isoformat())
    hi = literal((end + timedelta(days=1)).isoformat())
    return f"{column} >= CAST({lo} AS TIMESTAMP) AND {column} < CAST({hi} AS TIMESTAMP)"


@dataclass(frozen=True)
class DayStat:
    """One resource's metric on one day: mean, sum, max and sample count."""

    mean: float
    total: float
    peak: float
    samples: int


def daily_stats(
    engine: Engine, start: date, end: date, metrics: Sequence[str]
) -> dict[tuple[str, str, str], dict[date, DayStat]]:
    """(provider, resource_id, metric) → day → statistics, for days in [start, end]."""
    names = ", ".join(literal(m) for m in metrics)
    sql = (
        "SELECT provider, resource_id, metric, CAST(ts AS DATE) AS d, avg(value), sum(value), "
        f"max(value), count(*) FROM utilization WHERE metric IN ({names}) AND "
        f"{_between(start, end)} GROUP BY 1, 2, 3, 4"
    )
    out: dict[tuple[str, str, str], dict[date, DayStat]] = {}
    for prov, rid, metric, day, mean, total, peak, n in engine.fetch(
        transpile(sql, engine.dialect)
    ):
        out.setdefault((prov, rid, metric), {})[day] = DayStat(
            float(mean), float(total), float(peak), int(n)
        )
    return out


@dataclass(frozen=True)
class Stats:
    """A metric over a window: requested percentiles, mean, max, samples and days with data."""

    percentiles: dict[float, float]
    mean: float
    peak: float
    samples: int
    days: int


def window_stats(
    engine: Engine, start: date, end: date, wanted: dict[str, Iterable[float]]
) -> dict[tuple[str, str, str], Stats]:
    """Percentiles (linear interpolation, like numpy's default) per resource and metric."""
    out: dict[tuple[str, str, str], Stats] = {}
    for metric, pcts in wanted.items():
        levels = sorted(set(pcts))
        cols = ", ".join(f"quantile_cont(value, {p / 100!r})" for p in levels)
        sql = (
            f"SELECT provider, resource_id, avg(value), max(value), count(*), "
            f"count(DISTINCT CAST(ts AS DATE)), {cols} FROM utilization "
            f"WHERE metric = {literal(metric)} AND {_between(start, end)} GROUP BY 1, 2"
        )
        for r in engine.fetch(transpile(sql, engine.dialect)):
            out[(r[0], r[1], metric)] = Stats(
                percentiles={p: float(v) for p, v in zip(levels, r[6:], strict=True)},
                mean=float(r[2]),
                peak=float(r[3]),
                samples=int(r[4]),
                days=int(r[5]),
            )
    return out


@dataclass(frozen=True)
class Bill:
    """A resource's bills over the window: cost (with CPU / memory parts) and its run rate."""

    cost: Decimal
    days: int
    cpu_cost: Decimal
    memory_cost: Decimal
    protected: bool

    def monthly(self, cost: Decimal | None = None, *, exact: bool = False) -> Decimal:
        """Run rate per month (730 h) of `cost` (default: the whole bill), to the cent unless
        `exact`."""
        amount = self.cost if cost is None else cost
        if self.days <= 0:
            return Decimal(0)
        rate = amount / self.days * MONTH_HOURS / 24
        return rate if exact else rate.quantize(Decimal("0.01"))


def _protect_sql(cfg: OptimizeConfig) -> str:
    values = ", ".join(literal(v) for v in cfg.protect_values) or "NULL"
    checks = [
        f"lower(json_extract_string(Tags, {literal(json_path(k))})) IN ({values})"
        for k in cfg.protect_keys
    ]
    return "coalesce(" + " OR ".join(checks) + ", FALSE)" if checks else "FALSE"


def json_path(key: str) -> str:
    return '$."' + key.replace('"', "") + '"'


def bills(
    engine: Engine, config: ToolSettings, cfg: OptimizeConfig, start: date, end: date
) -> dict[str, Bill]:
    """ResourceId → its bills in [start, end], for the resources in the inventory."""
    cost = cost_expression(cfg.metric, config.reporting_currency, config.fx_rates)
    meter = "upper(coalesce(SkuMeter, ''))"
    sql = (
        f"SELECT ResourceId, sum({cost}), CAST(min(ChargePeriodStart) AS DATE), "
        f"sum(CASE WHEN {meter} LIKE '%CPU%' THEN {cost} ELSE 0 END), "
        f"sum(CASE WHEN {meter} IN ('RAM', 'MEMORY') THEN {cost} ELSE 0 END), "
        f"bool_or({_protect_sql(cfg)}) FROM costs "
        f"WHERE ResourceId IN (SELECT resource_id FROM resources) AND "
        f"{_between(start, end, 'ChargePeriodStart')} GROUP BY 1"
    )
    out = {}
    for rid, total, first, cpu, mem, protected in engine.fetch(transpile(sql, engine.dialect)):
        days = (end - max(first, start)).days + 1
        out[str(rid)] = Bill(
            Decimal(total or 0), days, Decimal(cpu or 0), Decimal(mem or 0), bool(protected)
        )
    return out


def owners(
    engine: Engine, config: ToolSettings, cfg: OptimizeConfig, start: date, end: date
) -> dict[str, str]:
    """ResourceId → the owner virtual tag's value carrying most of its cost (not the default),
    for every inventoried resource.

    Empty when the owner virtual tag (`team`) is not defined.
    """
    return top_vtag_values(
        engine, config, cfg.owner_vtag, cfg.metric, start, end,
        "ResourceId IN (SELECT resource_id FROM resources)",
    )  # fmt: skip


def top_vtag_values(
    engine: Engine,
    config: ToolSettings,
    vtag_name: str,
    metric: str,
    start: date,
    end: date,
    resources: str,
) -> dict[str, str]:
    """ResourceId → the value of virtual tag `vtag_name` carrying most of its `metric` cost in
    [start, end] (the default value never counts), for the resources the SQL condition
    `resources` selects. Empty when the tag is not defined; QueryError when its allocation is
    stale."""
    vtag = config.virtual_tags.get(vtag_name)
    if vtag is None:
        return {}
    from tools.query import resolve_dimension
    from tools.vtags.freshness import require_fresh

    require_fresh(engine, config)
    dim = resolve_dimension(f"vtag:{vtag_name}", config.virtual_tags)
    cost = cost_expression(metric, config.reporting_currency, config.fx_rates)
    amount = weighted(cost, [dim])
    sql = (
        f"SELECT ResourceId, {dim.sql}, sum({amount}) FROM {from_clause([dim])} "
        f"WHERE {resources} AND {_between(start, end, 'ChargePeriodStart')} GROUP BY 1, 2"
    )
    best: dict[str, tuple[Decimal, str]] = {}
    for rid, value, total in engine.fetch(transpile(sql, engine.dialect)):
        if value is None or value == vtag.default:
            continue
        amount_of = Decimal(total or 0)
        if str(rid) not in best or amount_of > best[str(rid)][0]:
            best[str(rid)] = (amount_of, str(value))
    return {rid: value for rid, (_, value) in best.items()}
