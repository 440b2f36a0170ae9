"""Parsing shared by the CLI commands' options."""

from __future__ import annotations

from datetime import date

from agent.errors import QueryError

__all__ = ["parse_day"]


def parse_day(value: str | None, flag: str) -> date | None:
    """`--since 2026-11-01` → a date; None stays None; anything else is a clear error."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"invalid {flag} {value!r}; expected YYYY-MM-DD") from None
