"""The agent's forecast tool: month-end or quarter-end spend of a scope, with intervals."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.forecast.service import ForecastQuery, forecast
from tools.registry import REGISTRY
from tools.spend.engine import parse_filter

__all__ = ["ForecastArgs"]


class ForecastArgs(BaseModel):
    by: str | None = Field(
        default=None,
        description="Optional breakdown: one FOCUS column (ProviderName, ServiceName, "
        "SubAccountName…), tag:KEY or vtag:NAME (virtual tag, e.g. vtag:team).",
    )
    filters: list[str] = Field(
        default_factory=list,
        description="Scope, each `Dimension=value` (or `Dimension!=value`; several values a,b), "
        "e.g. ProviderName=AWS, vtag:team=search.",
    )
    horizon: Literal["month", "quarter"] = Field(
        default="month", description="Forecast the end of the current month or quarter."
    )
    metric: Literal["billed", "effective", "list"] = "billed"
    top: int = Field(default=10, ge=1, le=50, description="Values of `by` kept; rest (other).")


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("warehouse:read",),
    example={"by": "ServiceName", "filters": ["ProviderName=AWS"], "horizon": "month"},
)
def spend_forecast(ctx: ToolContext, args: ForecastArgs) -> dict[str, Any]:
    """Forecast where spend will land at the end of this month (or quarter), with 80% and 95%
    intervals: month-end total = exact actual month-to-date + forecast of the days left.

    Use for "what will we spend this month", "month-end forecast for AWS", "which team will
    overspend this quarter". The as-of day is the latest day with cost data.
    Example: AWS month-end by service ->
    {"by": "ServiceName", "filters": ["ProviderName=AWS"], "horizon": "month"}.
    Returns currency, period, as_of, days_actual/days_remaining, and for the scope `total` and
    each of `groups`: actual_to_date, forecast_remaining, forecast_total, intervals
    [{level, lower, upper}] and the method used.
    """
    query = ForecastQuery(
        by=args.by,
        filters=[parse_filter(f) for f in args.filters],
        horizon=args.horizon,
        metric=args.metric,
        top=args.top,
    )
    result = forecast(ctx.engine(), ctx.config, query, today=ctx.today())
    body = result.model_dump(mode="json")
    body["total"].pop("daily", None)
    return body
