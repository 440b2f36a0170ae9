"""Settings the tools layer owns: the config section of each capability, composed in one class.

`ToolSettings` extends the guardrails' settings; the agent's `Config` extends it in turn with the
surfaces' own sections (models, Slack, schedule).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from guardrails.settings import GuardrailSettings
from tools.actions.config import ActionsConfig
from tools.anomalies.config import AnomalyConfig
from tools.budgets.config import Budget
from tools.events.config import EventsConfig, RunawayConfig
from tools.forecast.config import ForecastConfig
from tools.notify.config import NotifyConfig
from tools.optimize.config import OptimizeConfig
from tools.savings.config import SavingsConfig
from tools.sweep.config import SweepConfig
from tools.tickets.config import TicketsConfig
from tools.vtags.definitions import VirtualTag

__all__ = ["ToolSettings"]

_VTAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ToolSettings(GuardrailSettings):
    """The keys the capabilities read, on top of the guardrails' and the warehouse's."""

    virtual_tags: dict[str, VirtualTag] = Field(
        default_factory=dict, description="Virtual tag name → definition (see tools/vtags)."
    )
    anomalies: AnomalyConfig = Field(
        default_factory=AnomalyConfig, description="Cost anomaly detection (tools/anomalies)."
    )
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig,
        description="Stored forecasts refreshed after every ingest (tools/forecast).",
    )
    budgets: list[Budget] = Field(
        default_factory=list, description="Budgets and policies (see tools/budgets)."
    )
    events: EventsConfig = Field(
        default_factory=EventsConfig,
        description="The usage-event endpoint `finops events` (see tools/events).",
    )
    runaway: RunawayConfig = Field(
        default_factory=RunawayConfig,
        description="Runaway-agent burn-rate rules over usage events (tools/events/rules.py).",
    )
    optimize: OptimizeConfig = Field(
        default_factory=OptimizeConfig,
        description="Idle, rightsizing and commitment findings (see tools/optimize).",
    )
    actions: ActionsConfig = Field(
        default_factory=ActionsConfig,
        description="Blast-radius limits of optimization actions (see tools/actions).",
    )
    sweep: SweepConfig = Field(
        default_factory=SweepConfig, description="What `finops sweep` ingests and how it runs."
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Alert channels, routes by owner and severity, retries (see tools/notify).",
    )
    savings: SavingsConfig = Field(
        default_factory=SavingsConfig,
        description="Realized savings: baseline days, minimum post days, metric (tools/savings).",
    )
    tickets: TicketsConfig = Field(
        default_factory=TicketsConfig,
        description="Ticket backend (local, Jira, GitHub) and routing by owner (tools/tickets).",
    )

    @field_validator("budgets")
    @classmethod
    def _budget_names(cls, value: list[Budget]) -> list[Budget]:
        names = [b.name for b in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"budget names must be unique: {', '.join(dupes)}")
        return value

    @field_validator("virtual_tags")
    @classmethod
    def _vtag_names(cls, value: dict[str, VirtualTag]) -> dict[str, VirtualTag]:
        for name in value:
            if not _VTAG_NAME.match(name):
                raise ValueError(
                    f"virtual tag name {name!r} must be lower case letters, digits and _ "
                    "(starting with a letter, at most 40 characters)"
                )
        return value
