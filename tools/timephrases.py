"""Time as people say it: the period phrases of a question → inclusive date spans, or problems.

Why: a figure is only trustworthy when its period is the one the person meant, and the answer
says how it read it. This parser is pure and deterministic: there is no clock. Everything
relative ("last month", "yesterday", "the last 14 days", a month without a year) is anchored on
`as_of`, the last day with data, and a month or quarter without a year is the most recent one that
has data (`months_with_data`), so "Nov to Dec" on 2018 bills means 2018, not the machine's year.

What it returns, per phrase, in text order:

- a `TimeSpan` (since..until inclusive, a short exact `label`, a `note` for any assumption the
  answer must state, the phrase's character offsets), or
- a `TimeProblem` when a phrase names a period that cannot be resolved (February 30, Q5, an
  ambiguous 03/04/2018, "early November", a fiscal year) — the caller asks instead of guessing.

Phrases it does not know ("in the spring", "recently") are neither: the caller sees those words
as not understood. Offsets cover the period words and the words that change their meaning
(between/from/since/until…); plain prepositions such as in/on/for/during are left out.

Conventions (shared with `tools.periods`): weeks start on Monday; "this month/quarter/year/week"
and MTD/QTD/YTD/WTD run to the as-of day; "last week/month/quarter/year" are the previous
calendar ones; "last/past N days|weeks|months" are rolling windows ending on the as-of day.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict

__all__ = [
    "SpanKind",
    "SpanUnit",
    "TimeComparison",
    "TimeParse",
    "TimeProblem",
    "TimeSpan",
    "add_months",
    "default_span",
    "parse_time",
    "previous_span",
    "same_period_last_year",
]

SpanKind = Literal["day", "range", "month", "quarter", "half", "year", "relative", "to_date"]
SpanUnit = Literal["day", "week", "month", "quarter", "half", "year"]
CompareUnit = Literal["day", "week", "month", "quarter", "year"]


class TimeSpan(BaseModel):
    """A period named in the text: inclusive dates, how it was understood, and where it was said.

    `unit` is the calendar unit the span is (or runs to date in): "October 2026" is a month,
    "this month" is a month to date, "last 14 days" has none. `previous_span` uses it.
    """

    model_config = ConfigDict(frozen=True)

    since: date
    until: date
    label: str
    note: str | None = None
    start: int
    end: int
    kind: SpanKind
    unit: SpanUnit | None = None


class TimeProblem(BaseModel):
    """A phrase that names a period but cannot be resolved: the caller asks, with `message`."""

    model_config = ConfigDict(frozen=True)

    phrase: str
    start: int
    end: int
    message: str


class TimeComparison(BaseModel):
    """A comparison word: "vs"/"compared with" (`versus`, between stated spans), "month over
    month" (`previous_period`: each span against `previous_span`) or "year over year" / "same
    period last year" (`year_ago`: against `same_period_last_year`)."""

    model_config = ConfigDict(frozen=True)

    phrase: str
    start: int
    end: int
    kind: Literal["versus", "previous_period", "year_ago"]
    unit: CompareUnit | None = None


class TimeParse(BaseModel):
    """Everything time-related found in one text, each list in text order."""

    model_config = ConfigDict(frozen=True)

    spans: list[TimeSpan]
    problems: list[TimeProblem]
    comparisons: list[TimeComparison] = []


# ---------------------------------------------------------------------------------------------
# Vocabulary (data, not logic)

MONTH_NAMES: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
WEEKDAY_NAMES: tuple[str, ...] = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)  # fmt: skip
MONTH_WORDS: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
WEAK_MONTH_WORDS = frozenset({"may", "march", "mar", "sep", "jan", "dec", "apr", "jun"})
"""Month words that are also ordinary words or names: a month only with a year, a day, a
context word before them (in, since, last…) or joined to another period ("March to May")."""

CONTEXT_WORDS = frozenset(
    {
        "in", "for", "during", "of", "since", "from", "until", "till", "til", "through", "thru",
        "between", "before", "after", "throughout", "within", "early", "late", "mid", "year",
    }
)  # fmt: skip
"""A bare year (or an ambiguous month word) right after one of these is a period."""

NUMBER_WORDS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
ORDINALS: dict[str, int] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
}  # fmt: skip
FISCAL_MESSAGE = (
    "fiscal year not configured: give calendar dates, a calendar quarter (e.g. Q3 2026) or a year"
)
MAX_WINDOW_DAYS = 36_600
"""Longest rolling window accepted ("last 100 years"); longer ones are a problem, not a crash."""

_FLAGS = re.IGNORECASE
_MON_ALT = "|".join(sorted(MONTH_WORDS, key=len, reverse=True))
_NUM_ALT = (
    r"(?:a\s+hundred|one\s+hundred|hundred|"
    r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
    r"(?:[\s-]+(?:one|two|three|four|five|six|seven|eight|nine)\b)?|"
    + "|".join(sorted((w for w in NUMBER_WORDS if NUMBER_WORDS[w] < 20), key=len, reverse=True))
    + ")"
)
_YEAR = r"(?:199\d|20\d\d|2100)(?![\w%]|[.,]\d)"
_YEAR_REF = rf"(?:{_YEAR}|(?:this|current|last|previous|prior|next)\s+year\b|the\s+year\b)"
_ORD = r"(?:st|nd|rd|th)"
_AMOUNT_AFTER = (
    r"(?!\s*(?:usd|eur|gbp|dollars?|euros?|instances?|hours?|hrs?|gb|tb|gib|tib|units?|tokens?"
    r"|requests?|vms?|nodes?|cores?|vcpus?|servers?|resources?|accounts?|services?|rows?|\$|%)\b)"
)


_NUM_START = r"(?<![\w/-])(?:(?<=\.\.)|(?<!\.))"
"""A number not glued to a word, slash, dash or single dot (but "..2018-11-20" is fine)."""


def _mon(group: str = "mon") -> str:
    """A month word as a named group; a dot after an abbreviation only before a digit."""
    return rf"\b(?P<{group}>{_MON_ALT})\b(?:\.(?=\s*\d))?"


# ---------------------------------------------------------------------------------------------
# Internal values


@dataclass(frozen=True)
class _Ctx:
    """What resolution is anchored on."""

    as_of: date
    months: frozenset[date]
    first_day: date | None
    anchor: date  # the day "today" means

    def has_data(self, since: date, until: date) -> bool:
        """Whether any month with data overlaps since..until."""
        low = since.replace(day=1)
        return any(low <= m <= until for m in self.months)


@dataclass(frozen=True)
class _Cal:
    """A calendar period whose year may be missing ("November", "Q3", "Nov 10-20")."""

    unit: Literal["day", "month", "quarter", "half", "year"]
    year: int | None
    index: int = 0  # month for day/month, quarter number, half number
    day: int = 0
    day_to: int = 0  # > 0: a day range inside the month


@dataclass(frozen=True)
class _Res:
    """A resolved period: `name` is its short label ("last month"), `label` the full one."""

    since: date
    until: date
    name: str
    label: str
    kind: SpanKind
    unit: SpanUnit | None = None
    note: str | None = None


@dataclass(frozen=True)
class _Weekday:
    """A weekday, resolved against the as-of day (or the end of the range it starts)."""

    weekday: int
    rel: str | None  # None, "last" or "this"


@dataclass(frozen=True)
class _Problem:
    message: str


@dataclass(frozen=True)
class _Marker:
    """A period-over-period word ("MoM", "same month last year"): not a span itself."""

    kind: Literal["previous_period", "year_ago"]
    unit: CompareUnit | None


_Payload = _Cal | _Res | _Weekday | _Problem | _Marker


@dataclass(frozen=True)
class _Item:
    start: int
    end: int
    payload: _Payload
    weak: bool = False


