"""Named reporting periods ("last_month", "this_week", "2026-10") resolved to inclusive dates.

Relative ranges (this week, last 7 days, this month…) are anchored on an *as-of* day: today, or
the latest charge day in the warehouse when the bills stop earlier (bills lag by a day or more), so
"this month" means month to date of the data. `today` and `yesterday` are the day after the latest
charge day at most (bills land a day late): asked on 2026-11-28 with bills through 2026-11-27,
"yesterday" is 2026-11-27, as a person means it; on a demo warehouse that ended long ago it is
still its last day. Answers state the as-of day, so a
stale warehouse is visible rather than silently shifting the period.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel

from warehouse.errors import QueryError

__all__ = ["PERIOD_NAMES", "Period", "parse_day", "resolve_period"]

PeriodName = Literal[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "last_7_days",
    "last_30_days",
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
]
PERIOD_NAMES: tuple[str, ...] = PeriodName.__args__  # type: ignore[attr-defined]
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class Period(BaseModel):
    """An inclusive date range with the label and as-of day it was resolved from."""

    label: str
    since: date
    until: date
    as_of: date


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _prev_month(d: date) -> date:
    return (_month_start(d) - timedelta(days=1)).replace(day=1)


def _month_end(start: date) -> date:
    nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _relative(name: str, today: date) -> tuple[date, date]:
    week = today - timedelta(days=today.weekday())
    quarter = _quarter_start(today)
    prev_quarter = _quarter_start(quarter - timedelta(days=1))
    table: dict[str, tuple[date, date]] = {
        "today": (today, today),
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "this_week": (week, today),
        "last_week": (week - timedelta(days=7), week - timedelta(days=1)),
        "last_7_days": (today - timedelta(days=6), today),
        "last_30_days": (today - timedelta(days=29), today),
        "this_month": (_month_start(today), today),
        "last_month": (_prev_month(today), _month_start(today) - timedelta(days=1)),
        "this_quarter": (quarter, today),
        "last_quarter": (prev_quarter, quarter - timedelta(days=1)),
        "this_year": (date(today.year, 1, 1), today),
        "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    }
    return table[name]


def resolve_period(name: str, today: date, last_data_day: date | None = None) -> Period:
    """Resolve a period name or a `YYYY-MM` month against the as-of day.

    Example: `resolve_period("last_month", date(2026, 11, 28))` is 2026-10-01 .. 2026-10-31.
    """
    as_of = min(today, last_data_day) if last_data_day else today
    month = _MONTH.fullmatch(name)
    if month:
        try:
            start = date(int(month[1]), int(month[2]), 1)
        except ValueError:
            raise QueryError(f"period {name!r} is not a valid month") from None
        return Period(label=name, since=start, until=_month_end(start), as_of=as_of)
    if name not in PERIOD_NAMES:
        raise QueryError(
            f"unknown period {name!r}; use YYYY-MM or one of {', '.join(PERIOD_NAMES)}"
        )
    if name in ("today", "yesterday"):
        anchor = min(today, last_data_day + timedelta(days=1)) if last_data_day else today
        since, until = _relative(name, anchor)
    else:
        since, until = _relative(name, as_of)
    return Period(label=name.replace("_", " "), since=since, until=until, as_of=as_of)


def parse_day(value: str | None, flag: str) -> date | None:
    """`--since 2026-11-01` → a date; None stays None; anything else is a clear error."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"invalid {flag} {value!r}; expected YYYY-MM-DD") from None
