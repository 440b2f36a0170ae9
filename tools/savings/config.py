"""The `savings:` section of `finops.yaml`: how realized savings are measured (composed into
`ToolSettings`).

A saving is measured against a counterfactual: the resource's mean daily cost over the
`baseline_days` full days before the action, compared with its actual daily cost on the full
days after it. The monthly figure is that daily difference × 30.4 days, shown only once
`min_post_days` full days of bills have arrived.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from warehouse.settings import Strict

__all__ = ["MONTH_DAYS", "SavingsConfig", "savings_settings"]

MONTH_DAYS = Decimal("30.4")
"""Days in a month when a measured daily saving is extrapolated (365 / 12, rounded)."""


class SavingsConfig(Strict):
    """Realized-savings measurement (`finops savings`, the `savings_report` tool)."""

    baseline_days: int = Field(
        default=14,
        ge=1,
        le=93,
        description="Full days before the action whose mean daily cost is the baseline.",
    )
    min_post_days: int = Field(
        default=3,
        ge=1,
        le=93,
        description="Full days of bills after the action before a monthly saving is reported; "
        "until then the saving is `measuring`.",
    )
    metric: Literal["effective", "billed", "list"] = Field(
        default="effective",
        description="Cost column measured: effective = FOCUS EffectiveCost (after discounts), "
        "billed = BilledCost, list = ListCost.",
    )


def savings_settings(config: Any) -> SavingsConfig:
    """The config's `savings:` section, or the defaults while the config has none."""
    value = getattr(config, "savings", None)
    return value if isinstance(value, SavingsConfig) else SavingsConfig()
