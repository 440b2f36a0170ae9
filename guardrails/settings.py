"""Settings the guardrails own: who approves, how approvals expire, the agent's own budget."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field

from warehouse.settings import Strict, WarehouseSettings

__all__ = [
    "ApprovalsConfig",
    "AuditConfig",
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
        description="An execution whose executor has not renewed its lease for this long is "
        "taken as dead: the target is re-read and what changed recorded (never retried). A live "
        "execution renews it every execution_heartbeat_seconds, however long it runs.",
    )
    execution_heartbeat_seconds: float = Field(
        default=30,
        gt=0,
        le=600,
        description="How often a running execution renews its lease (a background thread); "
        "capped at a third of execution_lease_minutes.",
    )
    two_person: list[str] = Field(
        default_factory=lambda: ["delete_ebs_volume"],
        description="Action types that need two distinct approvers (default: delete_ebs_volume, "
        "irreversible; a list set in the config replaces the default).",
    )

    def heartbeat_interval(self) -> float:
        """Seconds between lease renewals: `execution_heartbeat_seconds`, but never more than a
        third of the lease, so a live execution survives a couple of slow or missed beats."""
        return min(self.execution_heartbeat_seconds, self.execution_lease_minutes * 60 / 3)


class AuditConfig(Strict):
    """Where the audit chain's head is anchored, outside the state database: every entry's hash
    is written, signed with an HMAC key that is not in the database, to an append-only file, so
    `finops audit --verify` sees entries cut off the end, a re-hashed chain and forged appends."""

    anchors_path: Path | None = Field(
        default=None,
        description="Append-only file of signed anchors (one JSON line per entry). Default: "
        "audit-anchors.jsonl beside a SQLite state file; with PostgreSQL set it to a path every "
        "replica shares, or the chain is not anchored. A relative path is taken from the SQLite "
        "state file's folder. Put it where whoever can write the state database cannot rewrite "
        "it (another volume or owner, `chattr +a`).",
    )
    key_env: str = Field(
        default="FINOPS_AUDIT_KEY",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the anchors' HMAC key (at least 32 "
        "characters); when it is set, key_file is not used.",
    )
    key_file: Path | None = Field(
        default=None,
        description="File holding the HMAC key when key_env is unset; created (mode 0600, 32 "
        "random bytes) on the first append. Default: audit.key beside the anchors file. Never "
        "in the state database; a secret-store mount keeps it from whoever can read the home.",
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
    audit: AuditConfig = Field(
        default_factory=AuditConfig,
        description="Anchors of the audit chain outside the state database, and their key.",
    )
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    sql: SqlLimits = Field(
        default_factory=SqlLimits,
        description="Limits of the agent's SQL tool query_sql: time, memory, rows, bytes.",
    )
