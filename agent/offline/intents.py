"""The offline planner's question parser: a human question -> one tool call, or a plain refusal.

Spend questions are read by `agent.offline.understand` (against the warehouse's own vocabulary);
this module routes them and parses the other kinds (tickets, proposals, unit cost, refusals).

Why: `make demo` and CI need an agent that answers without any API key, deterministically. The
parser is keyword and regex tables (kept as data at the top of this module) matched
case-insensitively against the *human's* question only; tool results never reach it, so text
inside bills, tags or tickets can never become a tool call. It has no clock: a month without a
year is resolved against the "Today is YYYY-MM-DD." line of the system prompt, and relative day
windows are limited to the tools' named periods (7 and 30 days).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.offline.understand import Understanding

__all__ = [
    "DEFAULT_PERIODS",
    "DIMENSION_WORDS",
    "PERIOD_PATTERNS",
    "PROVIDER_WORDS",
    "Intent",
    "ToolPlan",
    "Unsupported",
    "plan_question",
]

PROVIDER_WORDS: dict[str, str] = {
    "amazon web services": "AWS",
    "aws": "AWS",
    "amazon": "AWS",
    "azure": "Microsoft",
    "microsoft": "Microsoft",
    "google cloud": "Google Cloud",
    "gcp": "Google Cloud",
    "google": "Google Cloud",
    "openai": "OpenAI",
    "open ai": "OpenAI",
    "anthropic": "Anthropic",
    "claude": "Anthropic",
    "snowflake": "Snowflake",
    "kubernetes": "Kubernetes",
    "k8s": "Kubernetes",
}
"""Words in a question -> `ProviderName` filter value (as the demo and the connectors write it)."""

DIMENSION_WORDS: dict[str, str] = {
    "service category": "ServiceCategory", "service categories": "ServiceCategory",
    "service": "ServiceName", "services": "ServiceName",
    "provider": "ProviderName", "providers": "ProviderName", "cloud": "ProviderName",
    "clouds": "ProviderName", "vendor": "ProviderName", "vendors": "ProviderName",
    "account": "SubAccountName", "accounts": "SubAccountName", "subscription": "SubAccountName",
    "subscriptions": "SubAccountName", "project": "SubAccountName", "projects": "SubAccountName",
    "region": "RegionId", "regions": "RegionId",
    "team": "tag:team", "teams": "tag:team",
    "model": "SkuId", "models": "SkuId", "sku": "SkuId", "skus": "SkuId",
    "resource": "ResourceId", "resources": "ResourceId",
    "category": "ServiceCategory", "categories": "ServiceCategory",
}  # fmt: skip
"""`by <word>` / `top N <word>` -> the dimension to group by."""

GRAIN_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b(?:daily|per day|by day|each day|day by day|day-by-day)\b", "day"),
    (r"\b(?:weekly|per week|by week|each week|week by week)\b", "week"),
    (r"\b(?:monthly|per month|by month|each month|month by month)\b", "month"),
)

PERIOD_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\byesterday\b", "yesterday"),
    (r"\btoday\b", "today"),
    (r"\b(?:this|current) week\b|\bweek[- ]to[- ]date\b|\bwtd\b", "this_week"),
    (r"\b(?:last|previous|prior) week\b", "last_week"),
    (r"\bpast week\b", "last_7_days"),
    (r"\b(?:this|current) month\b|\bmonth[- ]to[- ]date\b|\bmtd\b", "this_month"),
    (r"\b(?:last|previous|prior) month\b", "last_month"),
    (r"\bpast month\b", "last_30_days"),
    (r"\b(?:this|current) quarter\b|\bqtd\b", "this_quarter"),
    (r"\b(?:last|previous|prior) quarter\b", "last_quarter"),
    (r"\b(?:this|current) year\b|\byear[- ]to[- ]date\b|\bytd\b", "this_year"),
    (r"\b(?:last|previous|prior) year\b", "last_year"),
)
"""Phrases -> the named periods of `tools.periods` (checked in this order)."""

DAY_WINDOWS: dict[int, str] = {7: "last_7_days", 30: "last_30_days"}
NUMBER_WORDS: dict[str, int] = {"seven": 7, "thirty": 30, "fourteen": 14, "ten": 10, "five": 5}

MONTHS: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
AMBIGUOUS_MONTHS = frozenset({"may", "mar"})
"""Month words that are also ordinary words: a month only after in/for/of… or before a year."""

DEFAULT_PERIODS: dict[str, str] = {"unit_cost_report": "last_30_days"}

TICKET = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could|would) you\s+)?(?:please\s+)?"
    r"(?:open|file|create|raise|log)\s+(?:a\s+|an\s+)?(?:new\s+)?"
    r"(?:(?:high|medium|low)[- ]priority\s+)?ticket\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
TICKET_TARGET = re.compile(
    r"^\s*for\s+(?:the\s+)?(?P<owner>[\w.@-]+?)(?:\s+team)?\s*"
    r"(?:(?:to|about|re|regarding|on)\s+|:\s*|,\s*|-\s+)(?P<title>.+)$",
    re.IGNORECASE | re.DOTALL,
)
PRIORITY = re.compile(r"\b(high|medium|low)[- ]priority\b", re.IGNORECASE)
APPROVAL_REQUEST = re.compile(r"\b(?:approve|reject|deny|decline|authori[sz]e)\b")
DESTRUCTIVE: tuple[str, ...] = (
    r"\b(?:delete|remove|destroy|wipe|purge|erase|truncate)\b",
    r"\bdrop\s+(?:table|database|schema|the|all|every)",
    r"\b(?:terminate|shut\s*down|kill|stop|disable|resize|rightsize|execute)\b",
    r"\bscale\s+(?:down|up|to|in|out)\b",
    r"\b(?:ignore|disregard|forget|override)\b.*\b(?:instructions?|rules?|prompt|guardrails?)\b",
    r"\b(?:grant|give)\b.*\b(?:approv\w*|admin|rights?|permissions?)\b",
    r"\b(?:update|insert|alter|modify|change|edit)\s+(?:the\s+)?"
    r"(?:table|warehouse|config|budget|polic(?:y|ies)|database|tags?)\b",
)
"""Requests to change, stop or remove something, or to drop the rules: refused, never planned."""

PROPOSAL_ID = re.compile(r"\bp-[0-9a-z]{3,}\b")
PROPOSAL_WORDS = re.compile(
    r"\b(?:proposals?|pending|awaiting approval|waiting for approval|approval queue)\b"
)
PROPOSAL_STATUS = re.compile(r"\b(pending|approved|rejected|expired|executing|done|failed)\b")
UNIT_COST = re.compile(r"\b(?:per|unit cost|unit price)\b.*\btokens?\b|\btokens?\b.*\bunit cost\b")
UNIT_PER = re.compile(r"\bper\s+(?:a\s+|one\s+)?([\w,]+)\s+tokens?\b")
PER_WORDS: dict[str, int] = {
    "million": 1_000_000, "1m": 1_000_000, "m": 1_000_000, "mtok": 1_000_000,
    "1,000,000": 1_000_000, "1000000": 1_000_000,
    "thousand": 1000, "1k": 1000, "k": 1000, "1,000": 1000, "1000": 1000,
}  # fmt: skip
SPEND_WORDS = re.compile(
    r"\b(?:spend|spent|spending|costs?|costing|bill|billed|billing|charges?|how much|breakdown"
    r"|expenses?|paid)\b"
)
TEAM_AFTER = re.compile(r"\bteam\s+([a-z0-9][a-z0-9_.-]*)")
TEAM_BEFORE = re.compile(r"\b([a-z0-9][a-z0-9_.-]*)\s+team\b")
TEAM_STOPWORDS = frozenset(
    {
        "the", "a", "an", "by", "per", "each", "every", "which", "what", "whose", "our", "my",
        "your", "their", "this", "that", "one", "any", "all", "for", "of", "in", "on", "at", "to",
        "and", "or", "with", "over", "since", "during", "last", "past", "previous", "spend",
        "spent", "spending", "cost", "costs", "is", "was", "did", "does", "has", "have", "had",
        "yesterday", "today", "split", "grouped", "across", "top", "how", "much",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ToolPlan:
    """One tool call planned from the question; `default_period` is set when none was named."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    default_period: str | None = None


