"""What the collectors produce: resource rows, utilization samples, the result and the errors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from warehouse.errors import FinopsError

__all__ = [
    "KINDS",
    "METRICS",
    "CollectError",
    "CollectResult",
    "OnProgress",
    "Resource",
    "Sample",
    "Scope",
    "metrics_window",
    "naive_utc",
]

KINDS = (
    "ec2_instance",
    "ebs_volume",
    "rds_instance",
    "elastic_ip",
    "load_balancer",
    "k8s_deployment",
    "k8s_statefulset",
    "k8s_container",
)

METRICS: dict[str, str] = {
    "cpu_percent": "Percent",
    "network_in_bytes": "Bytes",
    "network_out_bytes": "Bytes",
    "memory_percent": "Percent",
    "db_connections": "Count",
    "request_count": "Count",
    "cpu_request_cores": "Cores",
    "cpu_usage_cores": "Cores",
    "memory_request_bytes": "Bytes",
    "memory_usage_bytes": "Bytes",
}
"""Metric name → unit written to `utilization.unit`."""

OnProgress = Callable[[str], None]
"""Called with a short line before each long step ("us-east-1: EC2 instances")."""


class CollectError(FinopsError):
    """A collection failed; nothing was written. The message names the call and the fix."""


def naive_utc(value: datetime | None) -> datetime | None:
    """Timestamps are stored as naive UTC, like every TIMESTAMP in the warehouse."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def metrics_window(now: datetime, lookback_days: int, period: int) -> tuple[datetime, datetime]:
    """[start, end) of the utilization to collect: `end` is `now` floored to the period (the last
    full period ends there), `start` is `lookback_days` before it."""
    moment = naive_utc(now)
    assert moment is not None
    epoch = datetime(1970, 1, 1)
    seconds = int((moment - epoch).total_seconds())
    end = epoch + timedelta(seconds=seconds - seconds % period)
    return end - timedelta(days=lookback_days), end


@dataclass(frozen=True)
class Resource:
    """One row of `resources` (see the table's columns): what a collector writes and what the
    optimizer reads back (`tools.optimize.inventory.load_resources`).

    `collected_at` is None on a row a collector builds (the store stamps the collection's time)
    and set on a row read from the table.
    """

    provider: str
    resource_id: str
    kind: str
    source: str
    region: str | None = None
    account_id: str | None = None
    name: str | None = None
    state: str | None = None
    instance_type: str | None = None
    attached: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    launched_at: datetime | None = None
    collected_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(provider, resource_id), the table's primary key."""
        return (self.provider, self.resource_id)

    @property
    def label(self) -> str:
        """How people see it: its name, else its id."""
        return self.name or self.resource_id


@dataclass(frozen=True)
class Sample:
    """One row of `utilization`: the metric's value for the period starting at `ts`."""

    resource_id: str
    metric: str
    ts: datetime
    value: float
    source: str


@dataclass(frozen=True)
class Scope:
    """The snapshot one collection replaces: a provider's account (or cluster) and region."""

    account_id: str
    region: str | None


class CollectResult(BaseModel):
    """What one `finops collect` wrote."""

    provider: str
    collected_at: datetime
    scopes: list[dict[str, str | None]] = Field(
        description="account_id / region pairs whose snapshot was replaced"
    )
    resources: dict[str, int] = Field(description="resources written, by kind")
    removed: int = Field(description="resources of those scopes not seen any more")
    samples: dict[str, int] = Field(description="utilization rows upserted, by metric")
    window: dict[str, datetime] | None = None
    api_calls: int = 0
    retries: int = 0
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def build(
        cls,
        provider: str,
        collected_at: datetime,
        scopes: Sequence[Scope],
        written: tuple[Counter[str], int, Counter[str]],
        window: tuple[datetime, datetime],
        *,
        calls: int,
        retries: int,
        warnings: list[str],
        started: float,
    ) -> CollectResult:
        """The result of a collection whose rows `write_collection` returned as `written`."""
        kinds, removed, metrics = written
        return cls(
            provider=provider,
            collected_at=collected_at,
            scopes=[{"account_id": s.account_id, "region": s.region} for s in scopes],
            resources=dict(sorted(kinds.items())),
            removed=removed,
            samples=dict(sorted(metrics.items())),
            window={"start": window[0], "end": window[1]},
            api_calls=calls,
            retries=retries,
            warnings=warnings,
            seconds=round(time.monotonic() - started, 3),
        )
