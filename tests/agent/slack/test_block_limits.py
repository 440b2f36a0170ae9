"""Block Kit limits in one builder: property tests of the builders on extreme inputs against the
double's independent checker of Slack's documented limits, then through the real app: a card for
150 EC2 ids fits and attaches the full list, a card Slack still refuses is reported once and never
retried, a card that failed for a while is posted later, and `/finops budgets` with every budget
off is not empty."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from agent.slack.blocks import (
    LIMITS,
    answer_blocks,
    bounded,
    card_blocks,
    card_overflow,
    clip,
    fallback,
    fit,
    text_blocks,
)
from guardrails.approvals import Proposal, ProposalDraft, Vote
from tests.doubles.slack import SlackDouble
from tests.doubles.slack_rules import block_errors
from tests.helpers.agent import Clock, scripted
from tests.helpers.slack import APPROVALS, Harness

EXTREME = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(max_codepoint=0x7F), min_size=1000, max_size=10_000),
    st.just("x" * 10_000),
    st.just("<!channel>&" * 1000),
    st.just("\x00\x1b[2J\x7f" * 500),
    st.just("```" * 2000),
)
NONEMPTY = EXTREME.filter(lambda s: s.strip() != "")
IDS = st.lists(st.text(alphabet="abcdef0123456789-i", min_size=1, max_size=40), max_size=1000)
STATUSES = st.sampled_from(["pending", "approved", "rejected", "expired", "executing", "done",
                            "failed"])  # fmt: skip
FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _proposal(
    target: str, text: str, status: str = "pending", many: int = 3, **extra: Any
) -> Proposal:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    fields: dict[str, Any] = {
        "id": "p-" + "0" * 12, "created_at": now, "expires_at": now + timedelta(hours=48),
        "action_hash": "a" * 64, "status": status, "created_by": text or "U0X",
        "action": "stop_instances", "target": target, "summary": text or "s",
        "rollback": text or "r", "owner": text, "reason": text, "decided_by": text or None,
        "params": {"ids": [text] * many}, "evidence": {"why": text},
        "result": {"out": text} if status in ("done", "failed") else None,
        "expected_monthly_saving": Decimal("12345678.90"),
        "votes": [Vote(approver=text or "U1", decision="approve", action_hash="a", at=now)],
    }  # fmt: skip
    return Proposal(**{**fields, **extra})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check(blocks: list[dict[str, Any]], escaped: bool = True) -> None:
    assert block_errors(blocks) == [], block_errors(blocks)[:3]
    for text in _strings(blocks):
        if escaped:  # `fit` only bounds blocks; escaping is the builders' job
            assert "<!channel" not in text
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), text[:80]


@FAST
@given(ids=IDS, text=EXTREME, status=STATUSES)
def test_cards_stay_within_block_kit_limits(ids: list[str], text: str, status: str) -> None:
    target = "aws/ec2/" + ",".join(ids) if ids else "aws/ec2/i-1"
    p = _proposal(target, text, status, many=200)
    blocks = card_blocks(p)
    _check(blocks)
    _check(card_blocks(p, note=":warning: Superseded"))
    assert 1 <= len(fallback(f"Proposal {p.id}: {p.summary}")) <= LIMITS["fallback_text"]
    full = card_overflow(p)
    if full is not None:  # the card says how many, the file lists every one
        assert f"({len(ids)} targets; full list attached)" in json.dumps(blocks)
        assert full.count("\n") == len(ids) + 1
    if status == "pending":
        assert blocks[-1]["type"] == "actions"


@FAST
@given(answer=EXTREME, label=EXTREME, rows=st.integers(0, 500), dims=st.integers(0, 30))
def test_answers_stay_within_block_kit_limits(
    answer: str, label: str, rows: int, dims: int
) -> None:
    by = [f"d{i}" for i in range(dims)]
    data = {
        "currency": "USD", "total": "1e12", "metric": label, "by": by,
        "rows": [{"dimensions": {d: label for d in by}, "cost": "123.45", "period": label[:20]}
                 for _ in range(rows)],
        "filters": [{"dimension": label, "values": [label] * 50}] * 10,
        "period": {"since": label, "until": label, "label": label},
    }  # fmt: skip
    _check(answer_blocks(answer, data))
    _check(answer_blocks(answer, None))
    _check(text_blocks(answer))


@FAST
@given(items=st.lists(EXTREME, max_size=300), limit=st.integers(20, 3000))
def test_bounded_lists_and_clipped_text_respect_their_limit(items: list[str], limit: int) -> None:
    text, shown = bounded(items, limit)
    assert len(text) <= limit and 0 <= shown <= len(items)
    if shown < len(items):
        assert text.endswith(f"…and {len(items) - shown} more")
    for item in items:
        assert 1 <= len(clip(item, limit)) <= limit


@FAST
@given(n=st.integers(0, 400), text=EXTREME, fields=st.integers(0, 40), elements=st.integers(0, 40))
def test_fit_repairs_any_block_list(n: int, text: str, fields: int, elements: int) -> None:
    field = {"type": "mrkdwn", "text": text}
    button = {"type": "button", "action_id": "a" * 300, "value": text,
              "text": {"type": "plain_text", "text": text}}  # fmt: skip
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text}, "block_id": text},
        {"type": "section", "fields": [field] * fields},
        {"type": "context", "elements": [field] * elements},
        *[{"type": "section", "text": {"type": "mrkdwn", "text": ""}}] * n,
        {"type": "actions", "elements": [button]},
    ]
    fitted = fit(blocks)
    _check(fitted, escaped=False)  # `fit` bounds blocks; escaping is the builders' job
    assert fitted[-1]["type"] == "actions"
    if len(blocks) > LIMITS["blocks"]:
        assert f"…and {len(blocks) - LIMITS['blocks'] + 1} more blocks" in json.dumps(
            fitted, ensure_ascii=False
        )


def test_empty_text_becomes_a_placeholder() -> None:
    assert text_blocks("")[0]["text"]["text"] == "(nothing to show)"
    assert fit([]) == text_blocks("")
    assert answer_blocks("  ", None)[0]["text"]["text"] == "(no answer)"


# -- through the app ---------------------------------------------------------------------------

BUDGETS = [{"name": "all-off", "amount": "100", "enabled": False}]


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def h(tmp_path: Path, double: SlackDouble) -> Iterator[Harness]:
    harness = Harness(tmp_path / "home", double, Clock(), [scripted(AIMessage("hi"))],
                      budgets=BUDGETS)  # fmt: skip
    yield harness
    harness.close()


def _propose(h: Harness, ids: int, created_by: str = "U0ANALYST") -> Proposal:
    draft = ProposalDraft(
        action="open_ticket",
        target="aws/ec2/" + ",".join(f"i-{n:017x}" for n in range(ids)),
        params={"title": "idle", "owner": "payments", "priority": "low"},
        summary=f"Stop {ids} idle instances",
        rollback="Start them again.",
    )
    return h.rt.ledger.propose(draft, created_by=created_by)


def test_a_card_for_150_instances_fits_and_attaches_the_full_list(
    h: Harness, double: SlackDouble
) -> None:
    p = _propose(h, 150)
    assert h.app.post_pending_cards() == [p.id]
    card = h.cards()[0]
    assert "(150 targets; full list attached)" in json.dumps(card["blocks"])
    assert "more" in json.dumps(card["blocks"])
    done = double.of("files.completeUploadExternal")
    assert len(done) == 1 and done[0]["thread_ts"] == card["ts"]
    (content,) = double.uploads.values()
    assert all(f"i-{n:017x}" in content.decode() for n in range(150))
    assert double.rejected == []


def test_a_card_slack_refuses_is_reported_once_and_never_retried(
    h: Harness, double: SlackDouble
) -> None:
    p = _propose(h, 2)
    double.fail("chat.postMessage", "invalid_blocks")
    assert h.app.post_pending_cards() == []
    posts = double.of("chat.postMessage")
    assert [m["channel"] for m in posts] == [APPROVALS, "U0ANALYST"]
    assert "invalid_blocks" in posts[1]["text"] and f"finops approve {p.id}" in posts[1]["text"]
    for _ in range(3):
        assert h.app.post_pending_cards() == []
    assert len(double.of("chat.postMessage")) == 2  # no retry, no second report
    refusals = h.rt.store.query("SELECT count(*) FROM audit_log WHERE kind = 'refusal'")
    assert refusals[0][0] >= 1


def test_a_card_that_failed_for_a_while_is_posted_on_a_later_pass(
    h: Harness, double: SlackDouble
) -> None:
    p = _propose(h, 1, created_by="cli")
    double.fail("chat.postMessage", "internal_error")
    assert h.app.post_pending_cards() == []
    double.rate_limit("chat.postMessage", retry_after=0)
    posted = h.app.post_pending_cards() + h.app.post_pending_cards()
    assert posted == [p.id]
    assert len(h.app.services.state.cards(p.id)) == 1


def test_budgets_with_every_budget_disabled_is_not_empty(h: Harness, double: SlackDouble) -> None:
    assert h.command("U0ADMIN", "budgets").status_code == 200
    h.idle()
    (reply,) = double.responses
    assert reply["blocks"][0]["text"]["text"].strip()
    assert double.rejected == []


# -- the double enforces Slack's rules itself ------------------------------------------------


def _error(call: Any) -> tuple[str, int]:
    from slack_sdk.errors import SlackApiError

    try:
        call()
    except SlackApiError as exc:
        return str(exc.response["error"]), exc.response.status_code
    raise AssertionError("Slack should have refused this call")


def test_the_double_refuses_what_slack_refuses(double: SlackDouble) -> None:
    from slack_sdk import WebClient

    client = WebClient(token=double.token, base_url=double.base_url)
    big = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    many = [{"type": "divider"}] * 51
    empty = [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    home = {"type": "home", "blocks": [header]}
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}
    refused = {
        "invalid_blocks": [
            lambda: client.chat_postMessage(channel="C1", text="t", blocks=big),
            lambda: client.chat_update(channel="C1", ts="1.0", text="t", blocks=many),
            lambda: client.chat_postEphemeral(channel="C1", user="U1", text="", blocks=empty),
        ],
        "no_text": [lambda: client.chat_postMessage(channel="C1", text=" ")],
        "msg_too_long": [lambda: client.chat_postMessage(channel="C1", text="x" * 40_001)],
        "invalid_arguments": [
            lambda: client.views_publish(user_id="U1", view=home),
            lambda: client.views_open(trigger_id="t", view=modal),
        ],
    }
    for error, calls in refused.items():
        for call in calls:
            assert _error(call) == (error, 200)
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": []})["ok"]
    assert client.chat_postEphemeral(channel="C1", user="U1", text="only you")["ok"]
    assert "must be less than 3001 characters" in double.rejected[0][2][0]


def test_the_double_rate_limits_the_next_call_with_retry_after(double: SlackDouble) -> None:
    import httpx

    double.rate_limit("chat.update", retry_after=7)
    url = double.base_url + "chat.update"
    auth = {"Authorization": f"Bearer {double.token}"}
    limited = httpx.post(url, headers=auth, json={"channel": "C1", "ts": "1.0", "text": "x"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["error"] == "ratelimited"
    again = httpx.post(url, headers=auth, json={"channel": "C1", "ts": "1.0", "text": "x"})
    assert again.status_code == 200 and again.json()["ok"]
