"""Budgets and policies as code: the `budgets:` section of `finops.yaml`.

A budget is a scope (filters over FOCUS columns, tags or virtual tags: a provider, an account, a
team, an agent), an amount per month or quarter, and thresholds on the actual spend to date or on
the forecast of the period's end. Crossing a threshold does what it says:

- `notify`: an alert to the owner's channels (see `notify:`);
- `ticket`: a proposal to open a ticket for the owner (it is created only after approval);
- `propose`: a proposal of any registered write action with the given arguments.

Nothing a policy triggers changes anything without an approval: policies are configuration, not
approvals.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from warehouse.settings import Strict

__all__ = ["Budget", "Threshold"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class Threshold(Strict):
    """`basis` actual or forecast, at `percent` of the amount, `then` one action."""

    basis: Literal["actual", "forecast"] = Field(
        description="Compare the spend to date (actual) or the period-end forecast."
    )
    percent: Decimal = Field(gt=0, le=1000)
    then: Literal["notify", "ticket", "propose"] = "notify"
    severity: Literal["info", "warning", "critical"] = "warning"
    action: str | None = Field(default=None, description="propose: the write tool to call.")
    args: dict[str, Any] = Field(default_factory=dict, description="propose: its arguments.")
    forecast_level: Literal["point", "upper80", "upper95"] = Field(
        default="point",
        description="forecast: compare the point forecast or an interval's upper bound.",
    )

    @model_validator(mode="after")
    def _propose(self) -> Threshold:
        if self.then == "propose" and not self.action:
            raise ValueError("then: propose needs `action:` (a write tool name)")
        if self.then != "propose" and (self.action or self.args):
            raise ValueError("`action:`/`args:` are only for then: propose")
        return self

    @property
    def key(self) -> str:
        pct = f"{self.percent:f}"
        return f"{self.basis}-{pct.rstrip('0').rstrip('.') if '.' in pct else pct}"


class Budget(Strict):
    """One budget: scope, amount, period and thresholds."""

    name: str
    scope: list[str] = Field(
        default_factory=list,
        description="Filters DIM=VALUE (FOCUS columns, tag:KEY, vtag:NAME); empty = all spend.",
    )
    amount: Decimal = Field(gt=0)
    period: Literal["month", "quarter"] = "month"
    owner: str | None = Field(default=None, description="Default: the vtag:team value in scope.")
    metric: Literal["billed", "effective"] = "billed"
    thresholds: list[Threshold] = Field(
        default_factory=lambda: [
            Threshold(basis="actual", percent=Decimal(80)),
            Threshold(basis="forecast", percent=Decimal(100)),
        ],
        min_length=1,
    )
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"budget name {value!r}: lower case letters, digits, . _ -")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Budget:
        keys = [t.key for t in self.thresholds]
        if len(keys) != len(set(keys)):
            raise ValueError(f"budget {self.name}: two thresholds on the same kind and percent")
        return self

    def team(self) -> str | None:
        """The owner: explicit, else the single `vtag:team=` value of the scope."""
        if self.owner:
            return self.owner
        for f in self.scope:
            dim, _, value = f.partition("=")
            if dim.strip().lower() == "vtag:team" and "," not in value:
                return value.strip()
        return None
