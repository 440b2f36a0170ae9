"""The anomaly agent tool: detected cost anomalies with root cause and owner.

The method (series, baselines, episodes, root cause, lifecycle) is `tools.anomalies.service`;
this module only exposes a listing of it to the model.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator

from tools.anomalies.service import DEFAULT_STATUSES, parse_statuses, run_detection
from tools.context import ToolContext
from tools.registry import REGISTRY
from warehouse.errors import QueryError

__all__ = ["AnomaliesArgs", "anomalies_list"]


class AnomaliesArgs(BaseModel):
    since: date | None = Field(
        default=None, description="First day (YYYY-MM-DD); default 30 days before the latest."
    )
    until: date | None = Field(default=None, description="Last day; default the latest data.")
    statuses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STATUSES),
        description="open, new_normal, resolved, expected, planned, false_positive, muted, or all.",
    )
    top: int = Field(default=10, ge=1, le=100, description="Largest anomalies to return.")

    @field_validator("statuses")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        try:
            return list(parse_statuses(value))
        except QueryError as exc:
            raise ValueError(str(exc)) from None


@REGISTRY.tool(effect="read", reversible=True, permissions=("warehouse:read",), example={})
def anomalies_list(ctx: ToolContext, args: AnomaliesArgs) -> dict[str, Any]:
    """Cost anomalies: days where a series (total, provider/service, account, team, resource)
    cost far more than its seasonal baseline, with the root cause (which service, account,
    resource, SKU, region or team moved, with its share of the delta) and the owner. Use for
    "any anomalies?", "what spiked?", "why was Tuesday expensive?". Anomalies people marked
    expected, planned or false positive, and muted ones, are left out unless asked for.
    Example: {} (last 30 days) or {"since": "2026-11-01", "statuses": ["all"], "top": 5}.
    Returns currency, period, and per anomaly: id, series, start/end day, expected, actual,
    impact, score, status, owner, incident, root_cause.
    """
    report = run_detection(
        ctx, since=args.since, until=args.until, statuses=args.statuses, persist=False
    )
    biggest = sorted(report.anomalies, key=lambda a: abs(a.impact), reverse=True)[: args.top]
    body = report.model_dump(mode="json", exclude={"anomalies", "sql"})
    body["anomalies"] = [a.model_dump(mode="json", exclude={"feedback"}) for a in biggest]
    return body
