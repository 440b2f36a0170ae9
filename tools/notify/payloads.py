"""Alert → wire format: Slack Block Kit (webhook or the app's chat.postMessage), PagerDuty Events
API v2, signed webhook JSON, e-mail.

Pure functions (no I/O), so each shape is tested on its own. Text from cost data (titles,
resource names, tags) is data: it is escaped for Slack mrkdwn (`<!channel>` cannot ping anyone)
and for HTML, and newlines are removed from e-mail headers.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from tools.notify.models import Alert

__all__ = [
    "email_message",
    "pagerduty_event",
    "sign",
    "slack_app_message",
    "slack_message",
    "verify_signature",
    "webhook_body",
]

_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
_PD_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


def _label(alert: Alert) -> str:
    return "RESOLVED" if alert.event == "resolve" else alert.severity.upper()


def _scope_text(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in alert.scope.items())


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: Alert) -> dict[str, Any]:
    """Incoming-webhook / chat.postMessage payload: header, text with figure fields, evidence
    as context, links as buttons; `text` is the notification fallback."""
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{_label(alert)}"},
        {"type": "mrkdwn", "text": f"*Owner*\n{_mrkdwn(alert.owner or 'unassigned')}"},
    ]
    fields += [
        {"type": "mrkdwn", "text": f"*{_mrkdwn(f.label)}*\n{_mrkdwn(f.render())}"}
        for f in alert.figures
    ]
    section: dict[str, Any] = {"type": "section", "fields": fields[:10]}
    body = alert.text or alert.title
    if alert.scope:
        body += f"\nScope: {_scope_text(alert)}"
    section["text"] = {"type": "mrkdwn", "text": _mrkdwn(body)[:3000]}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        section,
    ]
    context = [{"type": "mrkdwn", "text": _mrkdwn(line)} for line in alert.evidence[:9]]
    context.append({"type": "mrkdwn", "text": f"{alert.kind} · `{_mrkdwn(alert.dedupe_key)}`"})
    blocks.append({"type": "context", "elements": context})
    if alert.links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": link.text},
                        "url": link.url,
                    }
                    for link in alert.links
                ],
            }
        )
    fallback = f"{_EMOJI[alert.severity]} [{_label(alert)}] {_mrkdwn(alert.title)}"
    return {"text": fallback, "blocks": blocks}


def slack_app_message(alert: Alert, channel: str) -> dict[str, Any]:
    """`chat.postMessage` arguments for the Slack app's bot: the same Block Kit as the webhook
    (severity, owner, figures with currency and period, scope, evidence), addressed to a channel
    id, with link previews off (an alert's links are for clicking, not unfurling)."""
    return {
        "channel": channel,
        **slack_message(alert),
        "unfurl_links": False,
        "unfurl_media": False,
    }


def pagerduty_event(alert: Alert, routing_key: str) -> dict[str, Any]:
    """An Events API v2 event; `dedup_key` ties trigger and resolve to one PagerDuty incident."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": alert.event,
        "dedup_key": alert.dedupe_key,
    }
    if alert.event == "resolve":
        return event
    details: dict[str, Any] = {
        "alert_id": alert.id,
        "kind": alert.kind,
        "owner": alert.owner,
        "text": alert.text,
        "scope": alert.scope,
        "figures": {f.label: f.render() for f in alert.figures},
        "evidence": alert.evidence,
    }
    payload: dict[str, Any] = {
        "summary": f"[{_label(alert)}] {alert.title}"[:1024],
        "source": alert.source,
        "severity": _PD_SEVERITY[alert.severity],
        "class": alert.kind,
        "custom_details": details,
    }
    if alert.owner:
        payload["group"] = alert.owner
    if alert.created_at is not None:
        payload["timestamp"] = alert.created_at.isoformat()
    event["payload"] = payload
    event["client"] = "Agentic FinOps"
    if alert.links:
        event["links"] = [{"href": link.url, "text": link.text} for link in alert.links]
    return event


def webhook_body(alert: Alert, *, channel: str, sent_at: datetime) -> bytes:
    """The exact bytes POSTed (and signed): `{"version": 1, "delivery": …, "alert": {…}}`."""
    document = {
        "version": 1,
        "delivery": f"{alert.dedupe_key}/{channel}/{alert.event}",
        "sent_at": sent_at.isoformat(),
        "alert": alert.model_dump(mode="json"),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `b"<timestamp>." + body` with the shared secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: datetime,
    tolerance_seconds: float = 300,
) -> bool:
    """What a receiver does: recompute over the raw body, compare in constant time, and refuse
    timestamps outside `tolerance_seconds` of its own clock (replays)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def _text_body(alert: Alert) -> str:
    lines = [f"[{_label(alert)}] {alert.title}", ""]
    if alert.text:
        lines += [alert.text, ""]
    lines.append(f"Owner: {alert.owner or 'unassigned'}")
    if alert.scope:
        lines.append(f"Scope: {_scope_text(alert)}")
    lines += [f"{f.label}: {f.render()}" for f in alert.figures]
    if alert.evidence:
        lines += ["", "Evidence:", *[f"- {e}" for e in alert.evidence]]
    if alert.links:
        lines += ["", *[f"{link.text}: {link.url}" for link in alert.links]]
    lines += ["", f"{alert.kind} alert {alert.dedupe_key} from {alert.source}"]
    return "\n".join(lines) + "\n"


def _html_body(alert: Alert) -> str:
    e = html.escape
    rows = [("Severity", _label(alert)), ("Owner", alert.owner or "unassigned")]
    if alert.scope:
        rows.append(("Scope", _scope_text(alert)))
    rows += [(f.label, f.render()) for f in alert.figures]
    table = "".join(f'<tr><th align="left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in rows)
    parts = [f"<h2>{e(alert.title)}</h2>"]
    if alert.text:
        parts.append(f"<p>{e(alert.text)}</p>")
    parts.append(f"<table>{table}</table>")
    if alert.evidence:
        items = "".join(f"<li>{e(x)}</li>" for x in alert.evidence)
        parts.append(f"<h3>Evidence</h3><ul>{items}</ul>")
    if alert.links:
        links = " · ".join(
            f'<a href="{e(link.url, quote=True)}">{e(link.text)}</a>' for link in alert.links
        )
        parts.append(f"<p>{links}</p>")
    parts.append(f"<p><small>{e(alert.kind)} alert {e(alert.dedupe_key)}</small></p>")
    return "<html><body>" + "".join(parts) + "</body></html>\n"


def email_message(alert: Alert, *, sender: str, to: list[str], sent_at: datetime) -> EmailMessage:
    """multipart/alternative: a plain-text part and a simple HTML part."""
    msg = EmailMessage()
    msg["Subject"] = f"[{_label(alert)}] {alert.title}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    msg["X-Finops-Alert"] = alert.dedupe_key.replace("\r", " ").replace("\n", " ")
    msg.set_content(_text_body(alert))
    msg.add_alternative(_html_body(alert), subtype="html")
    return msg
