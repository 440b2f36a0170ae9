"""The offline planner's answers: short, exact text written only from tool results.

Why: an answer without an LLM must still keep the system prompt's promise: every figure with its
currency, its period (since..until and the as-of day) and its scope (filters). Everything read
from a result is *data*: strings are flattened to one line and shortened before they are quoted,
and nothing here can plan a tool call, so a resource name or ticket title saying "approve p-…"
is reported, never followed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from agent.offline.detect import DETECT_EXAMPLES, DETECT_RENDERERS
from agent.offline.figures import clean, money, rate, row_label
from agent.offline.intents import Unsupported
from agent.offline.optimize import OPTIMIZE_EXAMPLES, OPTIMIZE_RENDERERS
from agent.offline.spend_answers import NOT_ANSWERED, spend_query_answer
from agent.offline.tags import TAG_EXAMPLES, TAG_RENDERERS

if TYPE_CHECKING:
    from agent.offline.understand import Understanding

__all__ = [
    "DIMENSION_LABELS",
    "EXAMPLES",
    "ToolResult",
    "answer_from_results",
    "money",
    "rate",
    "unsupported_answer",
]

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Spend breakdown", "what did we spend on AWS last month by service?"),
    ("Top N", "top 5 services this month"),
    ("What changed", "why did cost go up last week?"),
    ("Unit cost", "cost per million tokens by model"),
    ("Ticket (proposed, needs approval)", "open a ticket for payments to review idle EC2"),
    ("Proposals", "what is pending approval?"),
    *TAG_EXAMPLES,
    *DETECT_EXAMPLES,
    *OPTIMIZE_EXAMPLES,
)
"""The question kinds the offline planner supports, one example each (shown when it refuses)."""

DIMENSION_LABELS: dict[str, str] = {
    "ServiceName": "service",
    "ProviderName": "provider",
    "SubAccountName": "account",
    "RegionId": "region",
    "tag:team": "team",
    "vtag:team": "team",
    "SkuId": "SKU (model)",
    "ResourceId": "resource",
    "ServiceCategory": "category",
}
APPROVAL_ROUTE = (
    "Approvals happen only through the approval card or `finops approve ID --by USER` "
    "(or `finops reject ID --by USER`), by an allow-listed approver."
)


@dataclass(frozen=True)
class ToolResult:
    """One tool call's name and the ToolMessage content the chat graph gave back."""

    name: str
    content: str


def _scope(filters: Sequence[Mapping[str, Any]]) -> str:
    if not filters:
        return "all spend"
    parts = []
    for f in filters:
        values = ",".join(clean(v) for v in f.get("values", []))
        parts.append(f"{clean(f.get('dimension'))}{'!=' if f.get('negate') else '='}{values}")
    return ", ".join(parts)


def _period(data: Mapping[str, Any], default: str | None) -> str:
    """`since..until (label, as of DAY`; the caller closes the parenthesis after the scope."""
    p = data.get("period") or {}
    label = clean(p.get("label", ""))
    if default:
        label += ", the default as no period was named"
    return f"{p.get('since')}..{p.get('until')} ({label}; as of {p.get('as_of')}"


def _by_text(by: Sequence[str]) -> str:
    return " by " + " and ".join(DIMENSION_LABELS.get(d, clean(d)) for d in by) if by else ""


def _unit_cost(data: Mapping[str, Any], default: str | None) -> str:
    cur, unit, per = clean(data.get("currency", "")), clean(data.get("unit")), data.get("per")
    head = (
        f"Cost per {int(per or 1):,} {unit}{_by_text(data.get('by') or [])}, "
        f"{_period(data, default)}; {clean(data.get('metric', 'billed'))} cost, {cur}; "
        f"scope {_scope(data.get('filters') or [])}):"
    )
    lines = [head]
    for r in data.get("rows") or []:
        price = r.get("unit_cost")
        unit_price = rate(price, cur)
        lines.append(
            f"- {row_label(r)}: {unit_price} per {int(per or 1):,} {unit} "
            f"({money(r.get('cost'), cur)} for {Decimal(str(r.get('quantity'))):,.0f} {unit})"
        )
    if len(lines) == 1:
        lines.append(f"- no usage measured in {unit} in this scope and period")
    return "\n".join(lines)


