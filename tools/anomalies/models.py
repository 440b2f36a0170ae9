"""Typed results of anomaly detection: anomalies, their evidence, feedback, mute windows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from warehouse.errors import QueryError

__all__ = [
    "DISMISSED",
    "MARKABLE",
    "STATUSES",
    "Anomaly",
    "AnomalyReport",
    "Contributor",
    "Direction",
    "Feedback",
    "Mute",
    "anomaly_id",
    "check_status",
    "scope_text",
    "series_key",
]

Direction = Literal["up", "down"]
STATUSES = ("open", "expected", "planned", "false_positive", "new_normal", "resolved", "muted")
"""open: needs a look · expected / planned / false_positive: a person said so (never re-raised) ·
new_normal: a level shift that lasted `new_normal_days` · resolved: back to normal for
`resolve_after_days` · muted: inside a mute window."""
DISMISSED = ("expected", "planned", "false_positive")
MARKABLE = (*DISMISSED, "open")
"""What `mark` accepts (`open` re-opens an anomaly marked by mistake)."""


def check_status(value: str, allowed: tuple[str, ...] = STATUSES) -> str:
    """Normalize `false-positive` → `false_positive`; unknown values fail with the valid ones."""
    status = value.strip().lower().replace("-", "_")
    if status not in allowed:
        valid = ", ".join(s.replace("_", "-") for s in allowed)
        raise QueryError(f"unknown anomaly status {value!r}; valid: {valid}")
    return status


def _canonical(series: Mapping[str, str]) -> str:
    return json.dumps(list(series.items()), separators=(",", ":"), ensure_ascii=False)


def series_key(series: Mapping[str, str]) -> str:
    """Stable identity of a series (its dimensions and values, in order)."""
    return hashlib.sha256(_canonical(series).encode()).hexdigest()[:16]


def anomaly_id(series: Mapping[str, str], start: date) -> str:
    """Stable id: hash of the series and the first anomalous day."""
    digest = hashlib.sha256(f"{_canonical(series)}|{start.isoformat()}".encode()).hexdigest()
    return f"an-{digest[:12]}"


def scope_text(series: Mapping[str, str]) -> str:
    """`total` or `ProviderName=AWS, ServiceName=Amazon S3`."""
    return ", ".join(f"{k}={v}" for k, v in series.items()) or "total"


class Contributor(BaseModel):
    """One sub-dimension value's share of the move: its own actual against its own baseline."""

    dimension: str
    value: str
    expected: Decimal
    actual: Decimal
    delta: Decimal
    share: Decimal | None = Field(
        default=None, description="delta / the anomaly's (actual − expected)."
    )


class Feedback(BaseModel):
    status: str
    by: str
    at: datetime
    reason: str | None = None


class Anomaly(BaseModel):
    """One anomalous episode of one series (consecutive flagged days, small gaps merged).

    expected / actual / impact are sums over the counted days (the first `new_normal_days`
    flagged days), in `currency`, for `metric` cost.
    """

    id: str
    series: dict[str, str]
    direction: Direction
    start_day: date
    end_day: date
    days: int
    counted_days: list[date]
    expected: Decimal
    actual: Decimal
    impact: Decimal
    impact_percent: Decimal | None
    score: float
    threshold: float
    level: Decimal = Field(description="Mean daily actual over the flagged days.")
    status: str
    currency: str
    metric: str
    root_cause: dict[str, list[Contributor]] = Field(default_factory=dict)
    owner: str | None = None
    incident: str | None = None
    muted_by: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    feedback: list[Feedback] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return series_key(self.series)

    @property
    def scope(self) -> str:
        return scope_text(self.series)

    def top(self, dimension: str) -> Contributor | None:
        items = self.root_cause.get(dimension) or []
        return items[0] if items else None


class Mute(BaseModel):
    """Anomalies starting in [from_day, until_day] whose scope has DIM=VALUE are muted."""

    id: int
    dimension: str
    value: str
    from_day: date
    until_day: date
    by: str
    at: datetime
    reason: str | None = None


class AnomalyReport(BaseModel):
    """A detection run (or a listing): what was found, over which days, in which currency."""

    currency: str
    metric: str
    since: date
    until: date
    families: list[str]
    statuses: list[str]
    anomalies: list[Anomaly]
    detected: int = 0
    new: int = 0
    updated: int = 0
    folded: int = 0
    suppressed: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0
    persisted: bool = True
    sql: str = ""