# ---------------------------------------------------------------------------------------------
# Date arithmetic


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def add_months(d: date, months: int) -> date:
    """`d` moved by whole months, the day clamped to the target month's length."""
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    day = min(d.day, calendar.monthrange(year, month0 + 1)[1])
    return date(year, month0 + 1, day)


def _month_label(d: date) -> str:
    """ "November 2018" (not strftime: that follows the process locale)."""
    return f"{MONTH_NAMES[d.month - 1]} {d.year}"


def _iso(since: date, until: date) -> str:
    return since.isoformat() if since == until else f"{since.isoformat()}..{until.isoformat()}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _number(word: str) -> int | None:
    """'14' / 'fourteen' / 'forty-five' / 'a hundred' → int."""
    word = re.sub(r"[\s-]+", " ", word.strip().lower())
    if word.isdigit():
        return int(word)
    if word.endswith("hundred"):
        return 100
    return sum(NUMBER_WORDS.get(part, 0) for part in word.split()) or None


def _year_ref(text: str, as_of: date) -> int:
    """'2026' / 'this year' / 'last year' / 'the year' → a year number."""
    text = text.lower()
    if text[:4].isdigit():
        return int(text[:4])
    if text.startswith(("last", "previous", "prior")):
        return as_of.year - 1
    if text.startswith("next"):
        return as_of.year + 1
    return as_of.year


# ---------------------------------------------------------------------------------------------
# Calendar periods


def _cal_bounds(cal: _Cal, year: int) -> tuple[date, date] | None:
    """The inclusive dates of `cal` in `year`; None when that day does not exist that year."""
    try:
        if cal.unit == "day":
            first = date(year, cal.index, cal.day)
            return first, date(year, cal.index, cal.day_to) if cal.day_to else first
        if cal.unit == "month":
            first = date(year, cal.index, 1)
            return first, _month_end(first)
        if cal.unit == "quarter":
            return date(year, 3 * cal.index - 2, 1), _month_end(date(year, 3 * cal.index, 1))
        if cal.unit == "half":
            return date(year, 6 * cal.index - 5, 1), _month_end(date(year, 6 * cal.index, 1))
        return date(year, 1, 1), date(year, 12, 31)
    except ValueError:
        return None


def _cal_first_month(cal: _Cal) -> int:
    """The calendar month the period starts in (for ordering the two ends of a range)."""
    return {"quarter": 3 * cal.index - 2, "half": 6 * cal.index - 5, "year": 1}.get(
        cal.unit, cal.index
    )


def _cal_generic(cal: _Cal) -> str:
    """The period without its year, as said back: "November", "Q3", "November 15"."""
    if cal.unit == "quarter":
        return f"Q{cal.index}"
    if cal.unit == "half":
        return f"H{cal.index}"
    month = MONTH_NAMES[cal.index - 1] if 1 <= cal.index <= 12 else "?"
    if cal.unit == "day":
        return f"{month} {cal.day}" + (f"-{cal.day_to}" if cal.day_to else "")
    return month


def _cal_res(cal: _Cal, year: int) -> _Res | _Problem:
    """`cal` in `year` as a resolved period, or the reason that day does not exist."""
    bounds = _cal_bounds(cal, year)
    if bounds is None:
        return _Problem(f"{_cal_generic(cal)}, {year} is not a date")
    since, until = bounds
    if cal.unit == "day" and cal.day_to:
        if until < since:
            return _Problem(f"the range ends ({until}) before it starts ({since})")
        name = _iso(since, until)
        return _Res(since, until, name, name, "range")
    if cal.unit == "day":
        return _Res(since, until, since.isoformat(), since.isoformat(), "day", "day")
    name = {
        "month": f"{_cal_generic(cal)} {year}",
        "quarter": f"Q{cal.index} {year}",
        "half": f"H{cal.index} {year}",
        "year": str(year),
    }[cal.unit]
    return _Res(since, until, name, name, cal.unit, cal.unit)


def _infer_year(cal: _Cal, ctx: _Ctx) -> tuple[int, str] | None:
    """The year of a period said without one: the latest such period that has data, else the
    latest one starting by the as-of day; with the note the answer must state."""
    low = min([ctx.as_of.year - 30, *(m.year for m in ctx.months)])
    fallback: int | None = None
    for year in range(ctx.as_of.year, low - 1, -1):
        bounds = _cal_bounds(cal, year)
        if bounds is None or bounds[0] > ctx.as_of:
            continue
        if fallback is None:
            fallback = year
        if ctx.has_data(*bounds):
            return year, f"the latest {_cal_generic(cal)} with data"
        if not ctx.months:
            break
    if fallback is None:
        return None
    why = f"the latest {_cal_generic(cal)} up to {ctx.as_of.isoformat()}"
    return fallback, why  # and `_notes` adds "no data in this period" when months are known


def _impossible(cal: _Cal) -> str | None:
    """Why a day can never exist ("February 30 is not a date"), or None."""
    if cal.unit != "day":
        return None
    if not 1 <= cal.index <= 12:
        return f"month {cal.index} is not a month"
    longest = calendar.monthrange(2000, cal.index)[1]  # 2000 is a leap year
    for day in (cal.day, cal.day_to):
        if day and not 1 <= day <= longest:
            return f"{MONTH_NAMES[cal.index - 1]} {day} is not a date"
    return None


def _resolve_cal(cal: _Cal, ctx: _Ctx) -> _Res | _Problem:
    """A lone calendar period; a missing year is inferred and the assumption noted."""
    why = _impossible(cal)
    if why:
        return _Problem(why)
    if cal.year is not None:
        return _cal_res(cal, cal.year)
    inferred = _infer_year(cal, ctx)
    if inferred is None:
        return _Problem(f"no {_cal_generic(cal)} up to {ctx.as_of.isoformat()}: give the year")
    year, why_year = inferred
    res = _cal_res(cal, year)
    if isinstance(res, _Problem):
        return res
    return replace(res, note=f"no year given: {res.name}, {why_year}")


# ---------------------------------------------------------------------------------------------
# Relative periods


def _fixed(
    since: date, until: date, name: str, kind: SpanKind, unit: SpanUnit | None, shown: str = ""
) -> _Res:
    """A resolved relative period labelled "name (dates)" (or "name (shown)")."""
    return _Res(since, until, name, f"{name} ({shown or _iso(since, until)})", kind, unit)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


_UnitWord = Literal["week", "month", "quarter", "year"]
_UNIT_WORDS: dict[str, _UnitWord] = {
    "w": "week", "week": "week", "m": "month", "month": "month", "q": "quarter",
    "quarter": "quarter", "y": "year", "year": "year",
}  # fmt: skip
_WHOLE_KIND: dict[str, SpanKind] = {"month": "month", "quarter": "quarter", "year": "year"}


def _to_date_end(since: date, ctx: _Ctx) -> date:
    """A to-date period ends on the last day with data (never before its own first day)."""
    return max(since, min(ctx.anchor, ctx.as_of))


def _relative_unit(rel: str, unit: _UnitWord, ctx: _Ctx) -> _Res:
    """this/last/next week|month|quarter|year (and the *-to-date words).

    Calendar units count from the day the question is asked (`ctx.anchor`: today, or the day
    after the last data day when the bills stop earlier), so on November 1st with bills through
    October 31st "last month" is October; a to-date period ends on the last day with data."""
    a = ctx.anchor
    rel = rel.lower()
    to_date = rel in ("this", "current", "to_date")
    step = -1 if rel in ("last", "previous", "prior") else (1 if rel == "next" else 0)
    name = f"{unit} to date" if rel == "to_date" else f"{rel} {unit}"
    if unit == "week":
        monday = a - timedelta(days=a.weekday()) + timedelta(days=7 * step)
        if to_date:
            return _fixed(monday, _to_date_end(monday, ctx), name, "to_date", "week")
        return _fixed(monday, monday + timedelta(days=6), name, "relative", "week")
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    base = {"month": a.replace(day=1), "quarter": _quarter_start(a), "year": date(a.year, 1, 1)}
    since = add_months(base[unit], step * months)
    until = add_months(since, months) - timedelta(days=1)
    if to_date:
        return _fixed(since, _to_date_end(since, ctx), name, "to_date", unit)
    shown = {
        "month": _month_label(since),
        "quarter": f"Q{(since.month - 1) // 3 + 1} {since.year}",
        "year": str(since.year),
    }[unit]
    return _fixed(since, until, name, _WHOLE_KIND[unit], unit, shown)