@dataclass(frozen=True)
class Unsupported:
    """A question the planner will not turn into a tool call, and why (said to the user)."""

    reason: str
    about_approval: bool = False
    reading: Understanding | None = None
    """Set when a spend question could not be applied exactly: the answer is its clarification."""
    spend: bool = False
    """A spend reading that failed: a detection, allocation or optimization reading may win."""


Intent = ToolPlan | Unsupported


def _words_pattern(words: dict[str, Any]) -> re.Pattern[str]:
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in ordered) + r")\b")


_PROVIDER_RE = _words_pattern(PROVIDER_WORDS)
_DIM_ALT = "|".join(re.escape(w) for w in sorted(DIMENSION_WORDS, key=len, reverse=True))
_BY_CLAUSE = re.compile(
    rf"\b(?:by|per|across|for each)\s+(?:the\s+|each\s+)?((?:{_DIM_ALT})\b"
    rf"(?:\s*(?:,|and|&|then)\s*(?:the\s+)?(?:{_DIM_ALT})\b)*)"
)
_DIM_WORD = re.compile(rf"\b({_DIM_ALT})\b")
_MONTH_RE = re.compile(
    r"\b(?:(in|for|during|of|from)\s+)?("
    + "|".join(sorted(MONTHS, key=len, reverse=True))
    + r")\.?(?:\s+(\d{4}))?\b"
)
_ISO_MONTH = re.compile(r"\b(\d{4})-(0[1-9]|1[0-2])\b(?!-\d)")
_DAYS_RE = re.compile(r"\b(?:last|past|previous|prior)\s+(\d+|[a-z]+)\s+days?\b")


