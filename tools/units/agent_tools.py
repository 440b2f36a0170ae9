"""The unit-economics agent tool: cost per unit of business usage per virtual tag value.

The computation is `tools.units.economics`; this module resolves the model's period and filters
and calls it.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from tools.context import ToolContext
from tools.periods import resolve_period
from tools.registry import REGISTRY
from tools.spend.engine import data_range, parse_filter
from tools.units.economics import UnitEconomicsResult, unit_economics

__all__ = ["UnitEconomicsArgs", "unit_economics_report"]


class UnitEconomicsArgs(BaseModel):
    metric: str = Field(min_length=1, description="Usage metric as loaded, e.g. tasks, requests.")
    by: str = Field(
        description="The virtual tag whose values the usage is keyed by, e.g. vtag:agent."
    )
    per: int = Field(default=1, ge=1, description="Units per price, e.g. 1000 for per 1k.")
    period: str | None = Field(
        default=None,
        description="A named period (last_month, this_month, last_30_days, …) or YYYY-MM. "
        "Default: the days the usage covers. Ignored when since/until are given.",
    )
    since: date | None = Field(default=None, description="First day, inclusive (YYYY-MM-DD).")
    until: date | None = Field(default=None, description="Last day, inclusive (YYYY-MM-DD).")
    grain: Literal["total", "month"] = "total"
    filters: list[str] = Field(
        default_factory=list,
        description="Narrow the cost side: `Dimension=value` or `Dimension!=value`, e.g. "
        "ProviderName=Anthropic.",
    )
    cost_metric: Literal["billed", "effective", "list"] = "billed"

    @field_validator("by")
    @classmethod
    def _vtag(cls, value: str) -> str:
        name = value.strip().removeprefix("vtag:")
        if not name:
            raise ValueError("give a virtual tag, e.g. vtag:team")
        return name

    @model_validator(mode="after")
    def _window(self) -> UnitEconomicsArgs:
        if (self.since is None) != (self.until is None):
            raise ValueError("give both since and until, or a period")
        return self


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("warehouse:read",),
    example={"metric": "tasks", "by": "vtag:agent", "per": 1, "period": "last_month"},
)
def unit_economics_report(ctx: ToolContext, args: UnitEconomicsArgs) -> UnitEconomicsResult:
    """Unit economics: cost per unit of business usage per virtual tag value, e.g. cost per
    agent task by agent, cost per 1,000 requests by team or feature, cost per customer.

    Cost is the spend the virtual tag allocates to each value (shared splits included); usage
    comes from loaded usage metrics. Values with cost but no usage (status no_usage) and usage
    but no cost (no_cost) are listed with unit_cost null. `total.matched_unit_cost` covers only
    values with both; `total.unit_cost` divides all cost by all usage.
    Example: cost per task by AI agent last month ->
    {"metric": "tasks", "by": "vtag:agent", "per": 1, "period": "last_month"};
    cost per 1,000 requests by team -> {"metric": "requests", "by": "vtag:team", "per": 1000}.
    """
    engine = ctx.engine()
    since, until = args.since, args.until
    if since is None and args.period:
        _, last = data_range(engine)
        resolved = resolve_period(args.period, ctx.today(), last)
        since, until = resolved.since, resolved.until
    return unit_economics(
        engine,
        ctx.config,
        metric=args.metric,
        vtag=args.by,
        per=args.per,
        since=since,
        until=until,
        grain=args.grain,
        filters=[parse_filter(f) for f in args.filters],
        cost_metric=args.cost_metric,
    )
