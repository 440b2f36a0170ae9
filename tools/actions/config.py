"""`actions:` in finops.yaml — blast-radius limits of optimization actions.

A leaf module (pydantic and the lower layer's strict base only), composed by `ToolSettings`.
Until the config carries the section, `actions_settings` returns the defaults.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from warehouse.settings import Strict

__all__ = ["ActionsConfig", "actions_settings"]


class ActionsConfig(Strict):
    """Blast radius of one proposal (Cloud Custodian's `max-resources` idea), checked when the
    proposal is made and again right before it executes."""

    max_resources_per_proposal: int = Field(
        default=10, ge=1, le=1000, description="At most this many resources change per proposal."
    )
    max_monthly_spend_per_proposal: Decimal = Field(
        default=Decimal(5000),
        ge=0,
        description="At most this billed monthly run rate (reporting currency) is affected by one "
        "proposal; a resource without bills counts as 0 and is flagged in the evidence.",
    )


def actions_settings(config: Any) -> ActionsConfig:
    """The config's `actions:` section, or the defaults while the config has none."""
    value = getattr(config, "actions", None)
    return value if isinstance(value, ActionsConfig) else ActionsConfig()
