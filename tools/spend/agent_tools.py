"""Read tools over the cost warehouse: spend breakdowns, top movers, unit cost and guarded SQL.

The structured tools wrap `tools.spend.engine` (one SQL builder, transpiled per engine) and add
what the model needs:
named periods resolved against the as-of day, filters as `Column=value` text, and results that
carry currency, period, scope and the SQL that produced them as evidence.

`query_sql` is for questions the structured tools cannot express. `guardrails.sqlguard` admits a
single SELECT over the warehouse tables only, and runs it within the `sql:` limits of the config
(time, memory, rows, bytes); the agent's connection is read-only with external file and network
access disabled.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from guardrails.sqlguard import run_guarded
from tools.context import ToolContext
from tools.periods import Period, resolve_period
from tools.registry import REGISTRY
from tools.spend.engine import SpendQuery, data_range, parse_filter, spend, top_movers, unit_cost
from tools.spend.request import SpendRequest, check_request, run_request
from warehouse.errors import QueryError

__all__ = ["MoversArgs", "SpendArgs", "SqlArgs", "UnitCostArgs", "period_of"]

_READ = ("warehouse:read",)


class _Window(BaseModel):
    period: str | None = Field(
        default=None,
        description="A named period (last_month, this_month, last_week, this_week, last_7_days, "
        "last_30_days, yesterday, today, this_quarter, last_quarter, this_year) or a month "
        "YYYY-MM. Ignored when since/until are given.",
    )
    since: date | None = Field(default=None, description="First day, inclusive (YYYY-MM-DD).")
    until: date | None = Field(default=None, description="Last day, inclusive (YYYY-MM-DD).")
    filters: list[str] = Field(
        default_factory=list,
        description="Each `Dimension=value` (or `Dimension!=value`; several values a,b). "
        "Dimensions are FOCUS columns, tag:KEY or vtag:NAME (virtual tags, e.g. vtag:team), "
        "e.g. ProviderName=AWS, tag:team=payments, vtag:team=search.",
    )
    metric: Literal["billed", "effective", "list"] = "billed"

    @model_validator(mode="after")
    def _one_window(self) -> _Window:
        if (self.since is None) != (self.until is None):
            raise ValueError("give both since and until, or a period")
        return self


def period_of(ctx: ToolContext, window: _Window, default: str) -> Period:
    """The inclusive dates a tool call covers, anchored on the as-of day."""
    _, last = data_range(ctx.engine())
    if window.since is not None and window.until is not None:
        if window.until < window.since:
            raise QueryError(f"until {window.until} is before since {window.since}")
        label = f"{window.since}..{window.until}"
        as_of = min(ctx.today(), last) if last else ctx.today()
        return Period(label=label, since=window.since, until=window.until, as_of=as_of)
    return resolve_period(window.period or default, ctx.today(), last)


def _envelope(period: Period, result: BaseModel) -> dict[str, Any]:
    body = result.model_dump(mode="json")
    body["period"] = {
        "label": period.label,
        "since": str(period.since),
        "until": str(period.until),
        "as_of": str(period.as_of),
    }
    return body


class SpendArgs(_Window):
    by: list[str] = Field(
        default_factory=list,
        description="Dimensions to group by: FOCUS columns (ServiceName, ProviderName, "
        "SubAccountName, RegionId, ResourceId, SkuId, ChargeCategory…), tag:KEY or vtag:NAME "
        "(virtual tags, e.g. vtag:team).",
    )
    grain: Literal["total", "day", "week", "month"] = "total"
    top: int = Field(default=10, ge=1, le=100, description="Rows to keep; the rest is (other).")


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=_READ,
    example={"by": ["ServiceName"], "period": "last_month", "filters": ["ProviderName=AWS"]},
)
def spend_breakdown(ctx: ToolContext, args: SpendArgs) -> dict[str, Any]:
    """Total spend for a period, optionally grouped by dimensions and over time.

    Use for "how much did we spend…", "by service / account / team", "daily trend".
    Example: AWS spend last month by service ->
    {"by": ["ServiceName"], "period": "last_month", "filters": ["ProviderName=AWS"]}.
    Returns rows (dimensions, cost), total, currency, the period with its as-of day, and the SQL.
    """
    period = period_of(ctx, args, "this_month")
    query = SpendQuery(
        by=args.by,
        since=period.since,
        until=period.until,
        grain=args.grain,
        filters=[parse_filter(f) for f in args.filters],
        metric=args.metric,
        top=args.top,
    )
    return _envelope(period, spend(ctx.engine(), ctx.config, query))


class MoversArgs(_Window):
    by: list[str] = Field(
        default_factory=lambda: ["ServiceName"],
        description="Dimensions whose values are compared (default ServiceName).",
    )
    top: int = Field(default=5, ge=1, le=50)


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=_READ,
    example={"by": ["ProviderName", "ServiceName"], "period": "last_7_days"},
)
def spend_movers(ctx: ToolContext, args: MoversArgs) -> dict[str, Any]:
    """What changed: compare a period with the equally long period just before it.

    Use for "why did cost go up", "what changed this week". Rows are sorted by the absolute
    change, with current, previous, delta and delta_pct.
    Example: {"by": ["ProviderName", "ServiceName"], "period": "last_7_days"}.
    """
    period = period_of(ctx, args, "last_7_days")
    result = top_movers(
        ctx.engine(),
        ctx.config,
        by=args.by,
        since=period.since,
        until=period.until,
        filters=[parse_filter(f) for f in args.filters],
        metric=args.metric,
        top=args.top,
    )
    return _envelope(period, result)


class UnitCostArgs(_Window):
    unit: str = Field(default="Tokens", description="ConsumedUnit to divide by, e.g. Tokens.")
    per: int = Field(default=1_000_000, ge=1, description="Units per price, e.g. 1000000.")
    by: list[str] = Field(default_factory=lambda: ["SkuId"])


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=_READ,
    example={"unit": "Tokens", "per": 1000000, "by": ["SkuId"], "period": "last_30_days"},
)
def unit_cost_report(ctx: ToolContext, args: UnitCostArgs) -> dict[str, Any]:
    """Cost per unit of usage (e.g. USD per 1M tokens by model) for a period.

    Use for "what does a million tokens cost us", "cost per unit by model".
    Example: {"unit": "Tokens", "per": 1000000, "by": ["SkuId"], "period": "last_30_days"}.
    """
    period = period_of(ctx, args, "last_30_days")
    result = unit_cost(
        ctx.engine(),
        ctx.config,
        unit=args.unit,
        per=args.per,
        by=args.by,
        since=period.since,
        until=period.until,
        filters=[parse_filter(f) for f in args.filters],
        metric=args.metric,
    )
    return _envelope(period, result)


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=_READ,
    example={
        "since": "2018-11-01",
        "until": "2018-11-30",
        "filters": [{"dimension": "ServiceName", "values": ["Amazon Elastic Compute Cloud"]}],
        "by": ["RegionId"],
    },
)
def spend_query(ctx: ToolContext, args: SpendRequest) -> dict[str, Any]:
    """Answer one spend question in structured form: totals, breakdowns, top N, growth between
    periods, share of a whole, unit cost; any metric (billed, effective/amortized, list,
    contracted); filters with several values or exclusions.

    Every filter value is checked against the warehouse's vocabulary first: an unknown value
    fails with the closest known values and their spend (look values up with `vocab_lookup`).
    Example: EC2 in November 2018 by region -> {"since": "2018-11-01", "until": "2018-11-30",
    "filters": [{"dimension": "ServiceName", "values": ["Amazon Elastic Compute Cloud"]}],
    "by": ["RegionId"]}. Returns the request as understood, the period, figures and the SQL.
    """
    from tools.vocab.catalog import load_vocabulary

    engine = ctx.engine()
    checked = check_request(args, ctx.config, load_vocabulary(engine, ctx.config))
    _, last = data_range(engine)
    return run_request(engine, ctx.config, checked, today=ctx.today(), last_day=last)


class SqlArgs(BaseModel):
    sql: str = Field(
        min_length=1,
        max_length=8000,
        description="One DuckDB SELECT over `costs` (FOCUS 1.2 columns; Tags is JSON) or "
        "`ingests`. No other tables, no files, no writes.",
    )
    max_rows: int = Field(default=50, ge=1, le=500)


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("warehouse:read",),
    example={
        "sql": "SELECT RegionId, sum(BilledCost) AS cost FROM costs "
        "WHERE ProviderName = 'AWS' GROUP BY 1 ORDER BY 2 DESC"
    },
)
def query_sql(ctx: ToolContext, args: SqlArgs) -> dict[str, Any]:
    """Run one read-only SELECT on the cost warehouse when no other tool fits.

    Money columns are BilledCost, EffectiveCost, ListCost (DECIMAL, in BillingCurrency); time is
    ChargePeriodStart (UTC). Tag values: json_extract_string(Tags, '$.team').
    Example: {"sql": "SELECT RegionId, sum(BilledCost) AS cost FROM costs WHERE ProviderName =
    'AWS' GROUP BY 1 ORDER BY 2 DESC"}. Rows and bytes are capped (`truncated`, and `note`
    says what was cut): aggregate in SQL rather than fetching raw rows. A query over the time or
    memory limit fails with an error naming the limit; simplify it and try again.
    """
    result = run_guarded(ctx.warehouse(), args.sql, max_rows=args.max_rows, limits=ctx.config.sql)
    return result.model_dump(mode="json")
