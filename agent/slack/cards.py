"""Approval cards: posted for every pending proposal, decided by button, kept up to date.

`post_pending_cards` is an outbox over the ledger: whoever created a proposal (chat, the sweep,
the CLI) it gets one card per channel (the approvals channel, and its owner's channel when
known), claimed in the state store first so two replicas never post it twice; cards whose
proposal changed elsewhere (decided on the CLI, expired) are updated to say so. A card whose
target list was cut gets the full list as a file in its thread. A card Slack refuses for good
(`invalid_blocks`, `msg_too_long`, …) is reported once (to its requester when that is a Slack
user, else in the channel) and never retried; other errors (rate limits, outages) retry next pass.

A click is acknowledged by Bolt before any of this runs. The decision goes through the ledger
(allow-list, two-person rule, the hash shown on the card, expiry, at most once); then the card
shows who decided, and after the action graph ran, the execution result. A user without the
approver role for that action type gets an ephemeral refusal (audited) and nothing changes.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from agent.slack.blocks import card_blocks, card_overflow, fallback, reject_modal
from agent.slack.mrkdwn import escape
from agent.slack.services import Services
from guardrails.approvals import ApprovalError, Proposal

__all__ = [
    "handle_approve",
    "handle_reject_click",
    "handle_reject_submit",
    "post_pending_cards",
    "refresh_cards",
]

log = logging.getLogger("finops.slack")
SUPERSEDED = (
    ":warning: Superseded: this proposal changed since the card was posted; nothing ran. "
    "Review the current proposal before deciding."
)
# Errors that the same request will always get again: the card is not retried.
PERMANENT = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments",
     "invalid_arguments", "missing_scope", "channel_not_found", "not_in_channel", "is_archived"}
)  # fmt: skip


def _channels(services: Services, p: Proposal) -> list[str]:
    channels = [services.slack.approvals_channel] if services.slack.approvals_channel else []
    owner = services.slack.owner_channels.get(p.owner or "")
    if owner and owner not in channels:
        channels.append(owner)
    return channels


def post_pending_cards(services: Services) -> list[str]:
    """Post a card for each pending proposal that has none yet; return their ids.

    Also expires due proposals and updates cards whose proposal changed since they were shown.
    """
    ledger = services.runtime.ledger
    ledger.expire_due()
    posted: list[str] = []
    for p in reversed(ledger.proposals("pending")):
        for channel in _channels(services, p):
            if not services.state.claim_card(p.id, channel):
                continue
            ts = _post_card(services, p, channel)
            if ts is not None:
                posted.append(p.id)
    refresh_cards(services)
    return posted


def _post_card(services: Services, p: Proposal, channel: str) -> str | None:
    """Post one claimed card (and its full target list when cut); its ts, or None."""
    try:
        sent = services.client.chat_postMessage(
            channel=channel, text=fallback(f"Proposal {p.id}: {p.summary}"), blocks=card_blocks(p)
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("card for %s not posted: %s", p.id, error)
        if error in PERMANENT:
            services.state.refuse_card(p.id, channel, error)
            _report_refused(services, p, channel, error)
        else:
            services.state.release_card(p.id, channel)
        return None
    ts = str(sent["ts"])
    services.state.set_card(p.id, channel, ts, p.status)
    full = card_overflow(p)
    if full is not None:
        try:
            services.client.files_upload_v2(
                channel=channel, thread_ts=ts, content=full, filename=f"{p.id}-targets.txt",
                title=f"{p.id}: all targets", initial_comment="The card's full target list.",
            )  # fmt: skip
        except SlackApiError as exc:
            log.warning("target list of %s not attached: %s", p.id, exc.response.get("error"))
    return ts


def _report_refused(services: Services, p: Proposal, channel: str, error: str) -> None:
    """Tell the requester (a Slack user) or the channel, once, that the card cannot be shown."""
    text = (
        f":warning: Slack refused the approval card of {p.id} ({escape(error)}): "
        f"{escape(p.summary[:300])}. Nothing ran; decide it with `finops approve {p.id}` or "
        f"`finops reject {p.id}` on the command line."
    )
    user = p.created_by.removeprefix("slack:")
    target = user if re.fullmatch(r"[UW][A-Z0-9]{2,}", user) else channel
    services.refuse(user, "card_refused", text, proposal_id=p.id, error=error)
    try:
        services.client.chat_postMessage(channel=target, text=fallback(text))
    except SlackApiError as exc:
        log.warning("refused card of %s not reported: %s", p.id, exc.response.get("error"))


def refresh_cards(services: Services) -> int:
    """Update every card whose proposal's status differs from what it shows; return how many."""
    changed = 0
    for card in services.state.cards():
        p = services.runtime.ledger.get(card.proposal_id)
        if p.status != card.shown_status and card.ts:
            _show(services, p, [(card.channel, card.ts)])
            changed += 1
    return changed


