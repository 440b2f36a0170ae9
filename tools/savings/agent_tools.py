"""The realized-savings agent tool: what executed actions saved, measured in later bills.

Measurement and aggregation are `tools.savings.service`; this module exposes the report to the
model.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.registry import REGISTRY
from tools.savings.service import Grouping, build_report

__all__ = ["SavingsReportArgs", "savings_report"]


class SavingsReportArgs(BaseModel):
    by: Grouping = Field(default="owner", description="Group by owner, action or month.")
    status: Literal["measured", "measuring", "rolled_back", "no_bills"] | None = Field(
        default=None, description="Only rows of this status (default: all)."
    )
    top_rows: int = Field(default=20, ge=0, le=200, description="Evidence rows to return.")


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("warehouse:read", "finops:read"),
    example={"by": "owner"},
)
def savings_report(ctx: ToolContext, args: SavingsReportArgs) -> dict[str, Any]:
    """Realized savings of executed optimization actions (stop, resize, scale to zero, delete,
    ...), measured in later bills: per resource, baseline = mean daily cost over the full days
    before the action, actual = mean daily cost on the full days after it, measured saving =
    baseline − actual (× 30.4 for a month once enough days of bills are in; until then status
    "measuring"; a rolled-back action stops accruing). Estimated (what the proposal said) and
    measured are separate figures: compare measured_monthly with estimated_of_measured. Use for
    "did our savings materialize?", "how much did we actually save?", "savings by team".
    Example: {"by": "owner"} or {"by": "month", "status": "measured"}.
    Returns currency, metric, groups (estimated_monthly, measured_monthly, realized so far,
    statuses), total, and evidence rows (resource_id, baseline and post windows).
    """
    report = build_report(ctx, by=args.by, status=args.status)
    body = report.model_dump(mode="json", exclude={"rows"})
    biggest = sorted(report.rows, key=lambda r: -(r.measured_daily or Decimal(0)))
    body["rows"] = [r.model_dump(mode="json") for r in biggest[: args.top_rows]]
    return body
