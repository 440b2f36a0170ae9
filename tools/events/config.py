"""The `events:` and `runaway:` sections of `finops.yaml`, validated strictly.

`events` shapes the intake endpoint (limits, bearer token, flush cadence); `runaway` holds the
per-agent burn-rate rules. Both are frozen and reject unknown keys, like every config section.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from warehouse.settings import Strict

__all__ = ["EventsConfig", "RunawayConfig"]


class EventsConfig(Strict):
    """The usage-event endpoint (`finops events`): limits, auth and how often it flushes."""

    token_env: str = Field(
        default="FINOPS_EVENTS_TOKEN",
        description="Environment variable holding the bearer token; unset or empty: no auth "
        "(allowed only on a loopback address).",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body as sent (413)."
    )
    max_decompressed_bytes: int = Field(
        default=128 * 1024 * 1024, ge=1024, description="Largest body after gunzip (413)."
    )
    max_lines: int = Field(default=100_000, ge=1, description="Most events in one request.")
    read_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="A connection must send a whole request (headers and body) within this "
        "long of connecting or of its previous response, else it is closed (slow or half-sent "
        "requests; applies to every route `finops events` / `finops serve` answers).",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections or requests in flight beyond which the server answers 503.",
    )
    flush_seconds: float = Field(
        default=1.0, gt=0, le=1.0, description="Buffered events reach the warehouse this often."
    )
    max_buffered_events: int = Field(
        default=1_000_000,
        ge=1,
        description="Events held in memory while the warehouse is busy; beyond this, 503.",
    )
    max_clock_skew_seconds: float = Field(
        default=300, ge=0, description="Events timestamped further in the future are refused."
    )
    max_age_days: int = Field(
        default=90,
        ge=1,
        description="Events timestamped further in the past are refused (a unit slip in "
        "time_unix_nano lands in 1970).",
    )
    remember_batches: int = Field(
        default=100_000, ge=0, description="Idempotency-Key values remembered (retries)."
    )


class RunawayConfig(Strict):
    """Per-agent burn-rate rules, evaluated after every flush of usage events.

    Spike: an agent's spend over the last `window_minutes`, as an hourly rate, is at least
    `spike_ratio` × its norm (median spend of its active hours over the last `norm_days` days)
    and at least `min_window_usd`. Task: one task's running cost exceeds `task_ratio` × the p95 of
    the agent's task costs over `task_history_days` and `min_task_usd`.
    """

    enabled: bool = True
    window_minutes: float = Field(default=5, gt=0, le=60)
    norm_days: int = Field(default=7, ge=1, le=90)
    min_norm_hours: int = Field(
        default=24, ge=1, description="Active hours of history an agent needs for a norm."
    )
    spike_ratio: Decimal = Field(default=Decimal(5), gt=1)
    min_window_usd: Decimal = Field(default=Decimal("1.00"), ge=0)
    new_agent_max_hourly_usd: Decimal | None = Field(
        default=None,
        gt=0,
        description="Burn-rate cap (USD/h) for agents without a norm yet; null: not checked.",
    )
    task_ratio: Decimal = Field(default=Decimal(10), gt=1)
    min_task_usd: Decimal = Field(default=Decimal("5.00"), ge=0)
    min_task_history: int = Field(default=20, ge=1)
    task_history_days: int = Field(default=7, ge=1, le=90)
    task_idle_minutes: float = Field(
        default=30, gt=0, description="A task without events for this long is finished."
    )
    max_tracked_tasks: int = Field(default=1_000_000, ge=100)
    resolve_after_minutes: float = Field(
        default=15, gt=0, description="An open flag resolves after its rule held false this long."
    )
    norm_refresh_minutes: float = Field(default=15, gt=0)
    agent_tag_keys: list[str] = Field(
        default_factory=lambda: ["agent_id"],
        min_length=1,
        description="Tag keys of `costs` rows that name the agent (for the hourly norm).",
    )
    action: Literal["none", "propose"] = Field(
        default="propose", description="propose: a disable_api_key proposal per runaway key."
    )
    saving_horizon_hours: Decimal = Field(
        default=Decimal(24),
        gt=0,
        description="Expected saving of disabling a key = current burn rate × this horizon.",
    )
    exempt_agents: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _resolve_after_window(self) -> RunawayConfig:
        if self.resolve_after_minutes < self.window_minutes:
            raise ValueError(
                f"resolve_after_minutes ({self.resolve_after_minutes}) must be at least "
                f"window_minutes ({self.window_minutes})"
            )
        return self
