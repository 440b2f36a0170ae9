"""Typed results of the optimizer: findings with their evidence and saving, and the report."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "KINDS",
    "MONTH_HOURS",
    "Evidence",
    "Finding",
    "FindingKind",
    "OptimizationReport",
    "Saving",
    "Skipped",
    "finding_id",
]

FindingKind = Literal["idle", "rightsize", "commitment"]
KINDS: tuple[str, ...] = ("idle", "rightsize", "commitment")
MONTH_HOURS = Decimal(730)
"""Hours in a month for run rates (365 × 24 / 12), the convention of AWS pricing pages."""


def finding_id(rule: str, subject: str) -> str:
    """Stable id of a rule's finding on one subject (resource id, product, commitment id)."""
    return "opt-" + hashlib.sha256(f"{rule}|{subject}".encode()).hexdigest()[:12]


class Evidence(BaseModel):
    """One measured fact behind a finding: metric, statistic, window, value and the threshold."""

    metric: str
    statistic: str
    window: str
    value: float | None = None
    unit: str = ""
    threshold: str | None = None
    detail: str | None = None


class Saving(BaseModel):
    """Estimated saving per month and where the figure comes from.

    `source`: `bills` — the resource's billed run rate × (1 − new price / old price);
    `list_price` — the bills lack the resource, so list prices × 730 h; `none` — no estimate.
    """

    monthly: Decimal | None
    source: Literal["bills", "list_price", "none"]
    basis: str


class Finding(BaseModel):
    """One recommendation: what to change, why (evidence), what it saves and who owns it."""

    id: str
    kind: FindingKind
    rule: str
    source: str = Field(description="The published rule or default this finding follows.")
    action: str
    summary: str
    provider: str | None = None
    resource_id: str | None = None
    resource_name: str | None = None
    resource_kind: str | None = None
    region: str | None = None
    account_id: str | None = None
    owner: str | None = None
    current: str | None = None
    recommended: str | None = None
    monthly_cost: Decimal | None = Field(
        default=None, description="Billed run rate of the resource (bills / days × 730 h / 24)."
    )
    cost_days: int = Field(default=0, description="Days of bills behind monthly_cost.")
    saving: Saving
    currency: str
    evidence: list[Evidence] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class Skipped(BaseModel):
    """A resource that matched a rule but is protected (`finops:protected=true`)."""

    resource_id: str
    resource_name: str | None
    resource_kind: str
    reason: str
    rules: list[str]


class OptimizationReport(BaseModel):
    """Every finding of one run, with its scope: currency, bill window, utilization window."""

    currency: str
    metric: str
    bills_since: date | None
    bills_until: date | None
    utilization_until: date | None
    kinds: list[str]
    findings: list[Finding]
    skipped_protected: list[Skipped] = Field(default_factory=list)
    monthly_saving: Decimal = Decimal(0)
    by_kind: dict[str, Decimal] = Field(default_factory=dict)
    resources_evaluated: int = 0
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0
