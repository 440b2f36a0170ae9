"""Named periods resolve to inclusive date ranges anchored on the as-of day
(= min(today, last data day)); YYYY-MM is a calendar month; anything else is a clear error."""

from __future__ import annotations

from datetime import date

import pytest

from tools.periods import PERIOD_NAMES, Period, resolve_period
from warehouse.errors import QueryError

SAT = date(2026, 11, 28)  # a Saturday


@pytest.mark.parametrize(
    ("name", "since", "until"),
    [
        ("today", date(2026, 11, 28), date(2026, 11, 28)),
        ("yesterday", date(2026, 11, 27), date(2026, 11, 27)),
        ("this_week", date(2026, 11, 23), date(2026, 11, 28)),  # weeks start on Monday
        ("last_week", date(2026, 11, 16), date(2026, 11, 22)),
        ("last_7_days", date(2026, 11, 22), date(2026, 11, 28)),
        ("last_30_days", date(2026, 10, 30), date(2026, 11, 28)),
        ("this_month", date(2026, 11, 1), date(2026, 11, 28)),
        ("last_month", date(2026, 10, 1), date(2026, 10, 31)),
        ("this_quarter", date(2026, 10, 1), date(2026, 11, 28)),
        ("last_quarter", date(2026, 7, 1), date(2026, 9, 30)),
        ("this_year", date(2026, 1, 1), date(2026, 11, 28)),
        ("last_year", date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_named_periods(name: str, since: date, until: date) -> None:
    period = resolve_period(name, SAT)
    assert (period.since, period.until) == (since, until)
    assert period.as_of == SAT
    assert period.label == name.replace("_", " ")


def test_every_name_is_covered_and_inclusive_lengths_are_right() -> None:
    assert len(PERIOD_NAMES) == 12
    for name in PERIOD_NAMES:
        period = resolve_period(name, SAT)
        assert period.since <= period.until <= SAT
    assert (
        resolve_period("last_7_days", SAT).until - resolve_period("last_7_days", SAT).since
    ).days == 6
    p30 = resolve_period("last_30_days", SAT)
    assert (p30.until - p30.since).days == 29


def test_week_periods_on_a_monday() -> None:
    monday = date(2026, 11, 23)
    assert resolve_period("this_week", monday).model_dump() == {
        "label": "this week",
        "since": monday,
        "until": monday,
        "as_of": monday,
    }
    last = resolve_period("last_week", monday)
    assert (last.since, last.until) == (date(2026, 11, 16), date(2026, 11, 22))
    assert last.since.weekday() == 0 and last.until.weekday() == 6


@pytest.mark.parametrize(
    ("today", "name", "since", "until"),
    [
        (date(2026, 1, 15), "last_month", date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), "yesterday", date(2025, 12, 31), date(2025, 12, 31)),
        (date(2026, 2, 10), "last_quarter", date(2025, 10, 1), date(2025, 12, 31)),
        (date(2026, 3, 31), "this_quarter", date(2026, 1, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), "this_quarter", date(2026, 4, 1), date(2026, 4, 1)),
        (date(2024, 3, 15), "last_month", date(2024, 2, 1), date(2024, 2, 29)),  # leap year
        (date(2026, 3, 31), "last_month", date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), "last_30_days", date(2026, 1, 31), date(2026, 3, 1)),
        (date(2026, 1, 2), "last_week", date(2025, 12, 22), date(2025, 12, 28)),
    ],
)
def test_periods_across_month_quarter_and_year_boundaries(
    today: date, name: str, since: date, until: date
) -> None:
    period = resolve_period(name, today)
    assert (period.since, period.until) == (since, until)


# --- the as-of rule --------------------------------------------------------------------------


def test_stale_data_moves_the_as_of_day_back() -> None:
    period = resolve_period("last_month", date(2026, 12, 2), last_data_day=date(2026, 11, 27))
    assert period.as_of == date(2026, 11, 27)
    assert (period.since, period.until) == (date(2026, 10, 1), date(2026, 10, 31))
    # today/yesterday: at most the day after the last charge day (bills land a day late)
    today = resolve_period("today", date(2026, 12, 2), last_data_day=date(2026, 11, 27))
    assert (today.since, today.until) == (date(2026, 11, 28), date(2026, 11, 28))
    yesterday = resolve_period("yesterday", date(2026, 11, 28), last_data_day=date(2026, 11, 27))
    assert (yesterday.since, yesterday.until) == (date(2026, 11, 27), date(2026, 11, 27))
    stale = resolve_period("yesterday", date(2027, 3, 1), last_data_day=date(2026, 11, 27))
    assert (stale.since, stale.until) == (date(2026, 11, 27), date(2026, 11, 27))


def test_data_later_than_today_does_not_move_the_as_of_day_forward() -> None:
    period = resolve_period("this_month", SAT, last_data_day=date(2026, 12, 5))
    assert period.as_of == SAT
    assert (period.since, period.until) == (date(2026, 11, 1), SAT)


def test_no_data_day_means_today() -> None:
    assert resolve_period("this_week", SAT, last_data_day=None).as_of == SAT
    assert resolve_period("this_week", SAT, last_data_day=SAT).as_of == SAT


# --- explicit months ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "since", "until"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 10, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-04", date(2026, 4, 1), date(2026, 4, 30)),
    ],
)
def test_explicit_month(name: str, since: date, until: date) -> None:
    period = resolve_period(name, SAT, last_data_day=date(2026, 11, 20))
    assert period == Period(label=name, since=since, until=until, as_of=date(2026, 11, 20))


def test_explicit_month_is_the_whole_month_even_when_it_is_not_over() -> None:
    period = resolve_period("2026-11", SAT)
    assert (period.since, period.until) == (date(2026, 11, 1), date(2026, 11, 30))


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["2026-13", "2026-00"])
def test_impossible_month_is_refused(name: str) -> None:
    with pytest.raises(QueryError, match=f"period '{name}' is not a valid month"):
        resolve_period(name, SAT)


@pytest.mark.parametrize(
    "name",
    [
        "last_fortnight",
        "last month",
        "Last_Month",
        "",
        "2026-1",
        "2026-10-01",
        "2026-10-01..2026-10-31",  # explicit ranges are not a period name
        "2026-Q3",
    ],
)
def test_unknown_period_names_the_valid_ones(name: str) -> None:
    with pytest.raises(QueryError) as info:
        resolve_period(name, SAT)
    message = str(info.value)
    assert message.startswith(f"unknown period {name!r}; use YYYY-MM or one of ")
    for valid in PERIOD_NAMES:
        assert valid in message
