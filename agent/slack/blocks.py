"""Block Kit for the Slack app: chat answers with their figures, approval cards and their states,
built within Slack's documented limits.

Every figure shown carries its currency, period and scope. Text from users, bills, tags, resource
names and models goes through `agent.slack.mrkdwn.escape` before it is placed in mrkdwn or in a
fallback `text`, so Slack never turns it into mentions, channel pings or links.

Every block list leaves through `fit`, the one place Block Kit's limits are enforced (Slack answers
`invalid_blocks` otherwise): at most 50 blocks, section text 1..3,000 characters, at most 10 section
fields of 2,000, header text 150, at most 10 context elements, button text 75, `action_id` and
`block_id` 255, button `value` 2,000, and no empty text. Lists are cut with "…and N more" and long
text with "… (N more characters)"; a card whose target list was cut says how many targets it has,
and `card_overflow` gives the full list to attach as a file.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.slack.mrkdwn import escape
from guardrails.approvals import Proposal
from warehouse.format import money

__all__ = [
    "APPROVE_ID",
    "LIMITS",
    "REJECT_ID",
    "REJECT_MODAL_ID",
    "answer_blocks",
    "bounded",
    "card_blocks",
    "card_overflow",
    "clip",
    "fallback",
    "fit",
    "reject_modal",
    "spend_data",
    "text_blocks",
]

APPROVE_ID = "finops_approve"
REJECT_ID = "finops_reject"
REJECT_MODAL_ID = "finops_reject_modal"
LIMITS = {
    "blocks": 50,
    "section_text": 3000,
    "fields": 10,
    "field_text": 2000,
    "header_text": 150,
    "context_elements": 10,
    "context_text": 3000,
    "button_text": 75,
    "action_id": 255,
    "block_id": 255,
    "value": 2000,
    "fallback_text": 3000,
    "modal_title": 24,
}
EMPTY = "(nothing to show)"
_TABLE_ROWS = 10
_CODE_CHARS = 1200
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters: cut with "… (N more characters)", never inside an
    escaped entity; empty or blank text becomes a placeholder (Slack refuses empty text)."""
    if not text.strip():
        return EMPTY[:limit]
    if len(text) <= limit:
        return text
    if limit < 60:
        return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"
    head = _PARTIAL_ENTITY.sub("", text[: limit - 40])
    return f"{head}… ({len(text) - len(head)} more characters)"


def bounded(items: list[str], limit: int, sep: str = ", ") -> tuple[str, int]:
    """As many of `items` as fit in `limit` characters, then "…and N more"; (text, shown)."""
    out: list[str] = []
    used = 0
    for i, item in enumerate(items):
        tail = len(f"{sep}…and {len(items) - i} more") if i < len(items) - 1 else 0
        if used + len(sep if out else "") + len(item) + tail > limit:
            break
        used += len(sep if out else "") + len(item)
        out.append(item)
    if len(out) == len(items):
        return sep.join(out), len(out)
    return sep.join([*out, f"…and {len(items) - len(out)} more"])[:limit], len(out)


def fallback(text: str) -> str:
    """A message's fallback `text` (notifications, screen readers): escaped, non-empty, bounded."""
    return clip(escape(text), LIMITS["fallback_text"])


def _code(text: str, limit: int = _CODE_CHARS) -> str:
    """Escaped text in a code block (``` inside it is neutralised)."""
    return "```" + clip(escape(text).replace("```", "ʼʼʼ"), limit) + "```"


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text, LIMITS["section_text"])}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text, LIMITS["context_text"])]}


def _fit_text(obj: dict[str, Any], limit: int) -> dict[str, Any]:
    return {**obj, "text": clip(str(obj.get("text") or ""), limit)}


def _fit_element(element: dict[str, Any]) -> dict[str, Any]:
    out = dict(element)
    if "text" in out and isinstance(out["text"], dict):
        out["text"] = _fit_text(out["text"], LIMITS["button_text"])
    if "action_id" in out:
        out["action_id"] = str(out["action_id"])[: LIMITS["action_id"]]
    if "value" in out:
        out["value"] = str(out["value"])[: LIMITS["value"]]
    return out


