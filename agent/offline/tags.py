"""The offline planner's allocation questions: coverage, unallocated candidates, explain.

"How much of our spend is unallocated?" → `tags_coverage`; "which resources have no team?" →
`tags_candidates`; "why is i-0abc allocated to payments?" → `tags_explain`. Answers are written
from the tool results only, with currency and period on every figure, like the other answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from agent.offline.figures import money
from agent.offline.intents import ToolPlan
from warehouse.format import percent

__all__ = ["TAG_EXAMPLES", "TAG_RENDERERS", "plan_tags"]

TAG_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Allocation coverage", "how much of our spend is unallocated?"),
    ("Unallocated spend", "which resources have no team?"),
    ("Why an owner", "why is i-0bd7360295ff65eca allocated to ml-platform?"),
)

_COVERAGE = re.compile(
    r"\b(?:unallocated|allocation coverage|tag(?:ging)? coverage|untagged|allocated)\b"
)
_LISTING = re.compile(r"\b(?:which|what|list|show|top|largest|biggest)\b")
_THINGS = re.compile(r"\b(?:resources?|accounts?|spend|costs?)\b")
_UNOWNED = re.compile(
    r"\b(?:no (?:team|owner)|unallocated|untagged|without (?:a |an )?(?:team|owner))\b"
)
_EXPLAIN = re.compile(r"\b(?:why|explain|how come|who owns)\b")
_RESOURCE = re.compile(
    r"`([^`]{1,300})`|\"([^\"]{1,300})\"|\b(arn:[\w:/.+=@-]+|(?:i|vol|db|eni|sg|snap|ami)-[0-9a-z]{6,})\b"
)
_VTAG = re.compile(r"\b(team|owner|environment|env|cost[ _-]?center|feature|agent)s?\b")
_VTAG_NAMES = {"owner": "team", "env": "environment", "cost center": "cost_center"}


def _vtag(text: str) -> str:
    found = _VTAG.search(text)
    if not found:
        return "team"
    word = re.sub(r"[ _-]", " ", found[1])
    return _VTAG_NAMES.get(word, word.replace(" ", "_"))


def plan_tags(question: str) -> ToolPlan | None:
    """A tool call for an allocation question, or None when it is not one."""
    text = question.strip()
    lower = text.lower()
    resource = _RESOURCE.search(text)
    if resource and _EXPLAIN.search(lower):
        rid = next(g for g in resource.groups() if g)
        return ToolPlan("tags_explain", {"resource_id": rid})
    if all(p.search(lower) for p in (_LISTING, _THINGS, _UNOWNED)) and "how much" not in lower:
        return ToolPlan("tags_candidates", {"vtag": _vtag(lower), "top": 10})
    if _COVERAGE.search(lower):
        return ToolPlan("tags_coverage", {})
    return None


def _share(part: Any, whole: Any) -> str:
    """`part` as a percentage of `whole`; `n/a` when `whole` is zero."""
    w = Decimal(str(whole))
    return percent(Decimal(str(part)) / w * 100) if w else "n/a"


def _text(value: Any, limit: int = 120) -> str:
    flat = " ".join(str(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _coverage(data: Mapping[str, Any], _default: str | None) -> str:
    cur = data["currency"]
    since, until = data.get("since"), data.get("until")
    period = f"{since or 'first month'}..{until or 'latest'}" if since or until else "all history"
    lines = [f"Allocation coverage, billed cost, {cur}, {period}:"]
    for t in data["tags"]:
        by = t["by_provenance"]
        parts = ", ".join(
            f"{p} {_share(by[p], t['total'])}" for p in ("tag", "rule", "inferred", "shared")
        )
        lines.append(
            f"- {t['vtag']}: {_share(t['allocated'], t['total'])} of {money(t['total'], cur)} "
            f"allocated ({parts}); unallocated {money(by['default'], cur)}."
        )
    return "\n".join(lines)


def _candidates(data: Mapping[str, Any], _default: str | None) -> str:
    cur = data["currency"]
    lines = [
        f"Unallocated {data['vtag']} spend: {money(data['unallocated'], cur)} of "
        f"{money(data['total'], cur)} (billed, all history). Largest:"
    ]
    for c in data["candidates"]:
        what = _text(c.get("resource_name") or c.get("resource_id") or "(no resource id)", 60)
        guess = (
            f"best guess {_text(c['suggested'], 40)} at {float(c['confidence']):.2f} "
            f"({_text(c.get('reason') or '', 90)})"
            if c.get("suggested")
            else "no signal in the tagged population"
        )
        lines.append(
            f"- {_text(c.get('provider') or '', 30)} / {_text(c.get('account') or '', 40)} / "
            f"{what}: {money(c['cost'], cur)}; {guess}"
        )
    return "\n".join(lines)


def _explain(data: Mapping[str, Any], _default: str | None) -> str:
    cur = data["currency"]
    lines = [
        f"Allocation of {_text(data['resource_id'], 80)} ({money(data['cost'], cur)} billed, "
        "all history):"
    ]
    for d in data["decisions"]:
        why = d.get("detail") or (
            f"no rule matched; best guess {d['best_guess']}" if d.get("best_guess") else "no signal"
        )
        lines.append(
            f"- {d['vtag']} = {_text(d['value'], 60)} ({d['provenance']}: {_text(why)}), "
            f"{money(d['cost'], cur)}"
        )
    return "\n".join(lines)


TAG_RENDERERS: dict[str, Callable[[Mapping[str, Any], str | None], str]] = {
    "tags_coverage": _coverage,
    "tags_candidates": _candidates,
    "tags_explain": _explain,
}
