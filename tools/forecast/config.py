"""`forecast:` in finops.yaml — which forecasts are refreshed after every ingest.

Composed into `ToolSettings` (`tools/settings.py`). The method itself is described in
`tools.forecast.model`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from warehouse.settings import Strict

__all__ = ["ForecastConfig", "forecast_config"]

Horizon = Literal["month", "quarter"]


def _both() -> list[Horizon]:
    return ["month", "quarter"]


class ForecastConfig(Strict):
    """Stored forecasts: the scope total plus one breakdown per dimension, per horizon."""

    on_ingest: bool = Field(
        default=True, description="Refresh the stored forecasts after every successful ingest."
    )
    dimensions: list[str] = Field(
        default_factory=lambda: ["ProviderName"],
        description="Breakdowns stored besides the total (FOCUS columns, tag:KEY, vtag:NAME).",
    )
    virtual_tags: bool = Field(
        default=True, description="Also store a breakdown by every defined virtual tag."
    )
    horizons: list[Horizon] = Field(default_factory=_both, min_length=1)
    metric: Literal["billed", "effective", "list"] = "billed"
    history_days: int = Field(
        default=120, ge=28, le=1096, description="Days of daily history each forecast fits."
    )
    top: int = Field(
        default=20, ge=1, le=1000, description="Values kept per breakdown; the rest is (other)."
    )

    @field_validator("dimensions")
    @classmethod
    def _split(cls, value: list[str]) -> list[str]:
        return [d.strip() for item in value for d in item.split(",") if d.strip()]


def forecast_config(config: Any) -> ForecastConfig:
    """The `forecast:` section of a Config, or the defaults while Config has no such field."""
    section = getattr(config, "forecast", None)
    return section if isinstance(section, ForecastConfig) else ForecastConfig()
