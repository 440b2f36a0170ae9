"""The `sweep:` section of `finops.yaml` (pydantic only, so the config can import it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SweepConfig", "SweepSource"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SweepSource(_Strict):
    """One thing to ingest on every sweep: inputs (paths, globs, s3:// prefixes) or an API."""

    inputs: list[str] = Field(default_factory=list)
    api: Literal["openai", "anthropic"] | None = None
    days: int = Field(default=3, ge=1, le=31, description="api: days to pull.")
    format: str = "auto"
    source: str | None = None


class SweepConfig(_Strict):
    sources: list[SweepSource] = Field(default_factory=list)
    default_days: int = Field(default=30, ge=1, le=366)
    lease_minutes: float = Field(default=60, gt=0)
    alert_anomalies: bool = True
    anomaly_severity_percent: Decimal = Field(
        default=Decimal(100), description="Anomalies at least this % over expected are critical."
    )