def _show(
    services: Services, p: Proposal, extra: list[tuple[str, str]], note: str | None = None
) -> None:
    """Update all of `p`'s cards (and the clicked one) to its current state."""
    targets = {(c.channel, c.ts) for c in services.state.cards(p.id) if c.ts} | set(extra)
    blocks = card_blocks(p, note=note)
    for channel, ts in sorted(targets):
        services.update(channel, ts, fallback(f"Proposal {p.id}: {p.status}"), blocks)
        services.state.set_card(p.id, channel, ts, p.status)


def _click(body: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(user, proposal id, seen hash, channel, message ts) of a button click."""
    value = json.loads(body["actions"][0]["value"])
    container = body.get("container") or {}
    channel = container.get("channel_id") or body["channel"]["id"]
    ts = container.get("message_ts") or body["message"]["ts"]
    return body["user"]["id"], value["p"], value["h"], channel, ts


def _permitted(services: Services, user: str, p: Proposal, channel: str) -> bool:
    """Whether `user` has the Slack role to decide `p`; refuses (audited, ephemeral) if not."""
    if services.access.principal(user).may_decide(p.action):
        return True
    message = f"You are not an approver for `{p.action}` proposals; nothing changed."
    services.refuse(user, "not_allowed", message, proposal_id=p.id, action=p.action)
    services.ephemeral(channel, user, message)
    return False


def _refused(
    services: Services, exc: ApprovalError, p: Proposal, user: str, where: tuple[str, str]
) -> None:
    """Tell the clicker why the ledger refused, and update a card that went stale."""
    current = services.runtime.ledger.get(p.id)
    if exc.code == "stale":
        _show(services, current, [where], note=SUPERSEDED)
    elif exc.code in ("expired", "already_decided"):
        _show(services, current, [where])
    services.ephemeral(where[0], user, fallback(f"Not recorded: {exc}"))


def handle_approve(services: Services, body: dict[str, Any]) -> None:
    """Approve from a card (after the ack): decide in the ledger, show it, run, show the result."""
    user, pid, seen, channel, ts = _click(body)
    ledger = services.runtime.ledger
    try:
        p = ledger.get(pid)
    except ApprovalError as exc:
        services.ephemeral(channel, user, fallback(str(exc)))
        return
    if not _permitted(services, user, p, channel):
        return
    try:
        decision = ledger.approve(pid, user, seen_hash=seen)
    except ApprovalError as exc:
        _refused(services, exc, p, user, (channel, ts))
        return
    _show(services, decision.proposal, [(channel, ts)])
    if decision.outcome != "approved":
        return
    with services.locked() as rt:
        done = rt.run_action(pid)
    _show(services, done, [(channel, ts)])


def handle_reject_click(services: Services, body: dict[str, Any]) -> None:
    """Reject from a card: open a modal asking the reason (nothing is decided yet)."""
    user, pid, seen, channel, ts = _click(body)
    try:
        p = services.runtime.ledger.get(pid)
    except ApprovalError as exc:
        services.ephemeral(channel, user, fallback(str(exc)))
        return
    if not _permitted(services, user, p, channel):
        return
    if p.status not in ("pending", "approved"):
        _show(services, p, [(channel, ts)])
        services.ephemeral(channel, user, f"{p.id} is already {p.status}; nothing changed.")
        return
    view = reject_modal(p.id, {"c": channel, "t": ts, "h": seen})
    services.client.views_open(trigger_id=body["trigger_id"], view=view)


def handle_reject_submit(services: Services, body: dict[str, Any]) -> None:
    """The reject modal was submitted: reject in the ledger with the reason; update the card."""
    view = body["view"]
    meta = json.loads(view["private_metadata"])
    user, pid, where = body["user"]["id"], meta["p"], (meta["c"], meta["t"])
    reason = str(view["state"]["values"]["reason"]["value"]["value"] or "").strip()
    try:
        p = services.runtime.ledger.get(pid)
    except ApprovalError as exc:
        services.ephemeral(where[0], user, fallback(str(exc)))
        return
    if not _permitted(services, user, p, where[0]):
        return
    try:
        with services.locked() as rt:
            rejected = rt.reject(pid, user, reason)
    except ApprovalError as exc:
        _refused(services, exc, p, user, where)
        return
    _show(services, rejected, [where])
