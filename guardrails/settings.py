"""Settings the guardrails own: who approves, how approvals expire, the agent's own budget."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from warehouse.settings import Strict, WarehouseSettings

__all__ = [
    "ApprovalsConfig",
    "BudgetConfig",
    "GuardrailSettings",
    "SqlLimits",
]


class ApprovalsConfig(Strict):
    """How proposals are decided: expiry, and which action types need two distinct approvers."""

    expiry_hours: float = Field(default=72, gt=0, le=24 * 30)
    blocked_actions: list[str] = Field(
        default_factory=list, description="Action types that never execute, even if approved."
    )
    max_executions_per_day: int = Field(
        default=50, ge=0, description="Executions of one action type that may start per UTC day."
    )
    dry_run: bool = Field(
        default=False,
        description="Approved proposals are re-validated and recorded but nothing is changed.",
    )
    execution_lease_minutes: float = Field(
        default=15,
        gt=0,
        description="An execution not finished after this long is marked failed, outcome "
        "unknown (never retried).",
    )
    two_person: list[str] = Field(
        default_factory=lambda: ["delete_ebs_volume"],
        description="Action types that need two distinct approvers (default: delete_ebs_volume, "
        "irreversible; a list set in the config replaces the default).",
    )


class BudgetConfig(Strict):
    """The agent's own LLM spend caps (USD) and per-run call caps. Checked before each call."""

    per_run_usd: Decimal = Field(default=Decimal("0.50"), ge=0)
    per_day_usd: Decimal = Field(default=Decimal("5.00"), ge=0)
    per_month_usd: Decimal = Field(default=Decimal("50.00"), ge=0)
    max_model_calls_per_run: int = Field(default=12, ge=1)
    max_tool_calls_per_run: int = Field(default=20, ge=0)
    max_output_tokens: int = Field(default=2048, ge=16)


class SqlLimits(Strict):
    """Limits of the agent's guarded SQL (`query_sql`): time, memory and result size."""

    timeout_seconds: float = Field(
        default=10.0, gt=0, le=600, description="Wall time per query, process start included."
    )
    memory_limit_mb: int = Field(
        default=1024, ge=16, le=65536, description="DuckDB memory limit of the query's process."
    )
    memory_headroom_mb: int = Field(
        default=768,
        ge=256,
        le=65536,
        description="Address space the query's process may use beyond memory_limit_mb "
        "(interpreter, DuckDB, thread stacks); the process is capped at the sum.",
    )
    threads: int = Field(default=2, ge=1, le=64, description="DuckDB threads per query.")
    max_rows: int = Field(
        default=1000, ge=1, le=100_000, description="Rows returned at most (the tool asks fewer)."
    )
    max_result_bytes: int = Field(
        default=100_000,
        ge=1_000,
        le=50_000_000,
        description="JSON bytes of rows returned at most; further rows are cut with a note.",
    )


class GuardrailSettings(WarehouseSettings):
    """The keys the guardrails read, on top of the warehouse's."""

    approvers: list[str] = Field(
        default_factory=list,
        description="User ids allowed to approve proposals. Empty: nobody can approve.",
    )
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    sql: SqlLimits = Field(
        default_factory=SqlLimits,
        description="Limits of the agent's SQL tool query_sql: time, memory, rows, bytes.",
    )
