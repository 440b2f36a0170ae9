"""Spend queries: totals, breakdowns, period-over-period movers and unit cost.

One query layer for the CLI, the agent and the sweep. Every result carries its currency, its
period and its scope (dimensions, filters, metric), so any figure shown can be traced to the rows
behind it. The SQL is built once in DuckDB's dialect and transpiled for other engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from tools.query import (
    Dimension,
    Engine,
    cost_expression,
    from_clause,
    literal,
    resolve_dimension,
    spend_from,
    transpile,
    unconvertible_currencies,
    weighted,
)
from tools.settings import ToolSettings
from warehouse.errors import QueryError

__all__ = [
    "Filter",
    "MoverRow",
    "MoversResult",
    "SpendQuery",
    "SpendResult",
    "SpendRow",
    "UnitCostResult",
    "data_range",
    "parse_filter",
    "spend",
    "top_movers",
    "unit_cost",
]

Grain = Literal["day", "week", "month", "total"]
NONE_LABEL = "(none)"
OTHER_LABEL = "(other)"


class Filter(BaseModel):
    """`DIM=VALUE[,VALUE…]` keeps matching rows; `DIM!=VALUE` drops them."""

    dimension: str
    values: list[str] = Field(min_length=1)
    negate: bool = False


def parse_filter(text: str) -> Filter:
    """Parse `ServiceName=Amazon S3`, `tag:team=payments,search` or `RegionId!=us-east-1`."""
    negate = "!=" in text
    dim, sep, value = text.partition("!=" if negate else "=")
    if not sep or not dim.strip() or not value.strip():
        raise QueryError(f"invalid filter {text!r}; expected DIM=VALUE or DIM!=VALUE")
    values = [v.strip() for v in value.split(",") if v.strip()]
    return Filter(dimension=dim.strip(), values=values, negate=negate)


class SpendQuery(BaseModel):
    """A spend question. `until` is inclusive; an open bound means "from/to the data's edge"."""

    by: list[str] = Field(default_factory=list)
    since: date | None = None
    until: date | None = None
    grain: Grain = "total"
    filters: list[Filter] = Field(default_factory=list)
    metric: Literal["billed", "effective", "list", "contracted"] = "billed"
    top: int | None = Field(default=None, ge=1)

    @field_validator("by")
    @classmethod
    def _split(cls, value: list[str]) -> list[str]:
        return [d.strip() for item in value for d in item.split(",") if d.strip()]


class SpendRow(BaseModel):
    period: date | None
    dimensions: dict[str, str]
    cost: Decimal


class SpendResult(BaseModel):
    """Rows, total, and the exact scope they cover."""

    metric: str
    currency: str
    since: date | None
    until: date | None
    grain: str
    by: list[str]
    filters: list[Filter]
    rows: list[SpendRow]
    total: Decimal
    sql: str


def data_range(engine: Engine) -> tuple[date | None, date | None]:
    """First and last charge day in the warehouse."""
    sql = (
        "SELECT CAST(min(ChargePeriodStart) AS DATE), CAST(max(ChargePeriodStart) AS DATE) "
        "FROM costs"
    )
    row = engine.fetch(transpile(sql, engine.dialect))[0]
    return row[0], row[1]


def _dims(config: ToolSettings, specs: Sequence[str], engine: Engine) -> list[Dimension]:
    dims = [resolve_dimension(d, config.virtual_tags) for d in specs]
    if any(d.join for d in dims):
        from tools.vtags.freshness import require_fresh

        require_fresh(engine, config)
    return dims


def _filter_dims(
    config: ToolSettings, filters: Sequence[Filter], engine: Engine
) -> list[Dimension]:
    return _dims(config, [f.dimension for f in filters], engine)


def _where(
    since: date | None,
    until: date | None,
    filters: Sequence[Filter],
    config: ToolSettings | None = None,
) -> str:
    clauses = ["1 = 1"]
    if since:
        clauses.append(f"ChargePeriodStart >= CAST({literal(since.isoformat())} AS TIMESTAMP)")
    if until:
        end = (until + timedelta(days=1)).isoformat()
        clauses.append(f"ChargePeriodStart < CAST({literal(end)} AS TIMESTAMP)")
    for f in filters:
        dim = resolve_dimension(f.dimension, config.virtual_tags if config else None)
        values = ", ".join(literal(v) for v in f.values)
        expr = f"coalesce({dim.sql}, {literal(NONE_LABEL)})"
        clauses.append(f"{expr} {'NOT IN' if f.negate else 'IN'} ({values})")
    return " AND ".join(clauses)


def _checked_cost(engine: Engine, config: ToolSettings, metric: str, source: str = "costs") -> str:
    expr = cost_expression(metric, config.reporting_currency, config.fx_rates)
    missing = unconvertible_currencies(engine, config.reporting_currency, config.fx_rates, source)
    if missing:
        raise QueryError(
            f"the warehouse holds costs in {', '.join(missing)} with no fx_rates entry to convert "
            f"into the reporting currency {config.reporting_currency}"
        )
    return expr


def _dim_select(dims: Sequence[Dimension]) -> list[str]:
    return [f"coalesce({d.sql}, {literal(NONE_LABEL)}) AS d{i}" for i, d in enumerate(dims)]


def _period_expr(grain: str) -> str:
    if grain == "total":
        return "CAST(NULL AS DATE)"
    return f"CAST(date_trunc({literal(grain)}, ChargePeriodStart) AS DATE)"


def _breakdown_sql(
    query: SpendQuery,
    dims: Sequence[Dimension],
    cost: str,
    config: ToolSettings,
    joined: Sequence[Dimension],
    source: str,
) -> str:
    names = [f"d{i}" for i in range(len(dims))]
    amount = weighted(cost, joined)
    cols = [f"{_period_expr(query.grain)} AS p", *_dim_select(dims), f"sum({amount}) AS c"]
    group = ", ".join(str(i + 1) for i in range(1 + len(dims)))
    where = _where(query.since, query.until, query.filters, config)
    base = f"SELECT {', '.join(cols)} FROM {source} WHERE {where} GROUP BY {group}"
    if not query.top or not dims:
        order = ", ".join(["p", "c DESC", *names])
        return f"SELECT p, {', '.join([*names, 'c'])} FROM ({base}) AS b ORDER BY {order}"
    dim_list = ", ".join(names)
    ranked = (
        f"SELECT {dim_list}, row_number() OVER (ORDER BY sum(c) DESC, {dim_list}) AS rk "
        f"FROM ({base}) AS b0 GROUP BY {dim_list}"
    )
    other = literal(OTHER_LABEL)
    bucket = ", ".join(
        f"CASE WHEN r.rk <= {query.top} THEN b.{n} ELSE {other} END AS {n}" for n in names
    )
    join = " AND ".join(f"b.{n} = r.{n}" for n in names)
    merged = (
        f"SELECT p, {dim_list}, sum(c) AS c FROM (SELECT b.p, {bucket}, b.c FROM ({base}) AS b "
        f"JOIN ({ranked}) AS r ON {join}) AS t GROUP BY {', '.join(['p', *names])}"
    )
    return (
        f"SELECT p, {dim_list}, c FROM ({merged}) AS m "
        f"ORDER BY p, CASE WHEN d0 = {other} THEN 1 ELSE 0 END, c DESC, {dim_list}"
    )


def spend(engine: Engine, config: ToolSettings, query: SpendQuery) -> SpendResult:
    """Total or breakdown of spend by any dimensions, grain and filters.

    Example: `spend(engine, config, SpendQuery(by=["ServiceName"], grain="month", top=5))`.
    """
    dims = _dims(config, query.by, engine)
    joined = [*dims, *_filter_dims(config, query.filters, engine)]
    end = query.until + timedelta(days=1) if query.until else None
    source = spend_from(
        engine, joined, config.virtual_tags, grain=query.grain, cuts=[query.since, end]
    )
    cost = _checked_cost(engine, config, query.metric, source)
    sql = transpile(_breakdown_sql(query, dims, cost, config, joined, source), engine.dialect)
    rows = [
        SpendRow(
            period=r[0],
            dimensions={d.name: str(v) for d, v in zip(dims, r[1:-1], strict=True)},
            cost=r[-1] or Decimal(0),
        )
        for r in engine.fetch(sql)
    ]
    first, last = data_range(engine)
    return SpendResult(
        metric=query.metric,
        currency=config.reporting_currency,
        since=query.since or first,
        until=query.until or last,
        grain=query.grain,
        by=[d.name for d in dims],
        filters=query.filters,
        rows=rows,
        total=sum((r.cost for r in rows), Decimal(0)),
        sql=sql,
    )


class MoverRow(BaseModel):
    """One dimension value's spend in the current and the previous period."""

    dimensions: dict[str, str]
    current: Decimal
    previous: Decimal
    delta: Decimal
    delta_pct: Decimal | None


