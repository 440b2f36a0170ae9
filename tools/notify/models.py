"""What an alert is (`Alert`) and what sending one did (`DeliveryReport`).

An alert carries everything a person needs to act without opening another tool: what happened
(title, text), who owns it, where (scope), how much (figures, each with its currency and period),
why we think so (evidence) and where to look (links). Its `dedupe_key` identifies the condition
it reports: the same key is delivered at most once per channel and event. A detector uses one
key per *open* anomaly (e.g. `anomaly:<anomaly id>`); once the anomaly resolves, a recurrence is a
new anomaly with a new id, hence a new key, and alerts again.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from tools.notify.config import Severity
from warehouse.format import money
from warehouse.settings import Strict

__all__ = ["Alert", "ChannelResult", "DeliveryReport", "Figure", "Link"]

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SPACES = re.compile(r"\s+")


class Figure(Strict):
    """One amount shown in the alert, e.g. "Spend yesterday: USD 4,210.17 (2026-11-27)"."""

    label: str = Field(min_length=1, max_length=80)
    amount: Decimal
    currency: str = Field(min_length=3, max_length=3)
    period: str | None = Field(default=None, max_length=60, description="e.g. 2026-11-27")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def render(self) -> str:
        """`USD 4,210.17 (2026-11-27)`."""
        amount = money(self.amount, self.currency)
        return f"{amount} ({self.period})" if self.period else amount


class Link(Strict):
    text: str = Field(min_length=1, max_length=75)
    url: str = Field(pattern=r"^https?://", max_length=2000)


class Alert(Strict):
    """An alert to route to its owner's channels.

    Example: Alert(id="an-7f3a", kind="anomaly", severity="critical", owner="payments",
    title="EC2 spend 4.2x baseline in payments-prod", text="…",
    scope={"SubAccountName": "payments-prod", "ServiceName": "Amazon EC2"},
    figures=[Figure(label="Spend 2026-11-27", amount=Decimal("4210.17"), currency="USD")],
    evidence=["ServiceName moved +USD 3,210.40 (92% of the change)"]).
    """

    id: str = Field(min_length=1, max_length=200)
    dedupe_key: str = Field(
        default="", max_length=255, description="Default `<kind>:<id>`; one per open condition."
    )
    kind: str = Field(description="anomaly, budget, runaway_agent, forecast, test, …")
    severity: Severity
    event: Literal["trigger", "resolve"] = "trigger"
    title: str = Field(min_length=1, max_length=150)
    text: str = Field(default="", max_length=3000)
    owner: str | None = Field(default=None, max_length=100)
    scope: dict[str, str] = Field(default_factory=dict)
    figures: list[Figure] = Field(default_factory=list, max_length=8)
    evidence: list[str] = Field(default_factory=list, max_length=10)
    links: list[Link] = Field(default_factory=list, max_length=5)
    source: str = Field(default="finops-agent", min_length=1, max_length=255)
    created_at: datetime | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if not _KIND.match(value):
            raise ValueError(f"kind {value!r}: lower case letters, digits and _")
        return value

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return _SPACES.sub(" ", value).strip() or "(untitled alert)"

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, value: list[str]) -> list[str]:
        return [line[:500] for line in value]

    @model_validator(mode="before")
    @classmethod
    def _default_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("dedupe_key"):
            data = {**data, "dedupe_key": f"{data.get('kind')}:{data.get('id')}"}
        return data


class ChannelResult(BaseModel):
    """What happened on one channel: sent, failed (after retries) or skipped (and why)."""

    channel: str
    type: str
    status: Literal["sent", "failed", "skipped"]
    attempts: int = 0
    detail: str = ""
    delays: list[float] = Field(default_factory=list, description="Seconds waited between tries.")


class DeliveryReport(BaseModel):
    """Routing decision and per-channel outcome of one `send`."""

    alert_id: str
    dedupe_key: str
    event: str
    routed_by: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    results: list[ChannelResult] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """No channel failed (skipped duplicates are fine)."""
        return all(r.status != "failed" for r in self.results)

    def by_channel(self, name: str) -> ChannelResult:
        return next(r for r in self.results if r.channel == name)