def _rolling(word: str, count: int, unit: str, ctx: _Ctx) -> _Res | _Problem:
    """last/past N days|weeks|months|quarters|years: a window ending on the as-of day."""
    unit = {"d": "day", "wk": "week", "mo": "month", "qtr": "quarter", "yr": "year"}.get(unit, unit)
    plural = "" if count == 1 else "s"
    name = f"{word.lower()} {count} {unit}{plural}"
    if count < 1:
        return _Problem(f'"{name}" is an empty window')
    a = ctx.as_of
    if unit in ("day", "week"):
        days = count * (7 if unit == "week" else 1)
        if days > MAX_WINDOW_DAYS:
            return _Problem(f'"{name}" is longer than {MAX_WINDOW_DAYS} days')
        since = a - timedelta(days=days - 1)
    else:
        months = count * {"month": 1, "quarter": 3, "year": 12}[unit]
        if months > MAX_WINDOW_DAYS // 30:
            return _Problem(f'"{name}" is longer than {MAX_WINDOW_DAYS} days')
        since = add_months(a, -months) + timedelta(days=1)
    return _fixed(since, a, name, "relative", None)


def _weekday_on_or_before(weekday: int, day: date) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def _resolve_weekday(wd: _Weekday, ctx: _Ctx, before: date | None = None) -> _Res:
    """Monday = the latest Monday by the as-of day (or by `before`); last Monday = strictly
    before the as-of day; this Monday = the Monday of the as-of week."""
    a = before or ctx.as_of
    name = WEEKDAY_NAMES[wd.weekday]
    if wd.rel == "last":
        day = _weekday_on_or_before(wd.weekday, a - timedelta(days=1))
        name = f"last {name}"
    elif wd.rel == "this":
        day = a - timedelta(days=a.weekday()) + timedelta(days=wd.weekday)
        name = f"this {name}"
    else:
        day = _weekday_on_or_before(wd.weekday, a)
    return _fixed(day, day, name, "day", "day")


def _resolve(payload: _Payload, ctx: _Ctx) -> _Res | _Problem:
    """Any atom on its own."""
    if isinstance(payload, _Cal):
        return _resolve_cal(payload, ctx)
    if isinstance(payload, _Weekday):
        return _resolve_weekday(payload, ctx)
    if isinstance(payload, _Res | _Problem):
        return payload
    return _Problem("not a period")


# ---------------------------------------------------------------------------------------------
# Candidate phrases: one regex and one handler each

_Handler = Callable[[re.Match[str], _Ctx], "_Item | None"]
_RULES: list[tuple[re.Pattern[str], _Handler]] = []


def _rule(pattern: str) -> Callable[[_Handler], _Handler]:
    """Register `handler` for every match of `pattern` (case-insensitive)."""

    def register(handler: _Handler) -> _Handler:
        _RULES.append((re.compile(pattern, _FLAGS), handler))
        return handler

    return register


def _item(m: re.Match[str], payload: _Payload, weak: bool = False, group: int | str = 0) -> _Item:
    return _Item(m.start(group), m.end(group), payload, weak)


def _word_before(text: str, start: int) -> str:
    """The word right before `start` (separated by spaces or a hyphen), lower-cased."""
    found = re.search(r"(\w+)[\s-]+$", text[max(0, start - 30) : start])
    return found[1].lower() if found else ""


def _month_of(word: str) -> int:
    return MONTH_WORDS[word.lower().rstrip(".")]


# Numeric dates