class MoversResult(BaseModel):
    """Period-over-period change: totals and the values that moved most (by absolute delta)."""

    metric: str
    currency: str
    current_since: date
    current_until: date
    previous_since: date
    previous_until: date
    by: list[str]
    filters: list[Filter]
    current_total: Decimal
    previous_total: Decimal
    rows: list[MoverRow]
    sql: str


def _pct(current: Decimal, previous: Decimal) -> Decimal | None:
    if previous == 0:
        return None
    return ((current - previous) / previous * 100).quantize(Decimal("0.1"))


def top_movers(
    engine: Engine,
    config: ToolSettings,
    *,
    by: Sequence[str],
    since: date,
    until: date,
    filters: Sequence[Filter] = (),
    metric: str = "billed",
    top: int = 10,
    previous: tuple[date, date] | None = None,
    order: Literal["change", "increase", "decrease"] = "change",
) -> MoversResult:
    """Compare [since, until] with a previous period, per dimension value.

    The previous period is the equally long one just before `since` unless `previous` names it
    (e.g. the previous calendar month, which may be shorter). `order` ranks by the absolute
    change (default), the largest increase first, or the largest decrease first.
    Example: which services moved most this week vs last week:
    `top_movers(engine, config, by=["ServiceName"], since=date(2026, 11, 21),
    until=date(2026, 11, 27))`.
    """
    if until < since:
        raise QueryError(f"--until {until} is before --since {since}")
    dims = _dims(config, list(by) or ["ProviderName"], engine)
    joined = [*dims, *_filter_dims(config, filters, engine)]
    length = (until - since).days + 1
    prev_since, prev_until = previous or (since - timedelta(days=length), since - timedelta(days=1))
    if prev_until < prev_since or prev_until >= since:
        raise QueryError(f"the previous period {prev_since}..{prev_until} must end before {since}")
    cuts = [prev_since, since, prev_until + timedelta(days=1), until + timedelta(days=1)]
    source = spend_from(engine, joined, config.virtual_tags, cuts=cuts)
    cost = weighted(_checked_cost(engine, config, metric, source), joined)
    start = f"CAST({literal(since.isoformat())} AS TIMESTAMP)"
    prev_end = f"CAST({literal((prev_until + timedelta(days=1)).isoformat())} AS TIMESTAMP)"
    names = [f"d{i}" for i in range(len(dims))]
    rank = {"change": "abs(cur - prev) DESC", "increase": "cur - prev DESC"}.get(
        order, "cur - prev ASC"
    )
    window = _where(prev_since, until, filters, config)
    sql = (
        f"SELECT {', '.join(names)}, cur, prev FROM (SELECT {', '.join(_dim_select(dims))}, "
        f"coalesce(sum(CASE WHEN ChargePeriodStart >= {start} THEN {cost} END), 0) AS cur, "
        f"coalesce(sum(CASE WHEN ChargePeriodStart < {prev_end} THEN {cost} END), 0) AS prev "
        f"FROM {source} WHERE {window} "
        f"GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}) AS m "
        f"ORDER BY {rank}, {', '.join(names)}"
    )
    sql = transpile(sql, engine.dialect)
    raw = engine.fetch(sql)
    rows = [
        MoverRow(
            dimensions={d.name: str(v) for d, v in zip(dims, r[:-2], strict=True)},
            current=r[-2],
            previous=r[-1],
            delta=r[-2] - r[-1],
            delta_pct=_pct(r[-2], r[-1]),
        )
        for r in raw
    ]
    return MoversResult(
        metric=metric,
        currency=config.reporting_currency,
        current_since=since,
        current_until=until,
        previous_since=prev_since,
        previous_until=prev_until,
        by=[d.name for d in dims],
        filters=list(filters),
        current_total=sum((r.current for r in rows), Decimal(0)),
        previous_total=sum((r.previous for r in rows), Decimal(0)),
        rows=rows[:top],
        sql=sql,
    )