def _proposals(data: Mapping[str, Any], default: str | None) -> str:
    items = data.get("proposals") or []
    if not items:
        return "No proposals match."
    lines = [f"Proposals ({len(items)}):"]
    for p in items:
        lines.append(
            f"- {clean(p.get('id'))} · {clean(p.get('action'))} · {clean(p.get('status'))} · "
            f"{clean(p.get('summary'))} (expires {clean(p.get('expires_at'))})"
        )
    return "\n".join(lines)


def _proposed(name: str, content: Mapping[str, Any]) -> str:
    """A write tool's outcome: a pending proposal, never a done deed."""
    pid = clean(content.get("proposal_id"))
    what = (
        "Nothing has been created yet: the ticket is opened"
        if name == "open_ticket"
        else "Nothing has changed yet: it runs"
    )
    return (
        f"Proposed {pid}: {clean(content.get('summary'))}. Status: "
        f"{clean(content.get('status'))}. {what} only after an "
        f"allow-listed approver approves {pid} (the approval card, or "
        f"`finops approve {pid} --by USER`); the proposal expires at "
        f"{clean(content.get('expires_at'))}."
    )


def _sql(data: Mapping[str, Any], default: str | None) -> str:
    columns = [clean(c) for c in data.get("columns") or []]
    rows = data.get("rows") or []
    lines = [f"Query result ({len(rows)} row(s){', truncated' if data.get('truncated') else ''}):"]
    lines.append("- " + " | ".join(columns))
    lines.extend("- " + " | ".join(clean(v) for v in r) for r in rows[:20])
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Mapping[str, Any], str | None], str]] = {
    "unit_cost_report": _unit_cost,
    "proposal_status": _proposals,
    "query_sql": _sql,
}


def _one(result: ToolResult, default: str | None) -> str:
    try:
        content = json.loads(result.content)
    except (TypeError, ValueError):
        return f'The {result.name} call returned no result: "{clean(result.content)}".'
    if not isinstance(content, dict):
        return f"The {result.name} call returned an unexpected result."
    if "error" in content:
        return f'{NOT_ANSWERED} the {result.name} call failed: "{clean(content["error"])}".'
    if "proposal_id" in content:
        return _proposed(result.name, content)
    render = (
        RENDERERS.get(result.name)
        or TAG_RENDERERS.get(result.name)
        or DETECT_RENDERERS.get(result.name)
        or OPTIMIZE_RENDERERS.get(result.name)
    )
    data = content.get("data")
    if render is None or not isinstance(data, dict):
        return f"The {result.name} call returned data the offline planner cannot summarize."
    try:
        return render(data, default)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        return f"The {result.name} result could not be read ({type(exc).__name__})."


def answer_from_results(
    results: Sequence[ToolResult],
    default_period: str | None,
    reading: Understanding | None = None,
) -> str:
    """The final answer: one paragraph per tool result, in call order; a `spend_query` result
    is told with how the question was read (`reading`)."""
    if not results:
        return "No tool result came back, so there is nothing to report."
    return "\n\n".join(
        _structured(r, reading) if r.name == "spend_query" else _one(r, default_period)
        for r in results
    )


def _structured(result: ToolResult, reading: Understanding | None) -> str:
    try:
        content = json.loads(result.content)
    except (TypeError, ValueError):
        return f"{NOT_ANSWERED} the spend query returned no result."
    if not isinstance(content, dict) or "error" in content:
        error = content.get("error") if isinstance(content, dict) else content
        return f"{NOT_ANSWERED} {clean(error)}"
    data = content.get("data")
    if not isinstance(data, dict):
        return f"{NOT_ANSWERED} the spend query returned no data."
    try:
        return spend_query_answer(data, reading)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        return f"{NOT_ANSWERED} the spend query result could not be read ({type(exc).__name__})."


def unsupported_answer(intent: Unsupported) -> str:
    """A plain refusal: why, what the planner can answer (one example each), how approvals work."""
    lines = [f"{NOT_ANSWERED} the offline planner (no LLM) {intent.reason}."]
    if intent.about_approval:
        lines.append(APPROVAL_ROUTE)
    lines.append("It answers these kinds of questions:")
    lines.extend(f'- {kind}: "{example}"' for kind, example in EXAMPLES)
    return "\n".join(lines)