def _fit_block(block: dict[str, Any]) -> dict[str, Any]:
    out = dict(block)
    if "block_id" in out:
        out["block_id"] = str(out["block_id"])[: LIMITS["block_id"]]
    kind = out.get("type")
    if kind == "header":
        out["text"] = _fit_text(out.get("text") or _plain("", 1), LIMITS["header_text"])
    elif kind == "section":
        fields = [_fit_text(f, LIMITS["field_text"]) for f in out.get("fields") or []]
        if len(fields) > LIMITS["fields"]:
            more = len(fields) - LIMITS["fields"] + 1
            fields = [*fields[: LIMITS["fields"] - 1], _mrkdwn(f"…and {more} more", 100)]
        if fields:
            out["fields"] = fields
        else:
            out.pop("fields", None)
        if "text" in out or not fields:
            out["text"] = _fit_text(out.get("text") or _mrkdwn("", 1), LIMITS["section_text"])
    elif kind == "context":
        elements = [
            _fit_text(e, LIMITS["context_text"]) if "text" in e else e
            for e in out.get("elements") or []
        ] or [_mrkdwn("", 100)]
        if len(elements) > LIMITS["context_elements"]:
            more = len(elements) - LIMITS["context_elements"] + 1
            elements = [
                *elements[: LIMITS["context_elements"] - 1],
                _mrkdwn(f"…and {more} more", 100),
            ]
        out["elements"] = elements
    elif kind == "actions":
        out["elements"] = [_fit_element(e) for e in out.get("elements") or []][:25]
    return out


def fit(blocks: list[dict[str, Any]], limit: int = LIMITS["blocks"]) -> list[dict[str, Any]]:
    """`blocks` within Block Kit's limits (see the module docstring); at most `limit` blocks, the
    last of them saying how many were left out. Action blocks are kept in place."""
    fitted = [_fit_block(b) for b in blocks] or [_section("")]
    if len(fitted) <= limit:
        return fitted
    actions = [b for b in fitted if b.get("type") == "actions"][-1:]
    room = limit - 1 - len(actions)
    dropped = len(fitted) - room - len(actions)
    note = _context(f"…and {dropped} more blocks not shown")
    return [*[b for b in fitted if b.get("type") != "actions"][:room], note, *actions]


def text_blocks(text: str) -> list[dict[str, Any]]:
    """One section of text the app wrote around escaped values (escaped again: idempotent)."""
    return fit([_section(escape(text))])


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
        f"{f['dimension']}{'!=' if f.get('negate') else '='}{','.join(map(str, f['values']))}"
        for f in filters
        if isinstance(f, dict)
    ]
    return clip(escape("; ".join(parts) or "all spend").replace("`", "'"), 1000)


def _period(data: dict[str, Any]) -> str:
    period = data.get("period")
    if isinstance(period, dict):
        text = f"{period.get('since')} to {period.get('until')} ({period.get('label')})"
    else:
        text = f"{data.get('since') or 'start'} to {data.get('until') or 'latest'}"
    return clip(escape(text), 300)


def _table(data: dict[str, Any]) -> str:
    """The top rows as aligned plain text (escaped by `_code`)."""
    cur = str(data["currency"])
    by = [str(b) for b in data.get("by") or []]
    rows = data["rows"][:_TABLE_ROWS]
    lines = []
    for row in rows:
        label = " / ".join(str(row.get("dimensions", {}).get(d, "")) for d in by)
        if row.get("period"):
            label = f"{row['period']} {label}".strip()
        lines.append(((label or "total")[:80], money(_dec(row.get("cost")), cur)))
    width = max([len(label) for label, _ in lines] + [5])
    body = [f"{label:<{width}}  {amount:>16}" for label, amount in lines]
    if len(data["rows"]) > _TABLE_ROWS:
        body.append(f"…and {len(data['rows']) - _TABLE_ROWS} more rows")
    return "\n".join(body)