class UnitCostRow(BaseModel):
    dimensions: dict[str, str]
    cost: Decimal
    quantity: Decimal
    unit_cost: Decimal | None


class UnitCostResult(BaseModel):
    """Cost per `per` units of a usage metric (e.g. USD per 1M Tokens), per dimension value."""

    metric: str
    currency: str
    unit: str
    per: int
    since: date | None
    until: date | None
    by: list[str]
    filters: list[Filter]
    rows: list[UnitCostRow]
    sql: str


def unit_cost(
    engine: Engine,
    config: ToolSettings,
    *,
    unit: str | Sequence[str],
    per: int = 1,
    by: Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
    filters: Sequence[Filter] = (),
    metric: str = "billed",
) -> UnitCostResult:
    """Spend divided by consumed quantity for rows whose ConsumedUnit is `unit` (or one of its
    spellings, when a list).

    Example: cost per million tokens by model:
    `unit_cost(engine, config, unit="Tokens", per=1_000_000, by=["SkuId"])`.
    """
    if per < 1:
        raise QueryError(f"--per must be a positive integer, got {per}")
    dims = _dims(config, by, engine)
    joined = [*dims, *_filter_dims(config, filters, engine)]
    cost = weighted(_checked_cost(engine, config, metric), joined)
    quantity = weighted("ConsumedQuantity", joined)
    units = [unit] if isinstance(unit, str) else list(unit)
    unit_filter = Filter(dimension="ConsumedUnit", values=units)
    where = _where(since, until, [*filters, unit_filter], config)
    dim_cols = _dim_select(dims)
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}" if dims else ""
    sql = transpile(
        f"SELECT {', '.join([*dim_cols, f'sum({cost}) AS c', f'sum({quantity}) AS q'])} "
        f"FROM {from_clause(joined)} WHERE {where}{group} ORDER BY c DESC",
        engine.dialect,
    )
    rows = []
    for r in engine.fetch(sql):
        c, qty = r[-2] or Decimal(0), r[-1] or Decimal(0)
        rows.append(
            UnitCostRow(
                dimensions={d.name: str(v) for d, v in zip(dims, r[:-2], strict=True)},
                cost=c,
                quantity=qty,
                unit_cost=(c / qty * per) if qty else None,
            )
        )
    first, last = data_range(engine)
    return UnitCostResult(
        metric=metric,
        currency=config.reporting_currency,
        unit=" / ".join(units),
        per=per,
        since=since or first,
        until=until or last,
        by=[d.name for d in dims],
        filters=list(filters),
        rows=rows,
        sql=sql,
    )
