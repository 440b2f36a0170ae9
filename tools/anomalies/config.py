"""`anomalies:` in finops.yaml — which series are watched and how sensitive the detector is.

Composed into `ToolSettings` (`tools/settings.py`). Every default is
explained in `tools.anomalies.service` (the method) and in each field's description.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from warehouse.settings import Strict

__all__ = [
    "DEFAULT_ROOT_CAUSE_DIMENSIONS",
    "AnomalyConfig",
    "SeriesSpec",
    "default_series",
]

DEFAULT_ROOT_CAUSE_DIMENSIONS = ("ServiceName", "SubAccountName", "ResourceId", "SkuId", "RegionId")
"""Sub-dimensions whose values are ranked by their contribution (plus `vtag:team` if defined)."""


class SeriesSpec(Strict):
    """One family of daily series: every value combination of `by` (empty: the total)."""

    by: list[str] = Field(
        default_factory=list,
        description="Dimensions (FOCUS columns, tag:KEY, vtag:NAME); empty means total spend.",
    )
    top: int | None = Field(
        default=None,
        ge=1,
        description="Watch only the N values with the largest spend in the loaded window.",
    )

    @field_validator("by")
    @classmethod
    def _split(cls, value: list[str]) -> list[str]:
        return [d.strip() for item in value for d in item.split(",") if d.strip()]

    def label(self) -> str:
        return " × ".join(self.by) or "total"


class AnomalyConfig(Strict):
    """Detector settings. Defaults suit daily billing data of a company spending USD 1k–1M a day."""

    series: list[SeriesSpec] | None = Field(
        default=None,
        description="Series to watch; default: total, ProviderName×ServiceName, SubAccountName, "
        "vtag:team (when a `team` virtual tag exists) and the `top_resources` largest ResourceIds.",
    )
    top_resources: int = Field(default=200, ge=0, le=1_000_000)
    metric: Literal["billed", "effective", "list"] = "billed"
    lookback_days: int = Field(
        default=30, ge=1, le=730, description="Default --since: this many days up to the latest."
    )
    threshold: float = Field(default=4.0, gt=0, description="Robust z-score an anomaly needs.")
    min_impact: Decimal = Field(
        default=Decimal("20"), ge=0, description="Minimum |actual − expected| per day, currency."
    )
    min_percent: float = Field(
        default=20.0, ge=0, description="Minimum |actual − expected| as percent of expected."
    )
    min_history_days: int = Field(default=14, ge=1, le=365)
    new_normal_days: int = Field(default=7, ge=2, le=90)
    detect_drops: bool = False
    seasonal_weeks: int = Field(default=4, ge=1, le=8)
    recent_days: int = Field(default=14, ge=3, le=90)
    seasonal_weight: float = Field(default=0.5, ge=0, le=1)
    reference_days: int = Field(default=28, ge=7, le=365)
    spread_floor_percent: float = Field(default=5.0, ge=0, le=100)
    spread_floor: Decimal = Field(default=Decimal("0.01"), gt=0)
    merge_gap_days: int = Field(default=1, ge=0, le=7)
    resolve_after_days: int = Field(default=3, ge=1, le=90)
    false_positive_factor: float = Field(default=1.5, ge=1)
    max_threshold_factor: float = Field(default=3.0, ge=1)
    mute_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A mute on DIM=VALUE also covers anomalies where VALUE carries this share of "
        "the delta (e.g. a muted load-test resource that moves the total).",
    )
    root_cause_dimensions: list[str] | None = Field(
        default=None,
        description="Default: ServiceName, SubAccountName, ResourceId, SkuId, RegionId, and "
        "vtag:team when a `team` virtual tag exists.",
    )
    root_cause_top: int = Field(default=5, ge=1, le=50)
    root_cause_candidates: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Values per dimension that get an exact baseline (the largest movers by a "
        "cheap pre-ranking); the rest are summed as (other).",
    )

    @model_validator(mode="after")
    def _history_fits(self) -> AnomalyConfig:
        if self.min_history_days > self.reference_days + 7 * self.seasonal_weeks:
            raise ValueError(
                "min_history_days must not exceed reference_days + 7 × seasonal_weeks "
                f"({self.reference_days + 7 * self.seasonal_weeks})"
            )
        return self

    def history_days(self) -> int:
        """Days of data before the first scored day that the baselines read."""
        return max(7 * self.seasonal_weeks, self.recent_days, self.reference_days + 7)


def default_series(
    config: AnomalyConfig, vtag_names: set[str] | frozenset[str]
) -> list[SeriesSpec]:
    """The configured series, or the defaults (vtag:team only when `team` is defined)."""
    if config.series is not None:
        return list(config.series)
    series = [
        SeriesSpec(),
        SeriesSpec(by=["ProviderName", "ServiceName"]),
        SeriesSpec(by=["SubAccountName"]),
    ]
    if "team" in vtag_names:
        series.append(SeriesSpec(by=["vtag:team"]))
    if config.top_resources:
        series.append(SeriesSpec(by=["ResourceId"], top=config.top_resources))
    return series
