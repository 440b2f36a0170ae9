"""Time as people say it (`tools.timephrases`): every phrase form resolves against the data's
as-of day, states its assumptions, reports what it cannot resolve, and ignores what is not a
period. Two data sets: 2018 bills (Oct-Dec 2018, as of Monday 2018-12-31) and 2026 bills
(Jan 2025-Nov 2026, as of Friday 2026-11-27)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.timephrases import (
    TimeParse,
    TimeSpan,
    default_span,
    parse_time,
    previous_span,
    same_period_last_year,
)

D = date.fromisoformat
A18 = D("2018-12-31")  # a Monday
M18 = [D("2018-10-01"), D("2018-11-01"), D("2018-12-01")]
A26 = D("2026-11-27")  # a Friday
M26 = [date(y, m, 1) for y in (2025, 2026) for m in range(1, 13) if date(y, m, 1) <= A26]
DATA = {"18": (A18, M18), "26": (A26, M26)}
FISCAL = "fiscal year not configured"


def parse(which: str, text: str, **kw: object) -> TimeParse:
    as_of, months = DATA[which]
    return parse_time(text, as_of, months, **kw)  # type: ignore[arg-type]


def only_span(result: TimeParse) -> TimeSpan:
    assert not result.problems, result.problems
    assert len(result.spans) == 1, result.spans
    return result.spans[0]


# (data, text, phrase, since, until, kind, label)
SPANS: list[tuple[str, str, str, str, str, str, str]] = [
    # --- ISO and written-out days
    ("18", "What did we spend on EC2 between 2018-11-10 and 2018-11-20?",
     "between 2018-11-10 and 2018-11-20", "2018-11-10", "2018-11-20", "range",
     "2018-11-10..2018-11-20"),
    ("18", "What did we spend on 2018-11-15?", "2018-11-15", "2018-11-15", "2018-11-15", "day",
     "2018-11-15"),
    ("18", "spend on 2018/11/15", "2018/11/15", "2018-11-15", "2018-11-15", "day", "2018-11-15"),
    ("18", "spend on 2018.11.15", "2018.11.15", "2018-11-15", "2018-11-15", "day", "2018-11-15"),
    ("18", "spend on 15 Nov 2018", "15 Nov 2018", "2018-11-15", "2018-11-15", "day",
     "2018-11-15"),
    ("18", "spend on Nov 15, 2018", "Nov 15, 2018", "2018-11-15", "2018-11-15", "day",
     "2018-11-15"),
    ("18", "spend on Nov. 15, 2018", "Nov. 15, 2018", "2018-11-15", "2018-11-15", "day",
     "2018-11-15"),
    ("18", "spend on November 15th 2018", "November 15th 2018", "2018-11-15", "2018-11-15",
     "day", "2018-11-15"),
    ("18", "spend on the 15th of November 2018", "15th of November 2018", "2018-11-15",
     "2018-11-15", "day", "2018-11-15"),
    ("18", "spend on 15-Nov-2018", "15-Nov-2018", "2018-11-15", "2018-11-15", "day",
     "2018-11-15"),
    ("18", "spend on 11/15/2018", "11/15/2018", "2018-11-15", "2018-11-15", "day", "2018-11-15"),
    ("18", "spend on 15/11/2018", "15/11/2018", "2018-11-15", "2018-11-15", "day", "2018-11-15"),
    ("18", "spend on 15.11.2018", "15.11.2018", "2018-11-15", "2018-11-15", "day", "2018-11-15"),
    ("18", "spend on 05/05/2018", "05/05/2018", "2018-05-05", "2018-05-05", "day", "2018-05-05"),
    ("18", "spend on Nov 15", "Nov 15", "2018-11-15", "2018-11-15", "day", "2018-11-15"),
    ("26", "spend on May 3", "May 3", "2026-05-03", "2026-05-03", "day", "2026-05-03"),
    ("26", "spend on the 3rd of May", "3rd of May", "2026-05-03", "2026-05-03", "day",
     "2026-05-03"),
    ("26", "what did we spend on the 15th?", "the 15th", "2026-11-15", "2026-11-15", "day",
     "2026-11-15"),
    ("26", "the 15th of last month", "the 15th of last month", "2026-10-15", "2026-10-15",
     "day", "2026-10-15"),
    # --- months
    ("18", "What did we spend on EC2 in November 2018?", "November 2018", "2018-11-01",
     "2018-11-30", "month", "November 2018"),
    ("18", "in Nov 2018", "Nov 2018", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "in Nov. 2018", "Nov. 2018", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "in Nov-2018", "Nov-2018", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "in November of 2018", "November of 2018", "2018-11-01", "2018-11-30", "month",
     "November 2018"),
    ("18", "in 2018-11", "2018-11", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "in 2018/11", "2018/11", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "in 11/2018", "11/2018", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "in November", "November", "2018-11-01", "2018-11-30", "month", "November 2018"),
    ("18", "What did EC2 cost in Nov?", "Nov", "2018-11-01", "2018-11-30", "month",
     "November 2018"),
    ("26", "in November", "November", "2026-11-01", "2026-11-30", "month", "November 2026"),
    ("26", "in December", "December", "2025-12-01", "2025-12-31", "month", "December 2025"),
    ("26", "in May", "May", "2026-05-01", "2026-05-31", "month", "May 2026"),
    ("26", "for March", "March", "2026-03-01", "2026-03-31", "month", "March 2026"),
    ("26", "during sep", "sep", "2026-09-01", "2026-09-30", "month", "September 2026"),
    ("26", "May 2026 by service", "May 2026", "2026-05-01", "2026-05-31", "month", "May 2026"),
    ("26", "what did we spend this May?", "this May", "2026-05-01", "2026-05-31", "month",
     "May 2026"),
    ("26", "last November", "last November", "2025-11-01", "2025-11-30", "month",
     "November 2025"),
    ("26", "last October", "last October", "2026-10-01", "2026-10-31", "month", "October 2026"),
    ("26", "November last year", "November last year", "2025-11-01", "2025-11-30", "month",
     "November 2025"),
    ("26", "How much did the account granite-prod cost in October 2026?", "October 2026",
     "2026-10-01", "2026-10-31", "month", "October 2026"),
    # --- ranges
    ("18", "from 2018-11-10 to 2018-11-20", "from 2018-11-10 to 2018-11-20", "2018-11-10",
     "2018-11-20", "range", "2018-11-10..2018-11-20"),
    ("18", "from 2018-11-10 through 2018-11-20", "from 2018-11-10 through 2018-11-20",
     "2018-11-10", "2018-11-20", "range", "2018-11-10..2018-11-20"),
    ("18", "from 2018-11-10 until 2018-11-20", "from 2018-11-10 until 2018-11-20",
     "2018-11-10", "2018-11-20", "range", "2018-11-10..2018-11-20"),
    ("18", "spend 2018-11-10 to 2018-11-20", "2018-11-10 to 2018-11-20", "2018-11-10",
     "2018-11-20", "range", "2018-11-10..2018-11-20"),
    ("18", "spend 2018-11-10 - 2018-11-20", "2018-11-10 - 2018-11-20", "2018-11-10",
     "2018-11-20", "range", "2018-11-10..2018-11-20"),
    ("18", "spend 2018-11-10–2018-11-20", "2018-11-10–2018-11-20", "2018-11-10", "2018-11-20",
     "range", "2018-11-10..2018-11-20"),
    ("18", "spend 2018-11-10..2018-11-20", "2018-11-10..2018-11-20", "2018-11-10",
     "2018-11-20", "range", "2018-11-10..2018-11-20"),
    ("18", "Nov to Dec", "Nov to Dec", "2018-11-01", "2018-12-31", "range",
     "November 2018..December 2018"),
    ("18", "Nov 2018 to Jan 2019", "Nov 2018 to Jan 2019", "2018-11-01", "2019-01-31", "range",
     "November 2018..January 2019"),
    ("18", "Nov 2018 - Jan 2019", "Nov 2018 - Jan 2019", "2018-11-01", "2019-01-31", "range",
     "November 2018..January 2019"),
    ("18", "Nov 2018 to Jan", "Nov 2018 to Jan", "2018-11-01", "2019-01-31", "range",
     "November 2018..January 2019"),
    ("26", "from September to November 2026", "from September to November 2026", "2026-09-01",
     "2026-11-30", "range", "September 2026..November 2026"),
    ("26", "September through November", "September through November", "2026-09-01",
     "2026-11-30", "range", "September 2026..November 2026"),
    ("26", "between March and May", "between March and May", "2026-03-01", "2026-05-31",
     "range", "March 2026..May 2026"),
    ("26", "Nov 2025 through Feb 2026", "Nov 2025 through Feb 2026", "2025-11-01",
     "2026-02-28", "range", "November 2025..February 2026"),
    ("26", "Dec 20 to Jan 5", "Dec 20 to Jan 5", "2025-12-20", "2026-01-05", "range",
     "2025-12-20..2026-01-05"),
    ("26", "November 3rd to December 2nd 2025", "November 3rd to December 2nd 2025",
     "2025-11-03", "2025-12-02", "range", "2025-11-03..2025-12-02"),
    ("18", "Nov 10-20", "Nov 10-20", "2018-11-10", "2018-11-20", "range",
     "2018-11-10..2018-11-20"),
    ("18", "Nov 10 to Nov 20", "Nov 10 to Nov 20", "2018-11-10", "2018-11-20", "range",
     "2018-11-10..2018-11-20"),
    ("18", "10-20 Nov 2018", "10-20 Nov 2018", "2018-11-10", "2018-11-20", "range",
     "2018-11-10..2018-11-20"),
    ("18", "between Nov 10 and 20", "between Nov 10 and 20", "2018-11-10", "2018-11-20",
     "range", "2018-11-10..2018-11-20"),
    ("18", "between the 10th and the 20th of November",
     "between the 10th and the 20th of November", "2018-11-10", "2018-11-20", "range",
     "2018-11-10..2018-11-20"),
    ("26", "Q3 to Q4 2026", "Q3 to Q4 2026", "2026-07-01", "2026-12-31", "range",
     "Q3 2026..Q4 2026"),
    ("26", "between 2024 and 2025", "between 2024 and 2025", "2024-01-01", "2025-12-31",
     "range", "2024..2025"),
    ("26", "over 2024-2025", "2024-2025", "2024-01-01", "2025-12-31", "range", "2024..2025"),
    ("26", "from last month to this month", "from last month to this month", "2026-10-01",
     "2026-11-27", "range", "2026-10-01..2026-11-27"),
    ("26", "Monday to Wednesday", "Monday to Wednesday", "2026-11-23", "2026-11-25", "range",
     "2026-11-23..2026-11-25"),
    ("18", "since November", "since November", "2018-11-01", "2018-12-31", "range",
     "since November 2018 (2018-11-01..2018-12-31)"),
    ("18", "since 2018-12-15", "since 2018-12-15", "2018-12-15", "2018-12-31", "range",
     "since 2018-12-15 (2018-12-15..2018-12-31)"),
    ("26", "since last month", "since last month", "2026-10-01", "2026-11-27", "range",
     "since last month (2026-10-01..2026-11-27)"),
    ("26", "since Monday", "since Monday", "2026-11-23", "2026-11-27", "range",
     "since Monday (2026-11-23..2026-11-27)"),
    ("26", "after 2026-11-20", "after 2026-11-20", "2026-11-21", "2026-11-27", "range",
     "after 2026-11-20 (2026-11-21..2026-11-27)"),
    ("26", "from November onwards", "from November onwards", "2026-11-01", "2026-11-27",
     "range", "since November 2026 (2026-11-01..2026-11-27)"),
    ("26", "October 2026 onwards", "October 2026 onwards", "2026-10-01", "2026-11-27", "range",
     "since October 2026 (2026-10-01..2026-11-27)"),
    # --- quarters and halves
    ("26", "What did we spend in Q3 2026?", "Q3 2026", "2026-07-01", "2026-09-30", "quarter",
     "Q3 2026"),
    ("26", "in Q3", "Q3", "2026-07-01", "2026-09-30", "quarter", "Q3 2026"),
    ("26", "in 2026 Q2", "2026 Q2", "2026-04-01", "2026-06-30", "quarter", "Q2 2026"),
    ("26", "in 2026-Q2", "2026-Q2", "2026-04-01", "2026-06-30", "quarter", "Q2 2026"),
    ("26", "in Q2-2026", "Q2-2026", "2026-04-01", "2026-06-30", "quarter", "Q2 2026"),
    ("26", "in the third quarter of 2025", "third quarter of 2025", "2025-07-01", "2025-09-30",
     "quarter", "Q3 2025"),
    ("26", "in the third quarter", "third quarter", "2026-07-01", "2026-09-30", "quarter",
     "Q3 2026"),
    ("26", "2nd quarter of last year", "2nd quarter of last year", "2025-04-01", "2025-06-30",
     "quarter", "Q2 2025"),
    ("26", "Q3 last year", "Q3 last year", "2025-07-01", "2025-09-30", "quarter", "Q3 2025"),
    ("26", "this quarter", "this quarter", "2026-10-01", "2026-11-27", "to_date",
     "this quarter (2026-10-01..2026-11-27)"),
    ("26", "last quarter", "last quarter", "2026-07-01", "2026-09-30", "quarter",
     "last quarter (Q3 2026)"),
    ("26", "the previous quarter", "previous quarter", "2026-07-01", "2026-09-30", "quarter",
     "previous quarter (Q3 2026)"),
    ("26", "QTD", "QTD", "2026-10-01", "2026-11-27", "to_date",
     "quarter to date (2026-10-01..2026-11-27)"),
    ("18", "last quarter", "last quarter", "2018-07-01", "2018-09-30", "quarter",
     "last quarter (Q3 2018)"),
    ("26", "in H1 2026", "H1 2026", "2026-01-01", "2026-06-30", "half", "H1 2026"),
    ("26", "in 2025 H2", "2025 H2", "2025-07-01", "2025-12-31", "half", "H2 2025"),
    ("26", "in H1", "H1", "2026-01-01", "2026-06-30", "half", "H1 2026"),
    ("26", "first half of 2026", "first half of 2026", "2026-01-01", "2026-06-30", "half",
     "H1 2026"),
    ("26", "the second half of last year", "second half of last year", "2025-07-01",
     "2025-12-31", "half", "H2 2025"),
    ("18", "H2 2018", "H2 2018", "2018-07-01", "2018-12-31", "half", "H2 2018"),
    # --- years
    ("18", "in 2018", "2018", "2018-01-01", "2018-12-31", "year", "2018"),
    ("26", "during 2025", "2025", "2025-01-01", "2025-12-31", "year", "2025"),
    ("26", "for 2025 by service", "2025", "2025-01-01", "2025-12-31", "year", "2025"),
    ("26", "CY2025", "CY2025", "2025-01-01", "2025-12-31", "year", "2025"),
    ("26", "calendar year 2025", "calendar year 2025", "2025-01-01", "2025-12-31", "year",
     "2025"),
    ("26", "this year", "this year", "2026-01-01", "2026-11-27", "to_date",
     "this year (2026-01-01..2026-11-27)"),
    ("26", "YTD", "YTD", "2026-01-01", "2026-11-27", "to_date",
     "year to date (2026-01-01..2026-11-27)"),
    ("26", "year-to-date", "year-to-date", "2026-01-01", "2026-11-27", "to_date",
     "year to date (2026-01-01..2026-11-27)"),
    ("26", "last year", "last year", "2025-01-01", "2025-12-31", "year", "last year (2025)"),
    ("18", "last year", "last year", "2017-01-01", "2017-12-31", "year", "last year (2017)"),
    # --- months and weeks relative to the as-of day
    ("26", "MTD", "MTD", "2026-11-01", "2026-11-27", "to_date",
     "month to date (2026-11-01..2026-11-27)"),
    ("26", "month to date", "month to date", "2026-11-01", "2026-11-27", "to_date",
     "month to date (2026-11-01..2026-11-27)"),
    ("26", "this month", "this month", "2026-11-01", "2026-11-27", "to_date",
     "this month (2026-11-01..2026-11-27)"),
    ("26", "What did team cobalt spend last month?", "last month", "2026-10-01", "2026-10-31",
     "month", "last month (October 2026)"),
    ("26", "previous month", "previous month", "2026-10-01", "2026-10-31", "month",
     "previous month (October 2026)"),
    ("18", "this month", "this month", "2018-12-01", "2018-12-31", "to_date",
     "this month (2018-12-01..2018-12-31)"),
    ("18", "last month", "last month", "2018-11-01", "2018-11-30", "month",
     "last month (November 2018)"),
    ("26", "this week", "this week", "2026-11-23", "2026-11-27", "to_date",
     "this week (2026-11-23..2026-11-27)"),
    ("26", "WTD", "WTD", "2026-11-23", "2026-11-27", "to_date",
     "week to date (2026-11-23..2026-11-27)"),
    ("26", "last week", "last week", "2026-11-16", "2026-11-22", "relative",
     "last week (2026-11-16..2026-11-22)"),
    ("18", "this week", "this week", "2018-12-31", "2018-12-31", "to_date",
     "this week (2018-12-31)"),
    ("18", "last week", "last week", "2018-12-24", "2018-12-30", "relative",
     "last week (2018-12-24..2018-12-30)"),
    # --- rolling windows
    ("26", "last 14 days", "last 14 days", "2026-11-14", "2026-11-27", "relative",
     "last 14 days (2026-11-14..2026-11-27)"),
    ("26", "over the last 2 weeks", "last 2 weeks", "2026-11-14", "2026-11-27", "relative",
     "last 2 weeks (2026-11-14..2026-11-27)"),
    ("26", "past two weeks", "past two weeks", "2026-11-14", "2026-11-27", "relative",
     "past 2 weeks (2026-11-14..2026-11-27)"),
    ("26", "last 30 days", "last 30 days", "2026-10-29", "2026-11-27", "relative",
     "last 30 days (2026-10-29..2026-11-27)"),
    ("26", "last 30d", "last 30d", "2026-10-29", "2026-11-27", "relative",
     "last 30 days (2026-10-29..2026-11-27)"),
    ("26", "previous forty-five days", "previous forty-five days", "2026-10-14", "2026-11-27",
     "relative", "previous 45 days (2026-10-14..2026-11-27)"),
    ("26", "trailing 90 days", "trailing 90 days", "2026-08-30", "2026-11-27", "relative",
     "trailing 90 days (2026-08-30..2026-11-27)"),
    ("18", "last ninety days", "last ninety days", "2018-10-03", "2018-12-31", "relative",
     "last 90 days (2018-10-03..2018-12-31)"),
    ("18", "last 3 months", "last 3 months", "2018-10-01", "2018-12-31", "relative",
     "last 3 months (2018-10-01..2018-12-31)"),
    ("26", "last 12 months", "last 12 months", "2025-11-28", "2026-11-27", "relative",
     "last 12 months (2025-11-28..2026-11-27)"),
    ("26", "past week", "past week", "2026-11-21", "2026-11-27", "relative",
     "past week (2026-11-21..2026-11-27)"),
    ("26", "in the last month", "last month", "2026-10-28", "2026-11-27", "relative",
     "the last month (2026-10-28..2026-11-27)"),
    # --- days
    ("26", "yesterday", "yesterday", "2026-11-26", "2026-11-26", "day",
     "yesterday (2026-11-26)"),
    ("26", "today", "today", "2026-11-27", "2026-11-27", "day", "today (2026-11-27)"),
    ("26", "the day before yesterday", "the day before yesterday", "2026-11-25", "2026-11-25",
     "day", "day before yesterday (2026-11-25)"),
    ("26", "3 days ago", "3 days ago", "2026-11-24", "2026-11-24", "day",
     "3 days ago (2026-11-24)"),
    ("26", "on Monday", "Monday", "2026-11-23", "2026-11-23", "day", "Monday (2026-11-23)"),
    ("26", "on Friday", "Friday", "2026-11-27", "2026-11-27", "day", "Friday (2026-11-27)"),
    ("26", "last Friday", "last Friday", "2026-11-20", "2026-11-20", "day",
     "last Friday (2026-11-20)"),
    ("26", "last Tuesday", "last Tuesday", "2026-11-24", "2026-11-24", "day",
     "last Tuesday (2026-11-24)"),
    ("26", "this Monday", "this Monday", "2026-11-23", "2026-11-23", "day",
     "this Monday (2026-11-23)"),
    ("18", "last Tuesday", "last Tuesday", "2018-12-25", "2018-12-25", "day",
     "last Tuesday (2018-12-25)"),
    ("18", "last Monday", "last Monday", "2018-12-24", "2018-12-24", "day",
     "last Monday (2018-12-24)"),
    ("18", "yesterday", "yesterday", "2018-12-30", "2018-12-30", "day",
     "yesterday (2018-12-30)"),
    ("26", "last weekend", "last weekend", "2026-11-21", "2026-11-22", "relative",
     "last weekend (2026-11-21..2026-11-22)"),
    ("18", "over the weekend", "the weekend", "2018-12-29", "2018-12-30", "relative",
     "the weekend (2018-12-29..2018-12-30)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("which", "text", "phrase", "since", "until", "kind", "label"),
    SPANS,
    ids=[f"{c[0]}:{c[1]}" for c in SPANS],
)
def test_phrase_resolves_to_one_span(
    which: str, text: str, phrase: str, since: str, until: str, kind: str, label: str
) -> None:
    span = only_span(parse(which, text))
    assert text[span.start : span.end] == phrase
    assert (span.since, span.until) == (D(since), D(until))
    assert (span.kind, span.label) == (kind, label)


@pytest.mark.parametrize(("which", "text", "phrase"), [c[:3] for c in SPANS[::3]])
def test_the_same_phrase_inside_a_longer_question_keeps_its_offsets(
    which: str, text: str, phrase: str
) -> None:
    bare = only_span(parse(which, text))
    question = f"Hi team - what did AWS EC2 cost us, {text}, by service and region?"
    span = only_span(parse(which, question))
    assert question[span.start : span.end] == phrase
    assert (span.since, span.until, span.label, span.note) == (
        bare.since,
        bare.until,
        bare.label,
        bare.note,
    )


# (data, text, exact note)
NOTES: list[tuple[str, str, str | None]] = [
    ("18", "in November", "no year given: November 2018, the latest November with data"),
    ("26", "in November",
     "no year given: November 2026, the latest November with data; data only through 2026-11-27"),
    ("26", "in December", "no year given: December 2025, the latest December with data"),
    ("18", "in Q3",
     "no year given: Q3 2018, the latest Q3 up to 2018-12-31; no data in this period"),
    ("26", "in Q3", "no year given: Q3 2026, the latest Q3 with data"),
    ("18", "Nov to Dec",
     "no year given: November 2018..December 2018, ending in the latest December with data"),
    ("18", "Nov 15", "no year given: 2018-11-15, the latest November 15 with data"),
    ("26", "on the 15th", "the 15th of the as-of month, November 2026"),
    ("26", "Q4 2026", "data only through 2026-11-27"),
    ("26", "in 2026", "data only through 2026-11-27"),
    ("26", "next month", "after the last day with data (2026-11-27)"),
    ("26", "tomorrow", "after the last day with data (2026-11-27)"),
    ("26", "in 2018", "no data in this period"),
    ("26", "last month", None),
    ("26", "this month", None),
    ("26", "November 2025", None),
    ("18", "from September to November 2018", None),
]  # fmt: skip


@pytest.mark.parametrize(("which", "text", "note"), NOTES)
def test_the_note_states_every_assumption(which: str, text: str, note: str | None) -> None:
    assert only_span(parse(which, text)).note == note


def test_without_months_with_data_the_latest_month_by_the_as_of_day_is_taken() -> None:
    span = only_span(parse_time("in December", A26))
    assert (span.since, span.label) == (D("2025-12-01"), "December 2025")
    assert span.note == "no year given: December 2025, the latest December up to 2026-11-27"
    span = only_span(parse_time("in November", A26))
    assert span.since == D("2026-11-01")


def test_a_month_without_data_this_year_falls_back_to_the_latest_with_data() -> None:
    months = [D("2024-03-01"), D("2025-01-01")]
    span = only_span(parse_time("in March", A26, months))
    assert span.label == "March 2024"
    assert span.note == "no year given: March 2024, the latest March with data"


# (data, text, phrase, message contains)
PROBLEMS: list[tuple[str, str, str, str]] = [
    ("26", "spend on February 30", "February 30", "February 30 is not a date"),
    ("26", "spend on Feb 30, 2026", "Feb 30, 2026", "February 30 is not a date"),
    ("26", "spend on 2026-02-30", "2026-02-30", "2026-02-30 is not a date"),
    ("26", "spend on Feb 29 2026", "Feb 29 2026", "February 29, 2026 is not a date"),
    ("26", "spend on 31/04/2026", "31/04/2026", "31/04/2026 is not a date"),
    ("26", "in 2026-13", "2026-13", "2026-13 is not a month (month 13)"),
    ("26", "in 13/2026", "13/2026", "13/2026 is not a month (month 13)"),
    ("26", "in Q5 2026", "Q5 2026", "Q5 is not a quarter (Q1-Q4)"),
    ("26", "in Q0", "Q0", "Q0 is not a quarter"),
    ("26", "in H3", "H3", "H3 is not a half-year (H1, H2)"),
    ("18", "from 2018-11-20 to 2018-11-10", "from 2018-11-20 to 2018-11-10",
     "the range ends (2018-11-10) before it starts (2018-11-20)"),
    ("18", "Nov 20 to Nov 10", "Nov 20 to Nov 10", "the range ends (2018-11-10) before it starts"),
    ("26", "between 2026-02-30 and 2026-03-05", "between 2026-02-30 and 2026-03-05",
     "2026-02-30 is not a date"),
    ("26", "spend on 03/04/2026", "03/04/2026",
     "03/04/2026 is ambiguous: March 4 or April 3, 2026? write 2026-03-04 or 2026-04-03"),
    ("26", "spend on 1.2.2026", "1.2.2026", "is ambiguous: January 2 or February 1, 2026"),
    ("26", "on the 28th", "the 28th",
     "the 28th of November 2026 is after the last day with data (2026-11-27): say which month"),
    ("26", "on the 31st", "the 31st", "November 2026 has no 31st: say which month"),
    ("26", "in fiscal year 2026", "fiscal year 2026", FISCAL),
    ("26", "in FY26", "FY26", FISCAL),
    ("26", "in FY2026", "FY2026", FISCAL),
    ("26", "for Q3 FY26", "Q3 FY26", FISCAL),
    ("26", "fiscal Q2 spend", "fiscal Q2", FISCAL),
    ("26", "FYTD", "FYTD", FISCAL),
    ("26", "in 2025-26", "2025-26", "looks like a fiscal year"),
    ("26", "in early November", "early November", "is not an exact period"),
    ("26", "by mid-2026", "mid-2026", "is not an exact period"),
    ("26", "at the end of last month", "end of last month", "is not an exact period"),
    ("26", "the last week of November", "the last week of November", "is not an exact period"),
    ("26", "the first half of November", "the first half of November", "is not an exact period"),
    ("26", "the week of Nov 10", "week of Nov 10", "is not an exact period"),
    ("26", "late Q3", "late Q3", "is not an exact period"),
    ("26", "the past few days", "the past few days", "does not say how many"),
    ("26", "the last couple of weeks", "the last couple of weeks", "does not say how many"),
    ("26", "this weekend", "this weekend", "is unclear on a Friday"),
    ("26", "until November", "until November", "needs the first day with data"),
    ("26", "before October 2026", "before October 2026", "needs the first day with data"),
    ("26", "last 0 days", "last 0 days", "is an empty window"),
    ("26", "last 99999 years", "last 99999 years", "is longer than"),
    ("26", "since next month", "since next month", "starts after the last day with data"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("which", "text", "phrase", "message"), PROBLEMS, ids=[f"{c[0]}:{c[1]}" for c in PROBLEMS]
)
def test_a_period_that_cannot_be_resolved_is_a_problem(
    which: str, text: str, phrase: str, message: str
) -> None:
    result = parse(which, text)
    assert not result.spans, result.spans
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert (problem.phrase, text[problem.start : problem.end]) == (phrase, phrase)
    assert message in problem.message


NOT_PERIODS = [
    "What may have caused the spike?",
    "costs march on",
    "this may be wrong",
    "USD 2018 in fees",
    "top 2018 services",
    "We have 2000 instances",
    "in 2000 instances",
    "costs of $2018, 2018% and 2,018.50",
    "in the spring",
    "recently and lately",
    "What did we spend on EC2?",
    "what is the 2nd largest service?",
    "on the 2nd largest account",
    "run on the 2nd of every month",
    "Jan's team",
    "the market share",
    "decrease in spend",
    "H100 GPUs and Q10 results",
    "fiscal responsibility",
    "AWS vs Azure",
    "the spring and the summer",
    "a couple of weeks ago",
    "wow that's high",
    "the first half of the budget",
    "the apr is high",
    "sep by service",
    "m5.2xlarge in us-east-1",
    "version 1.2.3",
    "last mile costs",
]


@pytest.mark.parametrize("text", NOT_PERIODS)
def test_words_that_are_not_periods_are_left_alone(text: str) -> None:
    result = parse("26", text)
    assert (result.spans, result.problems, result.comparisons) == ([], [], [])


# (data, text, [(phrase, since, until)], [(comparison phrase, kind, unit)])
SEVERAL: list[tuple[str, str, list[tuple[str, str, str]], list[tuple[str, str, str | None]]]] = [
    ("26", "November vs October",
     [("November", "2026-11-01", "2026-11-30"), ("October", "2026-10-01", "2026-10-31")],
     [("vs", "versus", None)]),
    ("18", "November vs. October",
     [("November", "2018-11-01", "2018-11-30"), ("October", "2018-10-01", "2018-10-31")],
     [("vs.", "versus", None)]),
    ("26", "this month compared with last month",
     [("this month", "2026-11-01", "2026-11-27"), ("last month", "2026-10-01", "2026-10-31")],
     [("compared with", "versus", None)]),
    ("26", "how does spend compare to last month?",
     [("last month", "2026-10-01", "2026-10-31")], [("compare to", "versus", None)]),
    ("26", "versus the previous month", [("previous month", "2026-10-01", "2026-10-31")],
     [("versus", "versus", None)]),
    ("26", "compare Q2 and Q3",
     [("Q2", "2026-04-01", "2026-06-30"), ("Q3", "2026-07-01", "2026-09-30")],
     [("compare", "versus", None)]),
    ("26", "2025 vs 2026",
     [("2025", "2025-01-01", "2025-12-31"), ("2026", "2026-01-01", "2026-12-31")],
     [("vs", "versus", None)]),
    ("26", "Q3 2025 versus Q3 2026",
     [("Q3 2025", "2025-07-01", "2025-09-30"), ("Q3 2026", "2026-07-01", "2026-09-30")],
     [("versus", "versus", None)]),
    ("26", "in 2024 and 2025",
     [("2024", "2024-01-01", "2024-12-31"), ("2025", "2025-01-01", "2025-12-31")], []),
    ("26", "in March and May?",
     [("March", "2026-03-01", "2026-03-31"), ("May", "2026-05-01", "2026-05-31")], []),
    ("26", "in March and may have grown", [("March", "2026-03-01", "2026-03-31")], []),
    ("26", "month over month", [], [("month over month", "previous_period", "month")]),
    ("26", "MoM growth last month", [("last month", "2026-10-01", "2026-10-31")],
     [("MoM", "previous_period", "month")]),
    ("26", "week-over-week", [], [("week-over-week", "previous_period", "week")]),
    ("26", "WoW and QoQ", [],
     [("WoW", "previous_period", "week"), ("QoQ", "previous_period", "quarter")]),
    ("26", "YoY for Q3", [("Q3", "2026-07-01", "2026-09-30")], [("YoY", "year_ago", "year")]),
    ("26", "same month last year", [], [("same month last year", "year_ago", "month")]),
    ("26", "this quarter vs the same period last year",
     [("this quarter", "2026-10-01", "2026-11-27")],
     [("vs", "versus", None), ("same period last year", "year_ago", None)]),
    ("26", "yesterday and last Monday",
     [("yesterday", "2026-11-26", "2026-11-26"), ("last Monday", "2026-11-23", "2026-11-23")],
     []),
]  # fmt: skip


@pytest.mark.parametrize(("which", "text", "spans", "comparisons"), SEVERAL)
def test_comparisons_and_lists_yield_every_stated_span(
    which: str,
    text: str,
    spans: list[tuple[str, str, str]],
    comparisons: list[tuple[str, str, str | None]],
) -> None:
    result = parse(which, text)
    assert not result.problems
    got = [(text[s.start : s.end], str(s.since), str(s.until)) for s in result.spans]
    assert got == spans
    assert [(c.phrase, c.kind, c.unit) for c in result.comparisons] == comparisons
    assert all(text[c.start : c.end] == c.phrase for c in result.comparisons)


def test_until_and_before_start_on_the_first_day_with_data() -> None:
    first = D("2018-10-01")
    span = only_span(parse("18", "until November", first_day=first))
    assert (span.since, span.until) == (first, D("2018-11-30"))
    assert span.label == "through November 2018 (2018-10-01..2018-11-30)"
    span = only_span(parse("18", "spend before December 2018", first_day=first))
    assert (span.since, span.until, span.label) == (
        first,
        D("2018-11-30"),
        "before December 2018 (2018-10-01..2018-11-30)",
    )
    span = only_span(parse("18", "up to 2018-11-15", first_day=first))
    assert (span.start, span.until) == (0, D("2018-11-15"))
    span = only_span(parse("18", "in 2017", first_day=first))
    assert span.note == "before the first day with data (2018-10-01)"


def test_today_follows_the_periods_module_when_the_calendar_day_is_given() -> None:
    # Asked on 2026-11-28 with bills through 2026-11-27: yesterday is the last bill day.
    assert only_span(parse("26", "yesterday", today=D("2026-11-28"))).since == D("2026-11-27")
    assert only_span(parse("26", "yesterday", today=D("2026-12-20"))).since == D("2026-11-27")
    assert only_span(parse("26", "yesterday", today=A26)).since == D("2026-11-26")
    assert only_span(parse("26", "today")).since == A26


def test_spans_and_problems_come_in_text_order_without_overlaps() -> None:
    text = "Q3 2026 vs Q5, then last month, 2026-02-30 and since 2026-11-01"
    result = parse("26", text)
    assert [text[s.start : s.end] for s in result.spans] == [
        "Q3 2026",
        "last month",
        "since 2026-11-01",
    ]
    assert [p.phrase for p in result.problems] == ["Q5", "2026-02-30"]


def test_upper_and_mixed_case() -> None:
    assert only_span(parse("18", "IN NOVEMBER 2018")).label == "November 2018"
    assert only_span(parse("26", "Last 30 Days")).since == D("2026-10-29")
    assert only_span(parse("26", "q3 2026")).label == "Q3 2026"


def _span(text: str, which: str = "26") -> TimeSpan:
    return only_span(parse(which, text))


@pytest.mark.parametrize(
    ("text", "since", "until", "label"),
    [
        ("October 2026", "2026-09-01", "2026-09-30", "September 2026"),
        ("January 2026", "2025-12-01", "2025-12-31", "December 2025"),
        ("this month", "2026-10-01", "2026-10-27",
         "2026-10-01..2026-10-27 (the same days of the previous month)"),
        ("YTD", "2025-01-01", "2025-11-27",
         "2025-01-01..2025-11-27 (the same days of the previous year)"),
        ("Q3 2026", "2026-04-01", "2026-06-30", "Q2 2026"),
        ("H1 2026", "2025-07-01", "2025-12-31", "H2 2025"),
        ("in 2026", "2025-01-01", "2025-12-31", "2025"),
        ("last week", "2026-11-09", "2026-11-15", "2026-11-09..2026-11-15"),
        ("yesterday", "2026-11-25", "2026-11-25", "2026-11-25"),
        ("last 14 days", "2026-10-31", "2026-11-13",
         "2026-10-31..2026-11-13 (the previous 14 days)"),
        ("September through November", "2026-06-01", "2026-08-31",
         "2026-06-01..2026-08-31 (the previous 3 months)"),
    ],
)  # fmt: skip
def test_previous_span(text: str, since: str, until: str, label: str) -> None:
    span = _span(text)
    prev = previous_span(span)
    assert (prev.since, prev.until, prev.label) == (D(since), D(until), label)
    assert (prev.start, prev.end) == (span.start, span.end)


def test_previous_span_of_month_to_date_clamps_to_the_shorter_month() -> None:
    span = only_span(parse_time("MTD", D("2026-03-30")))
    assert (previous_span(span).since, previous_span(span).until) == (
        D("2026-02-01"),
        D("2026-02-28"),
    )
    whole = only_span(parse_time("MTD", D("2026-03-31")))  # a whole month by now
    assert previous_span(whole).label == "February 2026"


@pytest.mark.parametrize(
    ("text", "since", "until", "label"),
    [
        ("November 2026", "2025-11-01", "2025-11-30", "November 2025"),
        ("February 2024", "2023-02-01", "2023-02-28", "February 2023"),
        ("this month", "2025-11-01", "2025-11-27", "2025-11-01..2025-11-27"),
        ("Q3 2026", "2025-07-01", "2025-09-30", "Q3 2025"),
    ],
)
def test_same_period_last_year(text: str, since: str, until: str, label: str) -> None:
    year_ago = same_period_last_year(_span(text))
    assert (year_ago.since, year_ago.until, year_ago.label) == (D(since), D(until), label)


def test_default_span_is_the_month_to_date_and_says_so() -> None:
    span = default_span(A26)
    assert (span.since, span.until, span.kind) == (D("2026-11-01"), A26, "to_date")
    assert span.note == "no period named: month to date (the default)"
    assert span.label == "month to date (2026-11-01..2026-11-27)"


# ---------------------------------------------------------------------------------------------
# Properties

MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
QUARTER_WORDS = ["first", "second", "third", "fourth"]
AS_OF = D("2100-12-31")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _day_forms(d: date) -> list[str]:
    name = MONTH_NAMES[d.month - 1]
    forms = [
        d.isoformat(),
        f"{d:%Y/%m/%d}",
        f"{d.day} {name[:3]} {d.year}",
        f"{name[:3]} {d.day}, {d.year}",
        f"{name} {_ordinal(d.day)} {d.year}",
        f"{_ordinal(d.day)} of {name} {d.year}",
        f"{d.day}-{name[:3]}-{d.year}",
    ]
    if d.day > 12:
        forms += [f"{d.month}/{d.day}/{d.year}", f"{d.day}/{d.month}/{d.year}"]
    return forms


QUESTION = st.sampled_from(
    [
        "{}",
        "What did we spend on EC2 on {}?",
        "How much did granite-prod cost in {} by service?",
        "Spend for {}, please.",
        "cost during {} (USD)",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dates(D("1990-01-01"), D("2100-12-31")), st.data(), QUESTION)
def test_any_day_in_any_format_is_recovered(d: date, data: st.DataObject, question: str) -> None:
    phrase = data.draw(st.sampled_from(_day_forms(d)))
    text = question.format(phrase)
    span = only_span(parse_time(text, AS_OF))
    assert (span.since, span.until, span.kind) == (d, d, "day")
    assert text[span.start : span.end] == phrase


@settings(max_examples=300, deadline=None)
@given(st.integers(1990, 2100), st.integers(1, 12), st.data(), QUESTION)
def test_any_month_in_any_format_is_recovered(
    year: int, month: int, data: st.DataObject, question: str
) -> None:
    first = date(year, month, 1)
    name = MONTH_NAMES[month - 1]
    phrase = data.draw(
        st.sampled_from(
            [f"{name} {year}", f"{name[:3]} {year}", f"{year}-{month:02d}", f"{month}/{year}",
             f"in {name}"]
        )
    )  # fmt: skip
    text = question.format(phrase)
    as_of = data.draw(st.dates(first, D("2100-12-31")))
    span = only_span(parse_time(text, as_of, [first]))
    nxt = date(year + month // 12, month % 12 + 1, 1)
    assert (span.since, span.until, span.kind) == (first, nxt - timedelta(days=1), "month")
    assert text[span.start : span.end] == phrase.removeprefix("in ")


@settings(max_examples=200, deadline=None)
@given(st.integers(1990, 2100), st.integers(1, 4), st.data(), QUESTION)
def test_any_quarter_in_any_format_is_recovered(
    year: int, quarter: int, data: st.DataObject, question: str
) -> None:
    first = date(year, 3 * quarter - 2, 1)
    phrase = data.draw(
        st.sampled_from(
            [f"Q{quarter} {year}", f"{year} Q{quarter}", f"{year}-Q{quarter}",
             f"{QUARTER_WORDS[quarter - 1]} quarter of {year}", f"Q{quarter}"]
        )
    )  # fmt: skip
    text = question.format(phrase)
    as_of = data.draw(st.dates(first, D("2100-12-31")))
    span = only_span(parse_time(text, as_of, [first]))
    last_month = date(year, 3 * quarter, 1)
    until = date(year + last_month.month // 12, last_month.month % 12 + 1, 1) - timedelta(days=1)
    assert (span.since, span.until, span.kind) == (first, until, "quarter")
    assert text[span.start : span.end] == phrase


@settings(max_examples=100, deadline=None)
@given(st.integers(1990, 2100), st.integers(1, 2), st.data())
def test_any_half_or_year_is_recovered(year: int, half: int, data: st.DataObject) -> None:
    phrase = data.draw(
        st.sampled_from([f"H{half} {year}", f"{['first', 'second'][half - 1]} half of {year}"])
    )
    span = only_span(parse_time(f"spend in {phrase}", AS_OF))
    assert (span.since, span.kind) == (date(year, 6 * half - 5, 1), "half")
    year_span = only_span(parse_time(f"spend during {year} by team", AS_OF))
    assert (year_span.since, year_span.until) == (date(year, 1, 1), date(year, 12, 31))


@settings(max_examples=200, deadline=None)
@given(st.dates(D("1990-01-01"), D("2100-12-31")), st.dates(D("1990-01-01"), D("2100-12-31")))
def test_any_range_of_two_days_is_recovered(a: date, b: date) -> None:
    low, high = min(a, b), max(a, b)
    for text in (f"between {low} and {high}", f"from {low} to {high}", f"{low} - {high}"):
        span = only_span(parse_time(f"What did we spend {text}?", AS_OF))
        assert (span.since, span.until) == (low, high)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.dates(D("1995-01-01"), D("2100-12-31")))
def test_last_n_days_ends_on_the_as_of_day(n: int, as_of: date) -> None:
    span = only_span(parse_time(f"spend over the last {n} days", as_of))
    assert (span.since, span.until) == (as_of - timedelta(days=n - 1), as_of)


_TOKEN_TEXT = (
    "in on the of between and to from since until through - – .. vs Q3 Q5 H1 H3 FY26 2018 "
    "2018-11-15 2018-02-30 2018-13 11/15/2018 03/04/2018 15.11.2018 November Nov May march "
    "may sep 15th 31st last past previous next this few 30 days weeks months quarter year "
    "MTD YTD WTD QTD yesterday today Monday weekend early mid- end week half first second "
    "onwards compared with MoM YoY same period , ? 0 99999999 9999-12-31 0001-01-01"
)
TOKENS = st.sampled_from(_TOKEN_TEXT.split())


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.text(max_size=200), st.lists(TOKENS, max_size=25).map(" ".join)),
    st.dates(D("0002-01-01"), D("9998-12-31")),
    st.lists(st.dates(D("0002-01-01"), D("9998-12-31")), max_size=5),
    st.one_of(st.none(), st.dates(D("0002-01-01"), D("9998-12-31"))),
)
def test_parse_never_raises_and_offsets_are_sound(
    text: str, as_of: date, months: list[date], first_day: date | None
) -> None:
    result = parse_time(text, as_of, months, first_day=first_day)
    found = sorted(
        [(s.start, s.end) for s in result.spans] + [(p.start, p.end) for p in result.problems]
    )
    for (start, end), nxt in zip(found, [*found[1:], (len(text), len(text))], strict=False):
        assert 0 <= start < end <= nxt[0] <= len(text)
    assert all(s.since <= s.until for s in result.spans)
    assert all(p.phrase == text[p.start : p.end] for p in result.problems)
    assert [s.start for s in result.spans] == sorted(s.start for s in result.spans)


# ---------------------------------------------------------------------------------------------
# Held-out: written last, expectations reasoned by hand, never tuned against.
# (data, question, [(since, until)], number of problems)
HELD_OUT: list[tuple[str, str, list[tuple[str, str]], int]] = [
    ("18", "How much did S3 cost us in Dec 2018 compared to Nov 2018?",
     [("2018-12-01", "2018-12-31"), ("2018-11-01", "2018-11-30")], 0),
    ("18", "EC2 spend for the week of Dec 10", [], 1),
    ("26", "spend between Oct 1 and Oct 15", [("2026-10-01", "2026-10-15")], 0),
    ("26", "What was RDS spend in the last seven days?", [("2026-11-21", "2026-11-27")], 0),
    ("26", "costs for Sept 2026", [("2026-09-01", "2026-09-30")], 0),
    ("26", "spend in August and September",
     [("2026-08-01", "2026-08-31"), ("2026-09-01", "2026-09-30")], 0),
    ("26", "What did we spend during Q1?", [("2026-01-01", "2026-03-31")], 0),
    ("26", "spend from Q1 through Q3 2026", [("2026-01-01", "2026-09-30")], 0),
    ("26", "show costs since 1 Oct 2026", [("2026-10-01", "2026-11-27")], 0),
    ("26", "how much on Thursday?", [("2026-11-26", "2026-11-26")], 0),
    ("26", "what did we spend last Saturday", [("2026-11-21", "2026-11-21")], 0),
    ("26", "spend in the previous 2 months", [("2026-09-28", "2026-11-27")], 0),
    ("26", "YTD spend vs last year",
     [("2026-01-01", "2026-11-27"), ("2025-01-01", "2025-12-31")], 0),
    ("26", "spend on 2026-11-31", [], 1),
    ("26", "spend in Q2 of 2025", [("2025-04-01", "2025-06-30")], 0),
    ("26", "Can you break down spend by team for October?", [("2026-10-01", "2026-10-31")], 0),
    ("26", "What may drive costs up in the next quarter?", [("2027-01-01", "2027-03-31")], 0),
    ("26", "what did we spend in the first quarter of 2026", [("2026-01-01", "2026-03-31")], 0),
    ("26", "AWS bill for 2025", [("2025-01-01", "2025-12-31")], 0),
    ("26", "spend 01/02/2026", [], 1),
    ("26", "spend 25/12/2025", [("2025-12-25", "2025-12-25")], 0),
    ("26", "How did November 2025 compare with November 2026?",
     [("2025-11-01", "2025-11-30"), ("2026-11-01", "2026-11-30")], 0),
    ("26", "march spend", [], 0),
    ("26", "spend from 2026-11-01 onward", [("2026-11-01", "2026-11-27")], 0),
    ("26", "costs in the past 3 weeks", [("2026-11-07", "2026-11-27")], 0),
    ("18", "What did we spend on Christmas Day?", [], 0),
    ("18", "spend on December 25th", [("2018-12-25", "2018-12-25")], 0),
    ("26", "compare last month to the month before", [("2026-10-01", "2026-10-31")], 0),
    ("26", "spend in H2", [("2026-07-01", "2026-12-31")], 0),
    ("26", "what did we spend over the past 6 months by account",
     [("2026-05-28", "2026-11-27")], 0),
    ("18", "spend between 12/01/2018 and 12/15/2018", [("2018-12-01", "2018-12-15")], 0),
    ("26", "spend in late 2025", [], 1),
]  # fmt: skip


HELD_OUT_GAPS = {
    "spend between 12/01/2018 and 12/15/2018": (
        "first-run miss, left as found: the ambiguous end is a problem; the order could be "
        "taken from the other end (15 > 12 means month/day)"
    ),
}
"""Held-out cases that failed on their first run (31 of 32 passed), kept visible, not tuned."""


@pytest.mark.parametrize(
    ("which", "text", "spans", "problems"),
    [
        pytest.param(*case, marks=pytest.mark.xfail(strict=True, reason=HELD_OUT_GAPS[case[1]]))
        if case[1] in HELD_OUT_GAPS
        else case
        for case in HELD_OUT
    ],
)
def test_held_out(which: str, text: str, spans: list[tuple[str, str]], problems: int) -> None:
    result = parse(which, text)
    assert [(str(s.since), str(s.until)) for s in result.spans] == spans
    assert len(result.problems) == problems


def test_calendar_periods_count_from_the_day_asked_to_date_ends_on_the_data() -> None:
    """Asked on November 1st with bills through October 31st, "last month" is October and
    "this month" has no day with data yet; asked long after the bills stop, the periods are
    anchored on the day after the last data day (the stale warehouse is stated in the answer)."""
    fresh = {"as_of": date(2018, 10, 31), "today": date(2018, 11, 1)}
    (last,) = parse_time("spend last month", fresh["as_of"], today=fresh["today"]).spans
    assert (last.since, last.until) == (date(2018, 10, 1), date(2018, 10, 31))
    (this,) = parse_time("spend this month", fresh["as_of"], today=fresh["today"]).spans
    assert (this.since, this.until) == (date(2018, 11, 1), date(2018, 11, 1))
    (week,) = parse_time("last 7 days", fresh["as_of"], today=fresh["today"]).spans
    assert (week.since, week.until) == (date(2018, 10, 25), date(2018, 10, 31))
    stale = parse_time("this month", date(2026, 11, 27), today=date(2026, 12, 8)).spans[0]
    assert (stale.since, stale.until) == (date(2026, 11, 1), date(2026, 11, 27))


def test_last_n_complete_units_are_whole_calendar_units_before_the_current_one() -> None:
    (six,) = parse_time("the last six complete months", date(2026, 2, 17)).spans
    assert (six.since, six.until) == (date(2025, 8, 1), date(2026, 1, 31))
    (two,) = parse_time("past 2 full quarters", date(2026, 2, 17)).spans
    assert (two.since, two.until) == (date(2025, 7, 1), date(2025, 12, 31))