def answer_blocks(answer: str, data: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The answer text (escaped), then (when a spend query ran) a table of the top rows, the
    total, the period and the scope."""
    blocks = [_section(escape(answer) if answer.strip() else "(no answer)")]
    if data is not None:
        cur = str(data["currency"])
        metric = escape(str(data.get("metric", "billed")))
        if data["rows"]:
            blocks.append(_section(_code(_table(data), LIMITS["section_text"] - 6)))
        blocks.append(
            _context(
                f"*Total* {money(_dec(data['total']), cur)} · {metric} cost · "
                f"*Period* {_period(data)} · *Scope* `{_scope(data)}`"
            )
        )
    return fit(blocks)


def _who(users: str) -> str:
    """Deciders as Slack mentions when they are Slack user ids, else as escaped names."""
    names = [u.strip() for u in users.split(",") if u.strip()]
    return ", ".join(f"<@{u}>" if _SLACK_USER.match(u) else escape(u) for u in names)


def _status_line(p: Proposal) -> str:
    who = f" by {_who(p.decided_by)}" if p.decided_by else ""
    if p.status == "pending" and p.votes:
        voters = _who(",".join(v.approver for v in p.votes))
        return f":hourglass: 1 of 2 approvals ({voters}); waiting for a second approver"
    reason = f": {clip(escape(p.reason), 1500)}" if p.reason else ""
    lines = {
        "pending": ":large_yellow_circle: Pending approval",
        "approved": f":white_check_mark: Approved{who}; executing…",
        "executing": f":gear: Approved{who}; executing…",
        "done": f":white_check_mark: Approved{who}; executed",
        "failed": f":x: Approved{who}; execution failed",
        "rejected": f":no_entry: Rejected{who}{reason}",
        "expired": f":alarm_clock: Expired at {p.expires_at:%Y-%m-%d %H:%M} UTC; nothing ran",
    }
    return lines.get(p.status, escape(p.status))


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


def _targets(target: str) -> tuple[str, list[str]]:
    """`aws/ec2/i-1,i-2` → ("aws/ec2/", ["i-1", "i-2"]); a single target is a list of one."""
    prefix, _, ids = target.rpartition("/")
    items = [i for i in ids.split(",") if i] or [target]
    return (prefix + "/" if prefix else ""), items


def _target_field(p: Proposal) -> str:
    prefix, items = _targets(p.target)
    limit = LIMITS["field_text"] - 200
    shown, count = bounded([escape(i).replace("`", "'") for i in items], limit)
    head = (
        f"*Target* ({len(items)} targets; full list attached)\n"
        if count < len(items)
        else ("*Target*\n")
    )
    return head + f"`{clip(escape(prefix), 100)}{shown}`"


def card_overflow(p: Proposal) -> str | None:
    """The full target list (one per line) when the card had to cut it, else None."""
    prefix, items = _targets(p.target)
    limit = LIMITS["field_text"] - 200
    shown = bounded([escape(i) for i in items], limit)[1]
    if shown == len(items):
        return None
    return "\n".join([f"{p.id} targets ({len(items)}), {prefix}", *items]) + "\n"


def card_blocks(p: Proposal, *, note: str | None = None) -> list[dict[str, Any]]:
    """An approval card: what changes, target, evidence, saving, risk, rollback, expiry and the
    decision state; Approve / Reject buttons while the proposal can still be decided. `note` is
    app-written mrkdwn (not escaped)."""
    params = json.dumps(p.params, indent=1, sort_keys=True, default=str)
    evidence = json.dumps(p.evidence, indent=1, sort_keys=True, default=str)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"Proposal {p.id}", LIMITS["header_text"])},
        _section(f"*{clip(escape(p.summary), 2900)}*"),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Action*\n`{escape(p.action)}`", LIMITS["field_text"]),
                _mrkdwn(_target_field(p), LIMITS["field_text"]),
                _mrkdwn(
                    f"*Expected saving*\n{money(p.expected_monthly_saving, p.currency)} / month",
                    LIMITS["field_text"],
                ),
                _mrkdwn(f"*Risk*\n{escape(p.risk)}", LIMITS["field_text"]),
                _mrkdwn(f"*Owner*\n{escape(p.owner or 'unknown')}", 500),
                _mrkdwn(f"*Expires*\n{p.expires_at:%Y-%m-%d %H:%M} UTC", LIMITS["field_text"]),
            ],
        },
        _section("*What changes*\n" + _code(params)),
        _section("*Evidence*\n" + _code(evidence)),
        _section(f"*Rollback*\n{clip(escape(p.rollback), 2800)}"),
        _context(
            f"action hash `{p.action_hash[:16]}` · created by {clip(escape(p.created_by), 200)}"
        ),
    ]
    if p.result and p.status in ("done", "failed"):
        result = json.dumps(p.result, sort_keys=True, default=str)
        blocks.append(_section("*Result*\n" + _code(result, 1500)))
    blocks.append(_section(_status_line(p) + (f"\n{note}" if note else "")))
    if p.status == "pending" and not note:
        blocks.append(_buttons(p))
    return fit(blocks)


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
                "label": _plain(f"Why reject {proposal_id}?", 2000),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            }
        ],
    }
