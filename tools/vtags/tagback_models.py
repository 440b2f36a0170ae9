"""Shared pieces of pushing virtual tags back to real resources: the resource rows read from the
warehouse, the plan a proposal is made of, where the cloud clients connect, and the interface each
provider (AWS, Kubernetes) implements.

A *target* is a plain JSON dict stored in the proposal's parameters (and so covered by its hash):
what to change (`value`, or None to remove the key) and what the approver saw before
(`previous`, None when the key was absent). Rollback is the same change with the two swapped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, Field

from tools.context import ToolContext
from warehouse.cloud import CloudSettings
from warehouse.errors import QueryError

__all__ = [
    "Backend",
    "Candidate",
    "Change",
    "Live",
    "Plan",
    "Skip",
    "TagBackError",
    "settings_for",
]

Live = Mapping[str, dict[str, str] | None]
"""Current tags / labels per target ref; None when the resource no longer exists."""


class TagBackError(QueryError):
    """Reading or changing tags failed; the message names the resource and the provider's error."""


class Candidate(BaseModel):
    """One resource as the warehouse sees it in its latest month: the value the virtual tag
    gives it, how that was decided, and the attributes needed to address it."""

    resource_id: str
    provider: str = Field(description="AWS or Kubernetes")
    provider_name: str | None = None
    service: str | None = None
    resource_type: str | None = None
    region: str | None = None
    account: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    value: str
    provenance: str
    detail: str | None = None
    confidence: float | None = None
    cost: Decimal = Decimal(0)
    month: date | None = None


class Skip(BaseModel):
    """A resource left out of a proposal, and why."""

    resource: str
    reason: str


class Change(BaseModel):
    """One resource that would change: its target (into the parameters) and the evidence."""

    target: dict[str, Any]
    evidence: dict[str, Any]


class Plan(BaseModel):
    changes: list[Change] = Field(default_factory=list)
    skipped: list[Skip] = Field(default_factory=list)
    already_set: list[str] = Field(default_factory=list)
    not_examined: int = 0


def settings_for(ctx: ToolContext) -> CloudSettings:
    """The settings for one call: from the context's `environ` when it carries one, else from
    the process environment (read now, not at import)."""
    environ = getattr(ctx, "environ", None)
    return CloudSettings.from_environ(environ if isinstance(environ, Mapping) else os.environ)


class Backend(Protocol):
    """What a provider implements; the generic plan / precheck / execute live in `tagback`."""

    provider: str
    permissions: tuple[str, ...]

    def check_key(self, key: str) -> None:
        """Raise QueryError when `key` cannot be a tag / label key here."""

    def value_problem(self, value: str) -> str | None:
        """Why `value` cannot be written as a tag / label value, or None."""

    def target(self, c: Candidate, settings: CloudSettings) -> dict[str, Any] | Skip:
        """The target addressing `c` (without value / previous), or why it cannot be addressed."""

    def ref(self, target: Mapping[str, Any]) -> str:
        """A stable, human-readable reference (ARN; cluster/namespace/kind/name)."""

    def read(self, targets: Sequence[Mapping[str, Any]], settings: CloudSettings) -> Live:
        """Current tags of each target by ref (None: gone); raises TagBackError."""

    def apply(
        self, key: str, targets: Sequence[Mapping[str, Any]], settings: CloudSettings
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Set (or remove, value None) `key` on each target; (changed targets, failures)."""
