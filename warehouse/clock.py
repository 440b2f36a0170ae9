"""The wall clock, in one place. Everything that needs "now" takes a clock (`Callable[[],
datetime]`) so tests inject one; these are the defaults the surfaces pass in."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now", "utc_now_naive"]


def utc_now() -> datetime:
    """Now, timezone-aware UTC (the state store, audit log, approvals and schedules)."""
    return datetime.now(UTC)


def utc_now_naive() -> datetime:
    """Now in UTC without a zone: how the warehouse's TIMESTAMP columns hold instants."""
    return datetime.now(UTC).replace(tzinfo=None)
