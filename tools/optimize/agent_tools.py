"""The `optimization_findings` read tool: idle resources, rightsizing and commitments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.optimize.engine import recommend
from tools.registry import REGISTRY

__all__ = ["OptimizationArgs", "optimization_findings"]


class OptimizationArgs(BaseModel):
    kind: Literal["idle", "rightsize", "commitment"] | None = Field(
        default=None, description="Only this kind of finding; omit for all three."
    )
    top: int = Field(default=20, ge=1, le=200, description="Largest savings first, at most this.")
    min_saving: Decimal = Field(
        default=Decimal(0), ge=0, description="Leave out findings saving less per month."
    )


@REGISTRY.tool(
    effect="read", reversible=True, permissions=("warehouse:read",), example={"kind": "idle"}
)
def optimization_findings(ctx: ToolContext, args: OptimizationArgs) -> dict[str, Any]:
    """Savings opportunities from the inventory, utilization and bills: idle resources (stop,
    delete, release, scale to zero), oversized instances (cheapest smaller size of the same
    family that fits the measured CPU p99.5 and memory peak with 20% headroom), over-requested
    Kubernetes workloads, commitment (Savings Plan / reservation) coverage of the steady
    on-demand baseline, and under-used commitments. Resources tagged finops:protected=true are
    never proposed (listed under skipped_protected). Use for "where can we save?", "idle
    resources?", "what should we rightsize?", "should we buy a Savings Plan?".
    Example: {} (everything) or {"kind": "rightsize", "top": 5}.
    Returns currency, bill and utilization windows, monthly_saving, and per finding: kind, rule,
    source (the published rule), action, summary, resource, owner, current → recommended,
    monthly_cost (billed run rate), saving {monthly, source: bills|list_price, basis},
    evidence [{metric, statistic, window, value, unit, threshold}].
    """
    report = recommend(ctx, kind=args.kind)
    kept = [f for f in report.findings if (f.saving.monthly or 0) >= args.min_saving]
    body = report.model_dump(mode="json", exclude={"findings"})
    body["findings"] = [f.model_dump(mode="json") for f in kept[: args.top]]
    body["findings_total"] = len(kept)
    return body
