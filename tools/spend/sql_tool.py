"""Read tool: a guarded, read-only SQL query over the cost warehouse.

For questions the structured spend tools cannot express. `guardrails.sqlguard` admits a single
SELECT over the warehouse tables only, and runs it with a row limit and a time limit; the agent's
connection is read-only with external file and network access disabled.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from guardrails.sqlguard import run_guarded
from tools.context import ToolContext
from tools.registry import REGISTRY

__all__ = ["SqlArgs"]


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
    'AWS' GROUP BY 1 ORDER BY 2 DESC"}. Rows are capped; `truncated` says when more existed.
    """
    result = run_guarded(ctx.warehouse(), args.sql, max_rows=args.max_rows, timeout_s=10.0)
    return result.model_dump(mode="json")