def _providers(text: str) -> list[str]:
    found: list[str] = []
    for match in _PROVIDER_RE.finditer(text):
        value = PROVIDER_WORDS[match[1]]
        if value not in found:
            found.append(value)
    return found


def _team(text: str) -> str | None:
    """`team payments` / `payments team` -> "payments" (not `by team`, `the team`)."""
    for pattern in (TEAM_AFTER, TEAM_BEFORE):
        for match in pattern.finditer(text):
            word = match[1].strip(".-")
            if word and word not in TEAM_STOPWORDS and word not in DIMENSION_WORDS:
                return word
    return None


def _filters(text: str) -> list[str]:
    out = []
    providers = _providers(text)
    if providers:
        out.append("ProviderName=" + ",".join(providers))
    team = _team(text)
    if team:
        out.append(f"tag:team={team}")
    return out


def _dimensions(text: str) -> list[str]:
    """Group-by dimensions from `by service and region`, `per team`, `across accounts`."""
    dims: list[str] = []
    for clause in _BY_CLAUSE.finditer(text):
        for word in _DIM_WORD.findall(clause[1]):
            dim = DIMENSION_WORDS[word]
            if dim not in dims:
                dims.append(dim)
    return dims


def _month(text: str, today: date | None) -> str | Unsupported | None:
    """`2026-10`, `October 2026`, or `in October` (the latest October not after today)."""
    iso = _ISO_MONTH.search(text)
    if iso:
        return f"{iso[1]}-{iso[2]}"
    for match in _MONTH_RE.finditer(text):
        prep, word, year = match[1], match[2], match[3]
        if word in AMBIGUOUS_MONTHS and not (prep or year):
            continue
        month = MONTHS[word]
        if year:
            return f"{year}-{month:02d}"
        if today is None:
            return Unsupported(
                f"cannot tell which year {word.title()} means (no date in its instructions);"
                f' add the year, e.g. "{word.title()} 2026"'
            )
        return f"{today.year if month <= today.month else today.year - 1}-{month:02d}"
    return None


def _period(text: str, today: date | None) -> str | Unsupported | None:
    """The named period or month the question asks about, None when it names none."""
    month = _month(text, today)
    if month is not None:
        return month
    days = _DAYS_RE.search(text)
    if days:
        count = int(days[1]) if days[1].isdigit() else NUMBER_WORDS.get(days[1], 0)
        if count in DAY_WINDOWS:
            return DAY_WINDOWS[count]
        return Unsupported(
            f'cannot compute "{days[0]}": with no clock of its own it only knows the named '
            "windows last 7 days and last 30 days (or a month such as 2026-10)"
        )
    return next((name for p, name in PERIOD_PATTERNS if re.search(p, text)), None)


