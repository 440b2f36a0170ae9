"""The `sweep:` section of `finops.yaml` (pydantic only, so the config can import it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from warehouse.settings import Strict

__all__ = ["ActPolicy", "SweepConfig", "SweepSource"]


class SweepSource(Strict):
    """One thing to ingest on every sweep: inputs (paths, globs, s3:// prefixes) or an API."""

    inputs: list[str] = Field(default_factory=list)
    api: Literal["openai", "anthropic"] | None = None
    days: int = Field(default=3, ge=1, le=31, description="api: days to pull.")
    format: str = "auto"
    source: str | None = None


class ActPolicy(Strict):
    """Which optimization findings the sweep turns into proposals and tickets by itself.

    A proposal still waits for an approver like any other; the policy only decides what is put
    in front of them. Each finding is proposed once: not again while a proposal naming it is
    pending, approved, executing or done. Example::

        act:
          - actions: [stop_instance]      # the finding's action (finops recommend)
            min_monthly_saving: 50
            max_proposals: 5
            ticket: true                  # also one ticket per finding, to its owner
    """

    actions: list[str] = Field(
        min_length=1,
        description="Finding actions: stop_instance, resize_instance, scale_to_zero, "
        "set_requests, stop_db_instance, snapshot_and_delete_volume; `*` for any.",
    )
    min_monthly_saving: Decimal = Field(default=Decimal(0), ge=0)
    max_proposals: int = Field(default=5, ge=0, le=100, description="Per sweep and policy.")
    owners: list[str] = Field(default_factory=list, description="Only these owners; empty: all.")
    propose: bool = Field(default=True, description="Propose the change (approval-gated).")
    ticket: bool = Field(default=False, description="Propose one ticket per finding.")


class SweepConfig(Strict):
    sources: list[SweepSource] = Field(default_factory=list)
    act: list[ActPolicy] = Field(
        default_factory=list,
        description="Findings the sweep proposes changes / tickets for (default: none).",
    )
    default_days: int = Field(default=30, ge=1, le=366)
    lease_minutes: float = Field(default=60, gt=0)
    alert_anomalies: bool = True
    anomaly_severity_percent: Decimal = Field(
        default=Decimal(100), description="Anomalies at least this % over expected are critical."
    )
