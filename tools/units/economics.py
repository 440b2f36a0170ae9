"""Unit economics: what one unit of business usage costs, per virtual tag value.

Cost per 1,000 requests per feature, cost per customer, cost per agent task: the cost side is the
spend a virtual tag allocates to each value (`tools.spend.engine.spend` with `vtag:NAME`, so
shared-cost
splits, rules and inference all count), the usage side is `usage_metrics`, loaded from CSV
(`tools.units.usage_csv`). Both sides cover exactly the same days: by default the days the usage
covers. Values are compared as the virtual tag stores them; the usage's raw values are normalized
with the current definitions (so an alias added later applies retroactively).

Nothing is dropped: a value with cost but no usage and a value with usage but no cost are both
listed, with the unit cost n/a, and the totals say how much cost and usage they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.query import Engine, literal, transpile
from tools.settings import ToolSettings
from tools.spend.engine import Filter, SpendQuery, data_range, spend
from tools.units.usage_csv import UsageFileError, UsageLoadResult, load_usage_csv
from tools.vtags.definitions import VirtualTag
from warehouse.errors import QueryError

__all__ = [
    "UnitEconomicsResult",
    "UnitRow",
    "UnitTotal",
    "UsageFileError",
    "UsageLoadResult",
    "load_usage_csv",
    "unit_economics",
    "usage_catalog",
]

Status = Literal["ok", "no_usage", "no_cost"]


class UnitRow(BaseModel):
    """One value (in one month for grain month): its cost, usage and cost per `per` units."""

    period: date | None
    value: str
    cost: Decimal
    quantity: Decimal | None = Field(description="None: no usage rows for this value.")
    unit_cost: Decimal | None = Field(description="None (n/a) unless it has both cost and usage.")
    status: Status


class UnitTotal(BaseModel):
    """All values together (`unit_cost`: all cost over all usage) and the matched part."""

    period: date | None
    cost: Decimal
    quantity: Decimal
    unit_cost: Decimal | None
    matched_cost: Decimal
    matched_quantity: Decimal
    matched_unit_cost: Decimal | None
    cost_without_usage: Decimal
    quantity_without_cost: Decimal


class UnitEconomicsResult(BaseModel):
    """Cost per `per` units of a usage metric by virtual tag value, with its exact scope."""

    usage_metric: str
    vtag: str
    per: int
    cost_metric: str
    currency: str
    since: date
    until: date
    grain: str
    filters: list[Filter]
    usage_sources: list[str]
    rows: list[UnitRow]
    period_totals: list[UnitTotal]
    total: UnitTotal
    warnings: list[str]
    sql: dict[str, str]


def _per_unit(cost: Decimal, quantity: Decimal | None, per: int) -> Decimal | None:
    if quantity is None or quantity == 0:
        return None
    return cost / quantity * per


def usage_catalog(engine: Engine) -> list[dict[str, Any]]:
    """Every loaded (metric, vtag) with its days, rows and sources; [] before the first load."""
    if "usage_metrics" not in engine.tables():
        return []
    sql = (
        "SELECT metric, vtag, min(day), max(day), count(*), string_agg(DISTINCT source, ', ') "
        "FROM usage_metrics GROUP BY 1, 2 ORDER BY 1, 2"
    )
    keys = ("metric", "vtag", "first_day", "last_day", "rows", "sources")
    return [dict(zip(keys, r, strict=True)) for r in engine.fetch(transpile(sql, engine.dialect))]


def _usage_range(engine: Engine, metric: str, vtag: str) -> tuple[date, date]:
    loaded = usage_catalog(engine)
    match = [u for u in loaded if u["metric"] == metric and u["vtag"] == vtag]
    if match:
        return match[0]["first_day"], match[0]["last_day"]
    if not loaded:
        raise QueryError("no usage metrics are loaded; load a CSV with `finops units load FILE`")
    have = "; ".join(
        f"{u['metric']} by vtag:{u['vtag']} ({u['first_day']}..{u['last_day']})" for u in loaded
    )
    raise QueryError(f"no usage {metric!r} by vtag:{vtag} is loaded; loaded: {have}")


def _usage(
    engine: Engine, tag: VirtualTag, metric: str, vtag: str, window: tuple[date, date], grain: str
) -> tuple[dict[tuple[date | None, str], Decimal], list[str], str]:
    period = "CAST(date_trunc('month', day) AS DATE)" if grain == "month" else "CAST(NULL AS DATE)"
    where = (
        f"metric = {literal(metric)} AND vtag = {literal(vtag)} AND "
        f"day BETWEEN CAST({literal(window[0].isoformat())} AS DATE) "
        f"AND CAST({literal(window[1].isoformat())} AS DATE)"
    )
    sql = transpile(
        f"SELECT {period} AS p, raw_value, sum(quantity) AS q, string_agg(DISTINCT source, '|') "
        f"FROM usage_metrics WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
        engine.dialect,
    )
    out: dict[tuple[date | None, str], Decimal] = {}
    sources: set[str] = set()
    for p, raw, q, src in engine.fetch(sql):
        key = (p, tag.norm(str(raw)) or str(raw))
        out[key] = out.get(key, Decimal(0)) + Decimal(q)
        sources.update(str(src).split("|"))
    return out, sorted(sources), sql


def _rows(
    costs: dict[tuple[date | None, str], Decimal],
    usage: dict[tuple[date | None, str], Decimal],
    per: int,
) -> list[UnitRow]:
    rows = []
    for key in dict.fromkeys([*costs, *usage]):
        has_cost, quantity = key in costs, usage.get(key)
        cost = costs.get(key, Decimal(0))
        status: Status = "no_cost" if not has_cost else "no_usage" if not quantity else "ok"
        unit = _per_unit(cost, quantity, per) if status == "ok" else None
        rows.append(
            UnitRow(
                period=key[0],
                value=key[1],
                cost=cost,
                quantity=quantity,
                unit_cost=unit,
                status=status,
            )
        )
    rows.sort(key=lambda r: (r.period or date.min, -r.cost, -(r.quantity or 0), r.value))
    return rows


def _total(period: date | None, rows: Sequence[UnitRow], per: int) -> UnitTotal:
    zero = Decimal(0)
    cost = sum((r.cost for r in rows), zero)
    quantity = sum((r.quantity or zero for r in rows), zero)
    matched = [r for r in rows if r.status == "ok"]
    m_cost = sum((r.cost for r in matched), zero)
    m_quantity = sum((r.quantity or zero for r in matched), zero)
    return UnitTotal(
        period=period,
        cost=cost,
        quantity=quantity,
        unit_cost=_per_unit(cost, quantity, per),
        matched_cost=m_cost,
        matched_quantity=m_quantity,
        matched_unit_cost=_per_unit(m_cost, m_quantity, per),
        cost_without_usage=sum((r.cost for r in rows if r.status == "no_usage"), zero),
        quantity_without_cost=sum(
            (r.quantity or zero for r in rows if r.status == "no_cost"), zero
        ),
    )


def _coverage_warnings(
    engine: Engine, window: tuple[date, date], usage: tuple[date, date]
) -> list[str]:
    """Usage days the cost data does not cover (their unit costs would be understated)."""
    usage_days = (max(window[0], usage[0]), min(window[1], usage[1]))
    if usage_days[0] > usage_days[1]:
        return [
            f"no usage between {window[0]} and {window[1]} (usage covers {usage[0]}..{usage[1]})"
        ]
    first, last = data_range(engine)
    if first is None or last is None:
        return ["the warehouse holds no cost rows: every unit cost is n/a"]
    out = []
    if usage_days[0] < first:
        out.append(
            f"usage starts on {usage_days[0]} but costs only on {first}: unit costs are "
            "understated (pass --since to start at the first cost day)"
        )
    if usage_days[1] > last:
        out.append(
            f"usage runs to {usage_days[1]} but costs end on {last}: unit costs are "
            "understated (pass --until to stop at the last cost day)"
        )
    return out


def _checked(config: ToolSettings, vtag: str, per: int, grain: str) -> tuple[str, VirtualTag]:
    name = vtag.strip().removeprefix("vtag:")
    if per < 1:
        raise QueryError(f"--per must be a positive integer, got {per}")
    if grain not in ("total", "month"):
        raise QueryError(f"invalid grain {grain!r}; valid: total, month")
    tag = config.virtual_tags.get(name)
    if tag is None:
        defined = ", ".join(sorted(config.virtual_tags)) or "none are defined"
        raise QueryError(f"virtual tag {name!r} is not defined in finops.yaml ({defined})")
    return name, tag


def unit_economics(
    engine: Engine,
    config: ToolSettings,
    *,
    metric: str,
    vtag: str,
    per: int = 1,
    since: date | None = None,
    until: date | None = None,
    grain: Literal["total", "month"] = "total",
    filters: Sequence[Filter] = (),
    cost_metric: Literal["billed", "effective", "list"] = "billed",
) -> UnitEconomicsResult:
    """Cost per `per` units of usage `metric`, per value of virtual tag `vtag`.

    The window defaults to the days the usage covers; `filters` narrow the cost side.
    Example: cost per agent task by agent in October:
    `unit_economics(engine, config, metric="tasks", vtag="agent", since=date(2026, 10, 1),
    until=date(2026, 10, 31))`.
    """
    name, tag = _checked(config, vtag, per, grain)
    first, last = _usage_range(engine, metric, name)
    window = (since or first, until or last)
    if window[1] < window[0]:
        raise QueryError(f"until {window[1]} is before since {window[0]}")
    query = SpendQuery(
        by=[f"vtag:{name}"],
        since=window[0],
        until=window[1],
        grain=grain,
        filters=list(filters),
        metric=cost_metric,
    )
    spent = spend(engine, config, query)
    costs = {(r.period, r.dimensions[f"vtag:{name}"]): r.cost for r in spent.rows}
    usage, sources, usage_sql = _usage(engine, tag, metric, name, window, grain)
    rows = _rows(costs, usage, per)
    periods = sorted({r.period for r in rows if r.period is not None})
    return UnitEconomicsResult(
        usage_metric=metric,
        vtag=name,
        per=per,
        cost_metric=cost_metric,
        currency=spent.currency,
        since=window[0],
        until=window[1],
        grain=grain,
        filters=list(filters),
        usage_sources=sources,
        rows=rows,
        period_totals=[_total(p, [r for r in rows if r.period == p], per) for p in periods],
        total=_total(None, rows, per),
        warnings=_coverage_warnings(engine, window, (first, last)),
        sql={"cost": spent.sql, "usage": usage_sql},
    )
