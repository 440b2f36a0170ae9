"""Block Kit for the Slack app: chat answers with their figures, approval cards and their states.

Every figure shown carries its currency, period and scope. Text from bills, tags or resource
names is shown inside code spans or blocks, so Slack never turns it into mentions or links.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from guardrails.approvals import Proposal
from warehouse.format import money

__all__ = [
    "APPROVE_ID",
    "REJECT_ID",
    "REJECT_MODAL_ID",
    "answer_blocks",
    "card_blocks",
    "reject_modal",
    "spend_data",
    "text_blocks",
]

APPROVE_ID = "finops_approve"
REJECT_ID = "finops_reject"
REJECT_MODAL_ID = "finops_reject_modal"
_MAX_TEXT = 2900
_TABLE_ROWS = 10


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:_MAX_TEXT]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_MAX_TEXT]}]}


def _code(text: str) -> str:
    return "```" + text.replace("```", "ʼʼʼ")[: _MAX_TEXT - 8] + "```"


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [_section(text)]


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def spend_data(outcomes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last successful spend-like tool result (rows with a cost, a total and a currency)."""
    for outcome in reversed(outcomes):
        data = (outcome.get("content") or {}).get("data")
        if (
            outcome.get("ok")
            and isinstance(data, dict)
            and isinstance(data.get("rows"), list)
            and "total" in data
            and "currency" in data
        ):
            return {**data, "tool": outcome.get("name")}
    return None


def _scope(data: dict[str, Any]) -> str:
    filters = data.get("filters") or []
    parts = [
        f"{f['dimension']}{'!=' if f.get('negate') else '='}{','.join(f['values'])}"
        for f in filters
        if isinstance(f, dict)
    ]
    return "; ".join(parts) or "all spend"


def _period(data: dict[str, Any]) -> str:
    period = data.get("period")
    if isinstance(period, dict):
        return f"{period.get('since')} to {period.get('until')} ({period.get('label')})"
    return f"{data.get('since') or 'start'} to {data.get('until') or 'latest'}"


def _table(data: dict[str, Any]) -> str:
    cur = str(data["currency"])
    by = [str(b) for b in data.get("by") or []]
    rows = data["rows"][:_TABLE_ROWS]
    lines = []
    for row in rows:
        label = " / ".join(str(row.get("dimensions", {}).get(d, "")) for d in by)
        if row.get("period"):
            label = f"{row['period']} {label}".strip()
        lines.append((label or "total", money(_dec(row.get("cost")), cur)))
    width = max([len(label) for label, _ in lines] + [5])
    body = [f"{label:<{width}}  {amount:>16}" for label, amount in lines]
    if len(data["rows"]) > _TABLE_ROWS:
        body.append(f"… {len(data['rows']) - _TABLE_ROWS} more rows")
    return "\n".join(body)


def answer_blocks(answer: str, data: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The answer text, then (when a spend query ran) a table of the top rows, the total, the
    period and the scope."""
    blocks = [_section(answer or "(no answer)")]
    if data is None:
        return blocks
    cur = str(data["currency"])
    metric = data.get("metric", "billed")
    if data["rows"]:
        blocks.append(_section(_code(_table(data))))
    blocks.append(
        _context(
            f"*Total* {money(_dec(data['total']), cur)} · {metric} cost · "
            f"*Period* {_period(data)} · *Scope* `{_scope(data)}`"
        )
    )
    return blocks


def _status_line(p: Proposal) -> str:
    who = (
        f" by {', '.join(f'<@{u.strip()}>' for u in p.decided_by.split(','))}"
        if (p.decided_by)
        else ""
    )
    if p.status == "pending" and p.votes:
        voters = ", ".join(f"<@{v.approver}>" for v in p.votes)
        return f":hourglass: 1 of 2 approvals ({voters}); waiting for a second approver"
    lines = {
        "pending": ":large_yellow_circle: Pending approval",
        "approved": f":white_check_mark: Approved{who}; executing…",
        "executing": f":gear: Approved{who}; executing…",
        "done": f":white_check_mark: Approved{who}; executed",
        "failed": f":x: Approved{who}; execution failed",
        "rejected": f":no_entry: Rejected{who}" + (f": {p.reason}" if p.reason else ""),
        "expired": f":alarm_clock: Expired at {p.expires_at:%Y-%m-%d %H:%M} UTC; nothing ran",
    }
    return lines.get(p.status, p.status)


def _buttons(p: Proposal) -> dict[str, Any]:
    value = json.dumps({"p": p.id, "h": p.action_hash})
    return {
        "type": "actions",
        "block_id": f"finops_card:{p.id}",
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ID,
                "style": "primary",
                "value": value,
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": REJECT_ID,
                "style": "danger",
                "value": value,
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    }


def card_blocks(p: Proposal, *, note: str | None = None) -> list[dict[str, Any]]:
    """An approval card: what changes, target, evidence, saving, risk, rollback, expiry and the
    decision state; Approve / Reject buttons while the proposal can still be decided."""
    params = json.dumps(p.params, indent=1, sort_keys=True, default=str)
    evidence = json.dumps(p.evidence, indent=1, sort_keys=True, default=str)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Proposal {p.id}"[:150]}},
        _section(f"*{p.summary}*"),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Action*\n`{p.action}`"},
                {"type": "mrkdwn", "text": f"*Target*\n`{p.target}`"},
                {
                    "type": "mrkdwn",
                    "text": f"*Expected saving*\n"
                    f"{money(p.expected_monthly_saving, p.currency)} / month",
                },
                {"type": "mrkdwn", "text": f"*Risk*\n{p.risk}"},
                {"type": "mrkdwn", "text": f"*Owner*\n{p.owner or 'unknown'}"},
                {"type": "mrkdwn", "text": f"*Expires*\n{p.expires_at:%Y-%m-%d %H:%M} UTC"},
            ],
        },
        _section("*What changes*\n" + _code(params[:1200])),
        _section("*Evidence*\n" + _code(evidence[:1200])),
        _section(f"*Rollback*\n{p.rollback}"),
        _context(f"action hash `{p.action_hash[:16]}` · created by {p.created_by}"),
    ]
    if p.result and p.status in ("done", "failed"):
        result = json.dumps(p.result, sort_keys=True, default=str)
        blocks.append(_section("*Result*\n" + _code(result[:1500])))
    blocks.append(_section(_status_line(p) + (f"\n{note}" if note else "")))
    if p.status == "pending" and not note:
        blocks.append(_buttons(p))
    return blocks


def reject_modal(proposal_id: str, metadata: dict[str, str]) -> dict[str, Any]:
    """The modal asking a rejecting approver for a reason."""
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL_ID,
        "private_metadata": json.dumps({**metadata, "p": proposal_id}),
        "title": {"type": "plain_text", "text": "Reject proposal"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": f"Why reject {proposal_id}?"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            }
        ],
    }
