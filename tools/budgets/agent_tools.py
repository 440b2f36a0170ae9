"""The budgets agent tool: every budget's actual and forecast against its thresholds.

Status, firing and backtests are `tools.budgets.service`; this module exposes the status to the
model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tools.budgets.service import budget_status, find_budget
from tools.context import ToolContext
from tools.registry import REGISTRY
from warehouse.errors import QueryError

__all__ = ["BudgetArgs", "budget_status_report"]


class BudgetArgs(BaseModel):
    name: str | None = Field(default=None, description="One budget; default all.")


@REGISTRY.tool(effect="read", reversible=True, permissions=("warehouse:read",), example={})
def budget_status_report(ctx: ToolContext, args: BudgetArgs) -> dict[str, Any]:
    """Budgets from finops.yaml: spend to date and the forecast of the period's end against the
    amount and each threshold (actual / forecast %). Use for "are we on budget".
    Example: {} or {"name": "aws-monthly"}.
    """
    budgets = [find_budget(ctx.config, args.name)] if args.name else list(ctx.config.budgets)
    if not budgets:
        raise QueryError("no budgets are defined in finops.yaml (`budgets:`)")
    today = ctx.today()
    return {
        "budgets": [
            budget_status(ctx.engine(), ctx.config, b, today=today).model_dump(mode="json")
            for b in budgets
            if b.enabled
        ]
    }
