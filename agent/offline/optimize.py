"""The offline planner's optimization questions: idle resources, rightsizing, commitments.

"Find idle EC2 instances" → `optimization_findings {"kind": "idle"}`; "which instances are
oversized?" → `{"kind": "rightsize"}`; "should we buy a Savings Plan?" → `{"kind":
"commitment"}`; "where can we save?" → everything. The answer lists the largest savings with
their rule, evidence and owner, the protected resources that were left out, and — when the
question asks for action — how to propose it: the planner never proposes a cloud change on its
own reading of a question, and nothing changes before an approver approves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from agent.offline.figures import money
from agent.offline.intents import ToolPlan
from agent.offline.spend_answers import NOT_ANSWERED

__all__ = ["OPTIMIZE_EXAMPLES", "OPTIMIZE_RENDERERS", "plan_optimize"]

OPTIMIZE_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Idle resources", "find idle EC2 instances"),
    ("Rightsizing", "which instances are oversized?"),
    ("Commitments", "should we buy a Savings Plan?"),
    ("Realized savings", "how much did we actually save, by team?"),
)

_IDLE = re.compile(r"\b(?:idle|unused|zombie|orphan\w*|unattached|forgotten)\b")
_RIGHTSIZE = re.compile(
    r"\b(?:over-?sized|right-?siz\w*|down-?siz\w*|over-?provision\w*|too big)\b"
)
_COMMIT = re.compile(r"\b(?:savings plans?|reserved instances?|reservations?|commitments?|cud)\b")
_SAVED = re.compile(
    r"\b(?:how much (?:did|have) we (?:actually |really )?saved?|realized savings?"
    r"|savings? (?:so far|realized|materiali[sz]ed)|did (?:the|our) savings? materiali[sz]e"
    r"|what did we save)\b"
)
_BY_SAVED = re.compile(r"\bby (owner|team|action|month)s?\b")
_ANY = re.compile(r"\b(?:where (?:can|could) we save|savings opportunit\w*|waste\w*|cut costs?)\b")
_SHOWN = 10


def plan_optimize(question: str) -> ToolPlan | None:
    """An `optimization_findings` call for a savings question, or None when it is not one."""
    text = question.lower()
    if _SAVED.search(text):
        by = _BY_SAVED.search(text)
        group = {"team": "owner"}.get(by[1], by[1]) if by else "owner"
        return ToolPlan("savings_report", {"by": group})
    kind = (
        "idle"
        if _IDLE.search(text)
        else "rightsize"
        if _RIGHTSIZE.search(text)
        else "commitment"
        if _COMMIT.search(text)
        else None
    )
    if kind is None and not _ANY.search(text):
        return None
    args: dict[str, Any] = {"top": 40} if kind is None else {"kind": kind, "top": 40}
    return ToolPlan("optimization_findings", args)


def _flat(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence(f: Mapping[str, Any]) -> str:
    parts = []
    for e in f.get("evidence", [])[:2]:
        value = e.get("value")
        shown = f"{value:,.2f}{e.get('unit') or ''}" if isinstance(value, int | float) else ""
        parts.append(
            f"{e['metric']} {e['statistic']} {shown}".strip()
            + (f" (threshold {e['threshold']})" if e.get("threshold") else "")
        )
    return "; ".join(parts)


def _line(f: Mapping[str, Any], cur: str) -> str:
    resource = f.get("resource_id") or f.get("resource_name") or "?"
    name = f.get("resource_name")
    label = _flat(resource, 70) + (f" ({_flat(name, 40)})" if name and name != resource else "")
    change = f"{f.get('current') or '?'} → {f['recommended']}" if f.get("recommended") else ""
    saving = f["saving"]
    figure = (
        f"saves {money(saving['monthly'], cur)}/month ({saving['source']})"
        if saving.get("monthly") is not None
        else "saving unknown"
    )
    why = _evidence(f)
    return (
        f"- [{f['kind']}] {label}: {f['action']}"
        + (f" {change}" if change else "")
        + f"; {figure}; rule {f['rule']}"
        + (f"; evidence {why}" if why else "")
        + f"; owner {_flat(f.get('owner') or 'unknown', 40)}; finding {f['id']}"
    )


def _findings(data: Mapping[str, Any], _default: str | None) -> str:
    cur, findings = data["currency"], data["findings"]
    kinds = ", ".join(data.get("kinds") or []) or "all kinds"
    head = (
        f"Savings opportunities ({kinds}; bills {data.get('bills_since')}.."
        f"{data.get('bills_until')}, utilization to {data.get('utilization_until')}, "
        f"{data.get('metric', 'billed')} cost, {cur})"
    )
    kinds_asked = set(data.get("kinds") or [])
    needs_metrics = not kinds_asked or kinds_asked & {"idle", "rightsize"}
    if not findings and needs_metrics and data.get("utilization_until") is None:
        return (
            f"{NOT_ANSWERED} idle and rightsizing findings need utilization metrics, and none "
            "have been collected yet (bills alone cannot show that a resource is idle). Run "
            "`finops collect` (CloudWatch, Kubernetes, Prometheus), then ask again."
        )
    if not findings:
        return f"{head}: none found."
    total = sum((Decimal(str(f["saving"]["monthly"] or 0)) for f in findings), Decimal(0))
    lines = [
        f"{head}: {data.get('findings_total', len(findings))} finding(s), about "
        f"{money(total, cur)}/month in those listed."
    ]
    lines += [_line(f, cur) for f in findings[:_SHOWN]]
    if len(findings) > _SHOWN:
        lines.append(f"- … and {len(findings) - _SHOWN} more (finops recommend).")
    skipped = data.get("skipped_protected") or []
    if skipped:
        names = ", ".join(_flat(s.get("resource_name") or s["resource_id"], 40) for s in skipped)
        lines.append(f"Protected (finops:protected=true), never proposed: {names}.")
    lines.append(
        "To act, ask to stop / resize / scale a finding by its id; that creates a proposal and "
        "nothing changes until an allow-listed approver approves it."
    )
    return "\n".join(lines)


def _saved(data: Mapping[str, Any], _default: str | None) -> str:
    cur, total = data["currency"], data["total"]
    head = (
        f"Realized savings of executed actions ({data['metric']} cost, {cur}; baseline "
        f"{data['baseline_days']} full days before each action, measured after "
        f"{data['min_post_days']} full days of bills, as of {str(data['as_of'])[:10]})"
    )
    if not total["resources"]:
        return f"{head}: no executed saving action yet."
    lines = [
        f"{head}: measured {money(total['measured_monthly'], cur)}/month against "
        f"{money(total['estimated_of_measured'], cur)}/month estimated for the same resources; "
        f"{money(total['realized'], cur)} saved so far; {total['resources']} resource(s) in "
        f"{total['proposals']} proposal(s) ({_statuses(total['statuses'])})."
    ]
    for g in data["groups"][:8]:
        lines.append(
            f"- {_flat(g['key'], 40)}: measured {money(g['measured_monthly'], cur)}/month vs "
            f"estimated {money(g['estimated_of_measured'], cur)}; realized "
            f"{money(g['realized'], cur)} ({_statuses(g['statuses'])})"
        )
    return "\n".join(lines)


def _statuses(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


OPTIMIZE_RENDERERS: dict[str, Callable[[Mapping[str, Any], str | None], str]] = {
    "optimization_findings": _findings,
    "savings_report": _saved,
}