def _windowed(tool: str, text: str, today: date | None, args: dict[str, Any]) -> Intent:
    """A plan for a period-based tool, with the period (or its default) and filters."""
    period = _period(text, today)
    if isinstance(period, Unsupported):
        return period
    filters = _filters(text)
    full = {"period": period or DEFAULT_PERIODS[tool], **args}
    if filters:
        full["filters"] = filters
    return ToolPlan(tool, full, None if period else DEFAULT_PERIODS[tool])


def _unit_cost(text: str, today: date | None) -> Intent | None:
    if not UNIT_COST.search(text):
        return None
    per_word = UNIT_PER.search(text)
    per = PER_WORDS.get(per_word[1], 1_000_000) if per_word else 1_000_000
    args = {"unit": "Tokens", "per": per, "by": _dimensions(text) or ["SkuId"]}
    return _windowed("unit_cost_report", text, today, args)


def _proposals(text: str) -> Intent | None:
    pid = PROPOSAL_ID.search(text)
    if pid:
        return ToolPlan("proposal_status", {"proposal_id": pid[0]})
    if not PROPOSAL_WORDS.search(text):
        return None
    status = PROPOSAL_STATUS.search(text)
    return ToolPlan("proposal_status", {"status": status[1]} if status else {})


def _ticket(question: str) -> Intent | None:
    """`open a ticket for OWNER to|about|: TITLE` (case kept), with an optional priority."""
    head = TICKET.match(question)
    if head is None:
        return None
    priority = PRIORITY.search(question)
    rest = PRIORITY.sub(" ", head["rest"])
    target = TICKET_TARGET.match(rest)
    if target is None:
        return Unsupported(
            "cannot tell the ticket's owner and title; say it as "
            '"open a ticket for payments to review the idle EC2 instances"'
        )
    title = re.sub(r"\s+", " ", target["title"]).strip(" .,;:-")
    title = re.sub(r"(?:[\s,;]+(?:with|at|and|as))+$", "", title).strip(" .,;:-")
    args: dict[str, Any] = {"title": title, "owner": target["owner"].strip(".-")}
    if priority:
        args["priority"] = priority[1].lower()
    return ToolPlan("open_ticket", args)


def _structured(reading: Understanding | None) -> Intent | None:
    """A spend question read against the catalog: one `spend_query`, or its clarification."""
    if reading is None or not reading.spend_signal:
        return None
    if reading.request is None or not reading.answerable:
        return Unsupported(
            "could not apply every part of the question", reading=reading, spend=True
        )
    args = reading.request.model_dump(mode="json", exclude_defaults=True)
    return ToolPlan("spend_query", args, None if reading.period_named else "this_month")


def plan_question(
    question: str, today: date | None = None, reading: Understanding | None = None
) -> Intent:
    """Turn a human question into one tool call, or an `Unsupported` with the reason.

    Spend questions come already read (`reading`, from `agent.offline.understand` against the
    warehouse's vocabulary): one `spend_query`, or a clarification. The rest is keyword tables.
    Example: `plan_question("status of p-1a2b3c4d5e6f")` is
    `ToolPlan("proposal_status", {"proposal_id": "p-1a2b3c4d5e6f"})`.
    """
    ticket = _ticket(question)
    if ticket is not None:
        return ticket
    text = re.sub(r"\s+", " ", question.lower()).strip()
    if APPROVAL_REQUEST.search(text):
        return Unsupported("cannot approve or reject proposals", about_approval=True)
    if any(re.search(p, text) for p in DESTRUCTIVE):
        return Unsupported(
            "cannot do that: it only reads spend and proposes tickets for a person to "
            "approve; it never changes, stops or deletes anything and keeps its rules"
        )
    intent = _proposals(text) or _unit_cost(text, today) or _structured(reading)
    if intent is None and reading is None and SPEND_WORDS.search(text):
        return Unsupported(
            "cannot read spend questions without the warehouse's vocabulary catalog "
            "(is a warehouse loaded? `finops ingest FILE`)",
            spend=True,
        )
    return intent or Unsupported("cannot understand that question")