@_rule(_NUM_START + r"(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?![\w/]|[.-]\d)")
def _iso_day(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    year, month, day = int(m["y"]), int(m["m"]), int(m["d"])
    if not 1990 <= year <= 2100:
        return None
    try:
        date(year, month, day)
    except ValueError:
        return _item(m, _Problem(f"{m[0]} is not a date"))
    return _item(m, _Cal("day", year, month, day))


@_rule(_NUM_START + r"(?P<a>\d{1,2})(?P<s>[-/.])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4})(?![\w/]|[.-]\d)")
def _numeric_day(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """11/15/2018 (US) or 15/11/2018 (EU): only when the order is clear."""
    a, b, year = int(m["a"]), int(m["b"]), int(m["y"])
    if not 1990 <= year <= 2100:
        return None
    if (a > 12 and b > 12) or not (a and b):
        return _item(m, _Problem(f"{m[0]} is not a date"))
    if a <= 12 and b <= 12 and a != b:
        first, second = date(year, a, b), date(year, b, a)
        return _item(
            m,
            _Problem(
                f"{m[0]} is ambiguous: {MONTH_NAMES[a - 1]} {b} or {MONTH_NAMES[b - 1]} {a}, "
                f"{year}? "
                f"write {first.isoformat()} or {second.isoformat()}"
            ),
        )
    month, day = (b, a) if a > 12 else (a, b)
    try:
        date(year, month, day)
    except ValueError:
        return _item(m, _Problem(f"{m[0]} is not a date"))
    return _item(m, _Cal("day", year, month, day))


@_rule(_NUM_START + r"(?P<y>\d{4})[-/](?P<m>\d{1,2})(?![\w/]|[.-]\d)")
def _iso_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    year, month = int(m["y"]), int(m["m"])
    if not 1990 <= year <= 2100:
        return None
    if not 1 <= month <= 12:
        if len(m["m"]) == 2 and month == (year + 1) % 100:
            return _item(m, _Problem(f"{m[0]} looks like a fiscal year; {FISCAL_MESSAGE}"))
        return _item(m, _Problem(f"{m[0]} is not a month (month {month})"))
    return _item(m, _Cal("month", year, month))


@_rule(_NUM_START + r"(?P<m>\d{1,2})[-/.](?P<y>\d{4})(?![\w/]|[.-]\d)")
def _numeric_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    month, year = int(m["m"]), int(m["y"])
    if not 1990 <= year <= 2100:
        return None
    if not 1 <= month <= 12:
        return _item(m, _Problem(f"{m[0]} is not a month (month {month})"))
    return _item(m, _Cal("month", year, month))


# Month names with days


def _day_item(m: re.Match[str], ctx: _Ctx, day_to: int = 0, sure: bool = True) -> _Item | None:
    """A day (or day range) inside a named month, with or without a year; "3 may" (not sure:
    no ordinal, "of" or year) is weak unless a context word comes before it."""
    word = m["mon"]
    year = _year_ref(m["yr"], ctx.as_of) if m["yr"] else None
    weak = (
        word.lower() in WEAK_MONTH_WORDS
        and not (sure or year)
        and _word_before(m.string, m.start()) not in CONTEXT_WORDS
    )
    return _item(m, _Cal("day", year, _month_of(word), int(m["d"]), day_to), weak=weak)


@_rule(
    _mon()
    + rf"\s+(?:the\s+)?(?P<d>\d{{1,2}})(?P<o>{_ORD})?(?!\d)\b(?:\s*,?\s*(?P<yr>{_YEAR_REF}))?"
)
def _month_day(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """Nov 15, 2018 / November 15th 2018 / Nov 15 / May 3."""
    return _day_item(m, ctx)


@_rule(
    rf"\b(?P<d>\d{{1,2}})(?P<o>{_ORD})?[\s-]+(?P<of>of\s+)?"
    + _mon()
    + rf"(?:(?:\s*,?\s*|-)(?P<yr>{_YEAR_REF}))?"
)
def _day_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """15 Nov 2018 / 15th of November / 15-Nov-2018."""
    return _day_item(m, ctx, sure=bool(m["o"] or m["of"]))


_DASH = r"(?:-|–|—|to|through|thru|until|till)"


@_rule(
    _mon()
    + rf"\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?\s*{_DASH}\s*(?:the\s+)?(?P<d2>\d{{1,2}}){_ORD}?"
    + rf"(?!\d)\b(?:\s*,?\s*(?P<yr>{_YEAR_REF}))?"
)
def _month_day_range(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """Nov 10-20, 2018 / November 10 to 20."""
    return _day_item(m, ctx, day_to=int(m["d2"]))


@_rule(
    rf"\b(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?\s*{_DASH}\s*(?:the\s+)?(?P<d2>\d{{1,2}}){_ORD}?"
    + r"\s+(?:of\s+)?"
    + _mon()
    + rf"(?:\s*,?\s*(?P<yr>{_YEAR_REF}))?"
)
def _day_range_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """10-20 Nov 2018 / the 10th to the 20th of November."""
    return _day_item(m, ctx, day_to=int(m["d2"]))


@_rule(
    r"\bbetween\s+"
    + _mon()
    + rf"\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?\s+and\s+(?:the\s+)?(?P<d2>\d{{1,2}}){_ORD}?"
    + rf"(?!\d)\b(?:\s*,?\s*(?P<yr>{_YEAR_REF}))?"
)
def _between_month_days(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """between Nov 10 and 20 (2018)."""
    return _day_item(m, ctx, day_to=int(m["d2"]))


@_rule(
    rf"\bbetween\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?\s+and\s+(?:the\s+)?(?P<d2>\d{{1,2}}){_ORD}?"
    + r"\s+(?:of\s+)?"
    + _mon()
    + rf"(?:\s*,?\s*(?P<yr>{_YEAR_REF}))?"
)
def _between_days_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """between the 10th and the 20th of November."""
    return _day_item(m, ctx, day_to=int(m["d2"]))


_NOT_A_DAY_AFTER = (
    r"(?!\s+(?:of\s+)?(?:" + _MON_ALT + r"|quarter|half|week|month|year|largest|biggest|most|"
    r"highest|lowest|smallest|cheapest|top|place|percentile|hour|day|time|item|line|row|every"
    r"|each|the|a|any)\b)"
)


@_rule(rf"\bon\s+(?P<p>the\s+(?P<d>\d{{1,2}}){_ORD})\b" + _NOT_A_DAY_AFTER)
def _the_nth(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """on the 15th: the 15th of the as-of month, when that day is not after the as-of day."""
    day, a = int(m["d"]), ctx.as_of
    month = _month_label(a)
    if not 1 <= day <= 31:
        return _item(m, _Problem(f"{m['p']} is not a day of a month"), group="p")
    if day > calendar.monthrange(a.year, a.month)[1]:
        return _item(m, _Problem(f"{month} has no {_ordinal(day)}: say which month"), group="p")
    if day > a.day:
        return _item(
            m,
            _Problem(
                f"the {_ordinal(day)} of {month} is after the last day with data "
                f"({a.isoformat()}): say which month"
            ),
            group="p",
        )
    res = _cal_res(_Cal("day", a.year, a.month, day), a.year)
    if isinstance(res, _Res):
        res = replace(res, note=f"the {_ordinal(day)} of the as-of month, {month}")
    return _item(m, res, group="p")


@_rule(
    rf"\b(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\s+of\s+(?:the\s+)?"
    r"(?P<rel>this|current|last|previous|prior|next)\s+month\b"
)
def _nth_of_relative_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """the 15th of last month / of this month."""
    base = _relative_unit(m["rel"], "month", ctx).since
    cal = _Cal("day", base.year, base.month, int(m["d"]))
    why = _impossible(cal)
    res = _Problem(why) if why else _cal_res(cal, base.year)
    if isinstance(res, _Problem) and not why:
        res = _Problem(f"{_month_label(base)} has no {_ordinal(int(m['d']))}")
    return _item(m, res)


# Months


@_rule(_mon() + rf"(?:\s*,\s*|\s+|-)(?:of\s+)?(?P<yr>{_YEAR_REF})")
def _month_year(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """November 2018 / Nov. 2018 / Nov-2018 / November of last year."""
    return _item(m, _Cal("month", _year_ref(m["yr"], ctx.as_of), _month_of(m["mon"])))


@_rule(_mon())
def _bare_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """in November / Nov: ambiguous words (may, march…) only in a period position."""
    word = m["mon"].lower()
    weak = word in WEAK_MONTH_WORDS and _word_before(m.string, m.start()) not in CONTEXT_WORDS
    return _item(m, _Cal("month", None, _month_of(word)), weak=weak)


_WEAK_MONTH_END_RE = re.compile(
    r"(?=\s*(?:[?.!,;:)]|$)|\s+(?:and|vs|versus|to|through|compared|or|by|for|on|in|from"
    r"|with|spend|spending|costs?|bill)\b)",
    _FLAGS,
)
"""Where "this May" / "…and May" can end as a month (not "this may be", "and may have")."""


@_rule(r"\b(?P<rel>last|this|next|previous|past)\s+" + _mon())
def _relative_month(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """last November (before the as-of month) / this May / next March."""
    word = m["mon"].lower()
    if word in WEAK_MONTH_WORDS and not _WEAK_MONTH_END_RE.match(m.string, m.end()):
        return None
    month, a = _month_of(word), ctx.as_of
    rel = m["rel"].lower()
    if rel == "this":
        year = a.year
    elif rel == "next":
        year = a.year if month > a.month else a.year + 1
    else:
        year = a.year if month < a.month else a.year - 1
    return _item(m, _Cal("month", year, month))


# Quarters and halves


def _part_item(m: re.Match[str], ctx: _Ctx, unit: Literal["quarter", "half"]) -> _Item | None:
    number = int(m["n"]) if m["n"].isdigit() else ORDINALS[m["n"].lower()]
    most = 4 if unit == "quarter" else 2
    letter = "Q" if unit == "quarter" else "H"
    if not 1 <= number <= most:
        kind = "a quarter (Q1-Q4)" if unit == "quarter" else "a half-year (H1, H2)"
        return _item(m, _Problem(f"{letter}{number} is not {kind}"))
    year = _year_ref(m["yr"], ctx.as_of) if m["yr"] else None
    return _item(m, _Cal(unit, year, number))


_PART_YEAR = rf"(?:\s*(?:[-/]\s*|\s(?:of|in)\s+)?(?P<yr>{_YEAR_REF}))?"


@_rule(r"\bq(?P<n>\d)\b" + _PART_YEAR)
def _q_number(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """Q3 2026 / Q3-2026 / Q3 of last year / Q3."""
    return _part_item(m, ctx, "quarter")


@_rule(rf"(?<![\w.,$])(?P<yr>{_YEAR})\s*[-/ ]?\s*q(?P<n>\d)\b")
def _year_q(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """2026 Q3 / 2026-Q3 / 2026Q3."""
    return _part_item(m, ctx, "quarter")


@_rule(
    r"\b(?P<n>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\b"
    + rf"(?:\s*(?:,\s*|\s(?:of|in)\s+(?:the\s+)?)?(?P<yr>{_YEAR_REF}))?"
)
def _ordinal_quarter(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """third quarter (of 2026)."""
    return _part_item(m, ctx, "quarter")


@_rule(r"\bh(?P<n>\d)\b" + _PART_YEAR)
def _h_number(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """H1 2026 / H2."""
    return _part_item(m, ctx, "half")


@_rule(rf"(?<![\w.,$])(?P<yr>{_YEAR})\s*[-/ ]?\s*h(?P<n>\d)\b")
def _year_h(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """2026 H1 / 2026-H1."""
    return _part_item(m, ctx, "half")


@_rule(
    r"\b(?P<n>first|second|1st|2nd)\s+half\b"
    + rf"(?:\s*(?:,\s*|\s(?:of|in)\s+(?:the\s+)?)?(?P<yr>{_YEAR_REF}))?(?!\s+of\b)"
)
def _ordinal_half(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """first half of 2026 / second half of last year / the first half."""
    return _part_item(m, ctx, "half")


# Years


@_rule(rf"\b(?:calendar\s+year|the\s+year|year|cy)\s*(?P<y>{_YEAR})")
def _year_word(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """year 2026 / calendar year 2026 / CY2026."""
    return _item(m, _Cal("year", int(m["y"][:4])))


@_rule(rf"(?<![\w.,$€£/]){_YEAR}" + _AMOUNT_AFTER)
def _bare_year(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """2018: a year only after in/for/during/of/since… or joined to another period."""
    weak = _word_before(m.string, m.start()) not in CONTEXT_WORDS
    return _item(m, _Cal("year", int(m[0][:4])), weak=weak)


# Relative units


@_rule(
    r"\b(?:(?P<rel>this|current|next|previous|prior)|(?<!\bthe\s)(?P<last>last))\s+"
    r"(?P<unit>week|month|quarter|year)\b"
)
def _this_last_unit(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """this/last/previous/next week|month|quarter|year."""
    return _item(m, _relative_unit(m["rel"] or m["last"], _UNIT_WORDS[m["unit"].lower()], ctx))


@_rule(r"\b(?P<unit>week|month|quarter|year)[\s-]+to[\s-]+date\b|\b(?P<abbr>wtd|mtd|qtd|ytd)\b")
def _to_date(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """MTD / month to date / YTD / QTD / WTD."""
    unit = _UNIT_WORDS[(m["unit"] or m["abbr"][0]).lower()]
    return _item(m, _relative_unit("to_date", unit, ctx))


@_rule(
    rf"\b(?P<w>last|past|previous|prior|trailing|rolling)\s+(?P<n>\d{{1,6}}|{_NUM_ALT})\s*"
    r"(?P<u>days?|d|weeks?|wks?|months?|mos?|quarters?|qtrs?|years?|yrs?)\b"
)
def _last_n(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """last 30 days / past two weeks / previous 3 months / trailing 90 days."""
    count = _number(m["n"])
    if count is None:
        return None
    unit = m["u"].lower().rstrip("s")
    return _item(m, _rolling(m["w"], count, unit, ctx))


@_rule(
    rf"\b(?P<w>last|past|previous|prior)\s+(?P<n>\d{{1,3}}|{_NUM_ALT})\s+"
    r"(?P<c>complete|full|whole|closed|finished)\s+(?P<u>weeks?|months?|quarters?|years?)\b"
)
def _last_n_complete(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """last six complete months / past 2 full quarters: whole calendar units before the current
    one (counted from the day the question is asked)."""
    count = _number(m["n"])
    if count is None or count < 1:
        return None
    unit = m["u"].lower().rstrip("s")
    first = _relative_unit("last", cast(_UnitWord, unit), ctx)
    if unit == "week":
        since = first.since - timedelta(days=7 * (count - 1))
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        since = add_months(first.since, -months * (count - 1))
    name = f"last {count} complete {unit}s" if count > 1 else f"last complete {unit}"
    return _item(m, _fixed(since, first.until, name, "range", None))


@_rule(r"(?:(?<=\bthe\s)last|\bpast)\s+(?P<u>day|week|month|quarter|year)\b")
def _past_unit(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """past week / (in) the last month: a rolling window of one unit."""
    word = m[0].split()[0].lower()
    res = _rolling(word, 1, m["u"].lower(), ctx)
    if isinstance(res, _Res):
        name = f"{'the last' if word == 'last' else word} {m['u'].lower()}"
        res = _fixed(res.since, res.until, name, "relative", None)
    return _item(m, res)


@_rule(
    r"\b(?:the\s+)?(?:last|past|previous|prior)\s+(?:few|several|couple(?:\s+of)?|many|some"
    r"|number\s+of)\s+(?:days|weeks|months|quarters|years)\b"
)
def _vague_count(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """the past few days: how many is not said."""
    return _item(m, _Problem(f'"{m[0]}" does not say how many: give a number, e.g. last 7 days'))


# Days


@_rule(
    r"\b(?P<w>today|yesterday|tomorrow|(?:the\s+)?day\s+before\s+yesterday)\b"
    rf"|\b(?P<n>\d{{1,4}}|{_NUM_ALT})\s+days?\s+ago\b"
)
def _named_day(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """today / yesterday / the day before yesterday / tomorrow / 3 days ago."""
    if m["n"]:
        count = _number(m["n"])
        if count is None or count > MAX_WINDOW_DAYS:
            return None
        offset, name = -count, f"{count} day{'' if count == 1 else 's'} ago"
    else:
        word = re.sub(r"\s+", " ", m["w"].lower()).removeprefix("the ")
        offset = {"today": 0, "yesterday": -1, "tomorrow": 1}.get(word, -2)
        name = word
    day = ctx.anchor + timedelta(days=offset)
    return _item(m, _fixed(day, day, name, "day", "day"))


@_rule(
    r"\b(?:(?P<rel>last|previous|past|this)\s+)?"
    r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
)
def _weekday(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """Monday / on Tuesday / last Tuesday / this Friday."""
    rel = m["rel"].lower() if m["rel"] else None
    if rel in ("previous", "past"):
        rel = "last"
    return _item(m, _Weekday(WEEKDAY_NAMES.index(m["wd"].title()), rel))


@_rule(
    r"\b(?P<rel>last|previous|past|this)\s+weekend\b|\b(?:over|on|during)\s+(?P<the>the\s+weekend)\b"
)
def _weekend(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """last weekend / this weekend (on a Saturday or Sunday) / over the weekend (the latest)."""
    a = ctx.as_of
    monday = a - timedelta(days=a.weekday())
    rel = (m["rel"] or "").lower()
    group: int | str = "the" if m["the"] else 0
    if rel == "this" and a.weekday() < 5:
        return _item(
            m,
            _Problem(
                f'"{m[0]}" is unclear on a {WEEKDAY_NAMES[a.weekday()]} (the as-of day, '
                f"{a.isoformat()}): say last weekend or give the dates"
            ),
        )
    if rel == "this" or (not rel and a.weekday() >= 5):
        since = monday + timedelta(days=5)
        name = "this weekend" if rel else "the weekend"
        return _item(m, _fixed(since, a, name, "relative", None), group=group)
    name = "the weekend" if not rel else f"{rel if rel != 'previous' else 'last'} weekend"
    since = monday - timedelta(days=2)
    return _item(m, _fixed(since, since + timedelta(days=1), name, "relative", None), group=group)


# Problems and markers


@_rule(
    r"\b(?:q[1-4]\s*(?:of\s+)?fy\s*'?\d{2,4}|fiscal\s+(?:year|yr|quarter|half|month|period|q[1-4]"
    r"|h[12]|'?\d{2,4})(?:\s+to\s+date)?(?:\s+(?:q[1-4]|h[12]))?(?:\s+(?:of\s+)?'?\d{2,4})?"
    r"|fy\s*'?\d{2,4}(?:\s*q[1-4])?|fy-?q[1-4]|fytd|fy)\b"
)
def _fiscal(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """FY2026 / fiscal year / Q3 FY26: not resolvable without a configured fiscal calendar."""
    return _item(m, _Problem(FISCAL_MESSAGE))


_COMPARE_UNITS: dict[str, CompareUnit] = {
    "d": "day", "w": "week", "m": "month", "q": "quarter", "y": "year",
}  # fmt: skip


@_rule(
    r"\b(?P<u>day|week|month|quarter|year)[\s-]+(?:over|on)[\s-]+(?P=u)\b"
    r"|\b(?P<abbr>mom|m/m|qoq|q/q|yoy|y/y|w/w|d/d|WoW)(?![\w/])"
)
def _over_marker(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """month over month / MoM / YoY / week-on-week."""
    if m["abbr"] and m["abbr"].lower() == "wow" and m["abbr"] != "WoW":
        return None
    unit = _COMPARE_UNITS[(m["u"] or m["abbr"])[0].lower()]
    kind: Literal["previous_period", "year_ago"] = (
        "year_ago" if unit == "year" else "previous_period"
    )
    return _item(m, _Marker(kind, unit))


@_rule(
    r"\bsame\s+(?P<u>period|month|quarter|week|day|time|days)\s+"
    r"(?:(?:of\s+)?(?:the\s+)?(?:last|previous|prior)\s+year|a\s+year\s+(?:ago|earlier|before))\b"
    r"|\b(?P<prev>(?:previous|prior|preceding)\s+period|the\s+period\s+before)\b"
)
def _same_period_marker(m: re.Match[str], ctx: _Ctx) -> _Item | None:
    """same month last year → year_ago; the previous period → previous_period."""
    if m["prev"]:
        return _item(m, _Marker("previous_period", None))
    word = m["u"].lower()
    return _item(m, _Marker("year_ago", _COMPARE_UNITS.get(word[0])))


# ---------------------------------------------------------------------------------------------
# From candidates to spans


def _candidates(text: str, ctx: _Ctx) -> Iterator[tuple[int, _Item]]:
    """Every rule's matches, with the rule's rank (earlier rules win ties)."""
    for rank, (pattern, handler) in enumerate(_RULES):
        for match in pattern.finditer(text):
            try:
                item = handler(match, ctx)
            except (ValueError, OverflowError):
                item = None  # a date out of the calendar's range: not a period we can name
            if item is not None and item.end > item.start:
                yield rank, item


def _select(found: list[tuple[int, _Item]]) -> list[_Item]:
    """Longest phrases first; a shorter one overlapping a kept one is dropped."""
    kept: list[_Item] = []
    order = sorted(found, key=lambda f: (-(f[1].end - f[1].start), f[1].start, f[1].weak, f[0]))
    for _, item in order:
        if all(item.end <= k.start or item.start >= k.end for k in kept):
            kept.append(item)
    return sorted(kept, key=lambda k: k.start)


_RANGE_GAP = re.compile(
    r"\s*(?:-|–|—|\.\.\.?|to|through|thru|until|till|til|up\s+to|up\s+until)\s*(?:the\s+)?",
    _FLAGS,
)
_AND_GAP = re.compile(r"\s+and\s+(?:the\s+)?", _FLAGS)
_VERSUS_GAP = re.compile(
    r"\s*,?\s*(?:vs\b\.?|versus|v\.|compared\s+(?:with|to|against)|against|relative\s+to"
    r"|in\s+comparison\s+(?:with|to))\s*(?:the\s+)?",
    _FLAGS,
)
_RANGE_PREFIX = re.compile(
    r"\b(?P<w>between|from|since|starting(?:\s+(?:from|on|in|with))?)\s+(?:the\s+)?$", _FLAGS
)
_COMPARE_PREFIX = re.compile(r"\bcompar(?:e|ing)\s+(?:the\s+)?$", _FLAGS)
_OPEN_PREFIX = re.compile(
    r"\b(?P<w>since|after|until|till|til|through|thru|up\s+(?:to|until|till)|before"
    r"|starting(?:\s+(?:from|on|in|with))?|beginning(?:\s+(?:from|on|in|with))?)\s+(?:the\s+)?$",
    _FLAGS,
)
_ONWARDS = re.compile(r"\s+(?:onwards?|forward|and\s+later|or\s+later)\b", _FLAGS)
_FROM_ON = re.compile(r"\s+on\b", _FLAGS)
_VAGUE_PREFIX = re.compile(
    r"(?:\b(?:early|late|mid|middle\s+of|end\s+of|start\s+of|beginning\s+of|turn\s+of|week\s+of"
    r"|weekend\s+of|(?:the\s+)?(?:first|second|third|fourth|last|final)\s+(?:few\s+|\d+\s+|"
    + _NUM_ALT
    + r"\s+)?(?:days?|weeks?|half|fortnight|months?)\s+of)(?:\s+the)?[\s-]*)$",
    _FLAGS,
)


def _is_atom(item: _Item) -> bool:
    return not isinstance(item.payload, _Problem | _Marker)


def _prefix_start(text: str, start: int, pattern: re.Pattern[str]) -> int | None:
    """Where a prefix matching `pattern` (anchored with $) starts right before `start`."""
    low = max(0, start - 60)
    found = pattern.search(text[low:start])
    return None if found is None else low + found.start()


def _prefix_word(text: str, start: int, pattern: re.Pattern[str]) -> tuple[int, str] | None:
    low = max(0, start - 60)
    found = pattern.search(text[low:start])
    return None if found is None else (low + found.start(), found["w"].lower())


def _joined(text: str, a: _Item, b: _Item) -> bool:
    """Whether two neighbouring phrases are one range or a comparison ("Nov to Dec", "X vs Y")."""
    gap = text[a.end : b.start]
    if _RANGE_GAP.fullmatch(gap) or _VERSUS_GAP.fullmatch(gap):
        return True
    if _AND_GAP.fullmatch(gap):
        before = _prefix_word(text, a.start, _RANGE_PREFIX)
        return (before is not None and before[1] == "between") or (
            _prefix_start(text, a.start, _COMPARE_PREFIX) is not None
        )
    return False


_LIST_GAP = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or|&)\s)\s*", _FLAGS)


def _listed(text: str, before: _Item, item: _Item) -> bool:
    """ "in 2018 and 2019", "in March, April and May?": a weak year or month listed after a
    period of the same unit (a weak month word only where a month can end: not "may have")."""
    same_unit = (
        isinstance(before.payload, _Cal)
        and isinstance(item.payload, _Cal)
        and before.payload.unit == item.payload.unit
    )
    if not same_unit or not _LIST_GAP.fullmatch(text[before.end : item.start]):
        return False
    assert isinstance(item.payload, _Cal)
    return item.payload.unit == "year" or bool(_WEAK_MONTH_END_RE.match(text, item.end))


def _keep_supported(items: list[_Item], text: str) -> list[_Item]:
    """Drop weak phrases (a bare 2018, "may") unless joined to another period by a range or
    comparison word, or listed after a sure one ("in 2018 and 2019")."""
    sure = [not item.weak for item in items]
    for i, item in enumerate(items):
        if sure[i]:
            continue
        joined = any(
            x >= 0 and y < len(items) and _is_atom(items[x]) and _is_atom(items[y])
            and _joined(text, items[x], items[y])
            for x, y in ((i - 1, i), (i, i + 1))
        )  # fmt: skip
        sure[i] = joined or (i > 0 and sure[i - 1] and _listed(text, items[i - 1], item))
    return [item for item, ok in zip(items, sure, strict=True) if ok]


def _flag_vague(items: list[_Item], text: str) -> list[_Item]:
    """ "early November", "end of last month", "the first week of Q3" → a problem, not the
    whole period (that would silently widen the question)."""
    out: list[_Item] = []
    for item in items:
        start = _prefix_start(text, item.start, _VAGUE_PREFIX) if _is_atom(item) else None
        if start is None:
            out.append(item)
            continue
        out = [o for o in out if o.end <= start]
        phrase = text[start : item.end]
        out.append(
            _Item(start, item.end, _Problem(f'"{phrase}" is not an exact period: give the dates'))
        )
    return out


def _range_res(a: _Payload, b: _Payload, ctx: _Ctx) -> tuple[_Res, _Res, str | None] | _Problem:
    """Both ends of "A to B", a missing year taken from the other end."""
    note = None
    ra = rb = None
    a_free = isinstance(a, _Cal) and a.year is None
    b_free = isinstance(b, _Cal) and b.year is None
    for cal in (a, b):
        why = _impossible(cal) if isinstance(cal, _Cal) else None
        if why:
            return _Problem(why)
    if not b_free and not isinstance(b, _Weekday):
        rb = _resolve(b, ctx)
    elif b_free and a_free:
        assert isinstance(b, _Cal)
        inferred = _infer_year(b, ctx)
        if inferred is None:
            return _Problem(f"no {_cal_generic(b)} up to {ctx.as_of.isoformat()}: give the year")
        rb = _cal_res(b, inferred[0])
        note = f"no year given: ending in {inferred[1]}"
    if not a_free and not (isinstance(a, _Weekday) and a.rel is None and rb is not None):
        ra = _resolve(a, ctx)
    if isinstance(ra, _Problem):
        return ra
    if isinstance(rb, _Problem):
        return rb
    if rb is None:
        assert ra is not None
        if isinstance(b, _Cal):
            year = ra.since.year + (1 if _cal_first_month(b) < ra.since.month else 0)
            rb = _cal_res(b, year)
        else:
            rb = _resolve(b, ctx)
    if isinstance(rb, _Problem):
        return rb
    if ra is None:
        if isinstance(a, _Weekday):
            ra = _resolve_weekday(a, ctx, before=rb.since)
        else:
            assert isinstance(a, _Cal)
            year = rb.since.year - (1 if _cal_first_month(a) > rb.since.month else 0)
            ra = _cal_res(a, year)
    if isinstance(ra, _Problem):
        return ra
    return ra, rb, note


def _notes(res: _Res, ctx: _Ctx) -> str | None:
    """The assumption note plus the facts an answer must state about the data's coverage."""
    notes = [res.note] if res.note else []
    a = ctx.as_of
    if res.kind != "to_date" and res.until > a:
        notes.append(
            f"after the last day with data ({a.isoformat()})"
            if res.since > a
            else f"data only through {a.isoformat()}"
        )
    elif ctx.first_day and res.until < ctx.first_day:
        notes.append(f"before the first day with data ({ctx.first_day.isoformat()})")
    elif ctx.months and not ctx.has_data(res.since, min(res.until, a)):
        notes.append("no data in this period")
    return "; ".join(notes) or None


def _span(res: _Res, start: int, end: int, ctx: _Ctx) -> TimeSpan:
    return TimeSpan(
        since=res.since,
        until=res.until,
        label=res.label,
        note=_notes(res, ctx),
        start=start,
        end=end,
        kind=res.kind,
        unit=res.unit,
    )


def _problem(text: str, start: int, end: int, message: str) -> TimeProblem:
    return TimeProblem(phrase=text[start:end], start=start, end=end, message=message)


def _range_out(text: str, a: _Item, b: _Item, start: int, ctx: _Ctx) -> TimeSpan | TimeProblem:
    """ "between A and B" / "from A to B" / "A - B" as one span."""
    for part in (a, b):
        if isinstance(part.payload, _Problem):
            return _problem(text, start, b.end, part.payload.message)
    both = _range_res(a.payload, b.payload, ctx)
    if isinstance(both, _Problem):
        return _problem(text, start, b.end, both.message)
    ra, rb, note = both
    since, until = ra.since, rb.until
    if until < since:
        return _problem(
            text, start, b.end, f"the range ends ({rb.name}) before it starts ({ra.name})"
        )
    named = all(
        isinstance(p.payload, _Cal) and r.kind not in ("day", "range")
        for p, r in ((a, ra), (b, rb))
    )  # months, quarters, halves, years: "September 2026..November 2026"; else the dates
    label = f"{ra.name}..{rb.name}" if named else _iso(since, until)
    if note:
        note = f"no year given: {label}, {note.removeprefix('no year given: ')}"
    res = _Res(since, until, label, label, "range", None, note)
    return _span(res, start, b.end, ctx)


def _open_out(text: str, item: _Item, start: int, word: str, ctx: _Ctx) -> TimeSpan | TimeProblem:
    """since X / after X (to the as-of day), until/through/before X (from the first day)."""
    res = _resolve(item.payload, ctx)
    phrase = text[start : item.end]
    if isinstance(res, _Problem):
        return _problem(text, start, item.end, res.message)
    a = ctx.as_of
    word = re.sub(r"\s+", " ", word)
    if word in ("since", "after", "from") or word.startswith(("starting", "beginning")):
        since = res.since if word != "after" else res.until + timedelta(days=1)
        if since > a:
            return _problem(
                text, start, item.end, f'"{phrase}" starts after the last day with data ({a})'
            )
        shown = "since" if word != "after" else "after"
        out = _Res(since, a, f"{shown} {res.name}", f"{shown} {res.name} ({_iso(since, a)})",
                   "range", None, res.note)  # fmt: skip
        return _span(out, start, item.end, ctx)
    if ctx.first_day is None:
        return _problem(
            text, start, item.end,
            f'"{phrase}" needs the first day with data, which is not known: give a start date',
        )  # fmt: skip
    until = res.since - timedelta(days=1) if word == "before" else res.until
    shown = "before" if word == "before" else "through"
    name = f"{shown} {res.name}"
    label = f"{name} ({_iso(ctx.first_day, until)})"
    out = _Res(ctx.first_day, until, name, label, "range", None, res.note)
    if until < ctx.first_day:
        return _problem(
            text, start, item.end,
            f'"{phrase}" ends before the first day with data ({ctx.first_day})',
        )  # fmt: skip
    return _span(out, start, item.end, ctx)


def _combine(items: list[_Item], text: str, ctx: _Ctx) -> list[TimeSpan | TimeProblem]:
    """Phrases → spans: ranges and open ranges joined, everything else on its own."""
    out: list[TimeSpan | TimeProblem] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item.payload, _Marker):
            i += 1
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        prefix = _prefix_word(text, item.start, _RANGE_PREFIX)
        if nxt is not None and not isinstance(nxt.payload, _Marker):
            gap = text[item.end : nxt.start]
            is_range = bool(_RANGE_GAP.fullmatch(gap)) or (
                prefix is not None and prefix[1] == "between" and bool(_AND_GAP.fullmatch(gap))
            )
            if is_range:
                start = prefix[0] if prefix else item.start
                out.append(_range_out(text, item, nxt, start, ctx))
                i += 2
                continue
        opener = _prefix_word(text, item.start, _OPEN_PREFIX)
        from_prefix = prefix is not None and prefix[1] == "from"
        onwards = _ONWARDS.match(text, item.end) or (
            _FROM_ON.match(text, item.end) if from_prefix else None
        )
        if opener is None and onwards:
            opener = (prefix[0], "from") if prefix is not None else (item.start, "from")
        if opener is not None:
            end_item = item if not onwards else _Item(item.start, onwards.end(), item.payload)
            out.append(_open_out(text, end_item, opener[0], opener[1], ctx))
        elif isinstance(item.payload, _Problem):
            out.append(_problem(text, item.start, item.end, item.payload.message))
        else:
            res = _resolve(item.payload, ctx)
            if isinstance(res, _Problem):
                out.append(_problem(text, item.start, item.end, res.message))
            else:
                out.append(_span(res, item.start, item.end, ctx))
        i += 1
    return out


_VERSUS_WORD = re.compile(
    r"\b(?:vs\b\.?|versus\b|compared\s+(?:with|to|against)\b|compare[sd]?\s+(?:with|to|against)\b"
    r"|in\s+comparison\s+(?:with|to)\b|relative\s+to\b|against\b)",
    _FLAGS,
)
_COMPARE_WORD = re.compile(r"\bcompar(?:e|ing)\b", _FLAGS)
_FILLER = re.compile(r"(?:\s+|,|\b(?:the|in|on|for|during|with)\b)*", _FLAGS)
_PAIR_GAP = re.compile(r"\s*,?\s*(?:and|with|to|vs\.?|versus|against)\s+(?:the\s+)?", _FLAGS)


def _comparisons(
    items: list[_Item], outs: list[TimeSpan | TimeProblem], text: str
) -> list[TimeComparison]:
    """Comparison words that apply to the periods found."""
    starts = {o.start: o for o in outs}
    compared = set(starts) | {i.start for i in items if isinstance(i.payload, _Marker)}
    found: list[TimeComparison] = []
    for item in items:
        if isinstance(item.payload, _Marker):
            found.append(TimeComparison(
                phrase=text[item.start : item.end], start=item.start, end=item.end,
                kind=item.payload.kind, unit=item.payload.unit,
            ))  # fmt: skip
    for word in _VERSUS_WORD.finditer(text):
        after = _FILLER.match(text, word.end())
        if after is not None and after.end() in compared:
            found.append(TimeComparison(
                phrase=word[0], start=word.start(), end=word.end(), kind="versus"
            ))  # fmt: skip
    for word in _COMPARE_WORD.finditer(text):
        after = _FILLER.match(text, word.end())
        first = starts.get(after.end()) if after else None
        if first is None:
            continue
        gap = _PAIR_GAP.match(text, first.end)
        if gap is not None and gap.end() in starts:
            found.append(TimeComparison(
                phrase=word[0], start=word.start(), end=word.end(), kind="versus"
            ))  # fmt: skip
    return sorted(found, key=lambda c: c.start)


def parse_time(
    text: str,
    as_of: date,
    months_with_data: Sequence[date] = (),
    first_day: date | None = None,
    today: date | None = None,
) -> TimeParse:
    """Find every period named in `text`, resolved against `as_of` (the last day with data).

    `months_with_data` (any day of each month that has data) decides the year of a month or
    quarter said without one; `first_day` (the first day with data) is where "until X" starts;
    `today`, when given, is the calendar day the question is asked: "today"/"yesterday" then
    follow `tools.periods` (the day after the last data day at most), else "today" is `as_of`.

    Example: `parse_time("EC2 between 2018-11-10 and 2018-11-20?", date(2018, 12, 31))` has one
    span 2018-11-10..2018-11-20 whose offsets cover "between 2018-11-10 and 2018-11-20".
    """
    anchor = min(today, as_of + timedelta(days=1)) if today else as_of
    ctx = _Ctx(as_of, frozenset(d.replace(day=1) for d in months_with_data), first_day, anchor)
    items = _select(list(_candidates(text, ctx)))
    items = _flag_vague(_keep_supported(items, text), text)
    outs = _combine(items, text, ctx)
    return TimeParse(
        spans=[o for o in outs if isinstance(o, TimeSpan)],
        problems=[o for o in outs if isinstance(o, TimeProblem)],
        comparisons=_comparisons(items, outs, text),
    )


# ---------------------------------------------------------------------------------------------
# Derived periods

_UNIT_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "half": 6, "year": 12}


def _whole_unit(span: TimeSpan) -> bool:
    """Whether the span is exactly one whole calendar unit (a month, a week…)."""
    if span.unit == "day":
        return span.since == span.until
    if span.unit == "week":
        return span.since.weekday() == 0 and span.until == span.since + timedelta(days=6)
    if span.unit in _UNIT_MONTHS:
        return span.until == add_months(span.since, _UNIT_MONTHS[span.unit]) - timedelta(days=1)
    return False


def _unit_label(since: date, unit: str) -> str:
    return {
        "day": since.isoformat(),
        "month": _month_label(since),
        "quarter": f"Q{(since.month - 1) // 3 + 1} {since.year}",
        "half": f"H{(since.month - 1) // 6 + 1} {since.year}",
        "year": str(since.year),
    }.get(unit, _iso(since, since + timedelta(days=6)))


def _whole_months(span: TimeSpan) -> int:
    """How many whole calendar months the span is (0 when it is not whole months)."""
    if span.since.day != 1 or span.until != _month_end(span.until):
        return 0
    return (span.until.year - span.since.year) * 12 + span.until.month - span.since.month + 1


def _derived(span: TimeSpan, since: date, until: date, label: str, whole: bool) -> TimeSpan:
    kind: SpanKind = span.kind if whole else "range"
    return TimeSpan(
        since=since, until=until, label=label, start=span.start, end=span.end, kind=kind,
        unit=span.unit if whole else None,
    )  # fmt: skip


def previous_span(span: TimeSpan) -> TimeSpan:
    """The period to compare `span` with: the previous calendar month/quarter/half/year/week/day
    for a whole one; the same days of the previous unit for a to-date span (MTD → the same days
    of last month); the previous N whole months for a run of whole months; else the equally long
    period just before. Offsets are those of `span` (it is derived from that phrase)."""
    unit = span.unit
    if unit and _whole_unit(span):
        if unit in ("day", "week"):
            step = timedelta(days=1 if unit == "day" else 7)
            return _derived(span, span.since - step, span.until - step,
                            _unit_label(span.since - step, unit), True)  # fmt: skip
        since = add_months(span.since, -_UNIT_MONTHS[unit])
        until = span.since - timedelta(days=1)
        return _derived(span, since, until, _unit_label(since, unit), True)
    if unit and span.kind == "to_date":
        if unit in ("day", "week"):
            step = timedelta(days=1 if unit == "day" else 7)
            since, until = span.since - step, span.until - step
        else:
            since = add_months(span.since, -_UNIT_MONTHS[unit])
            until = add_months(span.until, -_UNIT_MONTHS[unit])
        label = f"{_iso(since, until)} (the same days of the previous {unit})"
        return _derived(span, since, until, label, False)
    months = _whole_months(span)
    if months:
        since = add_months(span.since, -months)
        until = span.since - timedelta(days=1)
        return _derived(span, since, until, f"{_iso(since, until)} (the previous {months} months)"
                        if months > 1 else _unit_label(since, "month"), False)  # fmt: skip
    length = (span.until - span.since).days + 1
    since, until = span.since - timedelta(days=length), span.since - timedelta(days=1)
    label = f"{_iso(since, until)} (the previous {length} day{'s' if length > 1 else ''})"
    return _derived(span, since, until, label, False)


def same_period_last_year(span: TimeSpan) -> TimeSpan:
    """The same dates one year earlier (a whole month/quarter/year stays whole: Feb 2024 → Feb
    2023 ending on the 28th). Offsets are those of `span`."""
    since = add_months(span.since, -12)
    whole = _whole_months(span) > 0
    until = add_months(span.until.replace(day=1), -12) if whole else add_months(span.until, -12)
    if whole:
        until = _month_end(until)
    calendar_whole = bool(span.unit) and _whole_unit(span) and span.unit != "week"
    label = _unit_label(since, span.unit or "") if calendar_whole else _iso(since, until)
    return _derived(span, since, until, label, calendar_whole)


def default_span(as_of: date) -> TimeSpan:
    """The period used when a question names none: the month to date, with a note saying so
    (offsets 0..0: no words named it)."""
    res = _relative_unit("to_date", "month", _Ctx(as_of, frozenset(), None, as_of))
    return TimeSpan(
        since=res.since, until=res.until, label=res.label, start=0, end=0, kind="to_date",
        unit="month", note="no period named: month to date (the default)",
    )  # fmt: skip
