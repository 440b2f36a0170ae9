"""Conversation where users expect it (issue 19, points 6 and 7), over signed Events API requests
and the Web API double: refusals are ephemeral in the asker's thread; DMs are answered inline;
follow-ups in a thread the bot answers need no new @mention (and other threads are left alone);
long answers say "…more" and come whole as a file; model Markdown becomes escaped mrkdwn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from tests.doubles.slack import SlackDouble, event_body
from tests.helpers.agent import Clock, scripted
from tests.helpers.slack import Harness
from tests.helpers.slack_extra import restart_app


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


def _harness(tmp_path: Path, double: SlackDouble, *replies: BaseMessage, **cfg: Any) -> Harness:
    return Harness(tmp_path / "home", double, Clock(), [scripted(*replies)], **cfg)


def _message(h: Harness, text: str, ts: str, **extra: str) -> Any:
    event = {"type": "message", "user": "U0ANALYST", "text": text, "ts": ts, "channel": "C0CHAT",
             "channel_type": "channel", "event_ts": ts, **extra}  # fmt: skip
    return h.post(event_body(event, f"Ev{ts}"), "json")


def _posts(double: SlackDouble, channel: str = "C0CHAT") -> list[dict[str, Any]]:
    return [p for p in double.of("chat.postMessage") if p.get("channel") == channel]


def test_refusals_are_ephemeral_in_the_askers_thread(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(
        tmp_path, double, AIMessage("one"), slack={"chat_per_user": 1, "chat_window_seconds": 60}
    )
    try:
        h.mention("hi", user="U0NOBODY", ts="40.000100", thread_ts="40.000001")
        h.mention("first", user="U0ANALYST", ts="40.000200")
        h.mention("second", user="U0ANALYST", ts="40.000300")
        h.idle()
        ephemeral = double.of("chat.postEphemeral")
        assert [(e["user"], e["thread_ts"]) for e in ephemeral] == [
            ("U0NOBODY", "40.000001"),
            ("U0ANALYST", "40.000300"),
        ]
        assert "no FinOps role" in ephemeral[0]["text"] and "Rate limit" in ephemeral[1]["text"]
        public = json.dumps(_posts(double) + double.of("chat.update"))
        assert "no FinOps role" not in public and "Rate limit" not in public
        codes = [e.payload["code"] for e in h.rt.audit.entries(kind="refusal")]
        assert "no_role" in codes and "rate_limited" in codes
    finally:
        h.close()


def test_direct_messages_are_answered_inline_as_one_conversation(
    tmp_path: Path, double: SlackDouble
) -> None:
    h = _harness(tmp_path, double, AIMessage("First."), AIMessage("Second."))
    try:
        for ts, text in (("41.000100", "what did payments spend?"), ("41.000200", "and search?")):
            dm = {"type": "message", "channel_type": "im", "user": "U0ANALYST", "text": text,
                  "ts": ts, "channel": "D0DM", "event_ts": ts}  # fmt: skip
            assert h.post(event_body(dm, f"Ev{ts}"), "json").status_code == 200
            h.idle()
        posts = _posts(double, "D0DM")
        assert len(posts) == 2 and all("thread_ts" not in p for p in posts)
        second = [m.content for m in h.model().seen[-1] if isinstance(m, HumanMessage)]
        assert second == ["what did payments spend?", "and search?"]
    finally:
        h.close()


def test_follow_ups_in_a_bot_thread_need_no_mention(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(tmp_path, double, AIMessage("First."), AIMessage("Second."))
    try:
        h.mention("what did payments spend?", user="U0ANALYST", ts="42.000100")
        h.idle()
        _message(h, "and last week?", "42.000200", thread_ts="42.000100")
        _message(h, "unrelated chatter", "42.000300", thread_ts="42.999999")  # not a bot thread
        _message(h, "top-level chatter", "42.000400")  # no mention, no thread
        h.idle()
        assert [p["thread_ts"] for p in _posts(double)] == ["42.000100", "42.000100"]
        model = h.model()
        assert len(model.seen) == 2
        second = [m.content for m in model.seen[-1] if isinstance(m, HumanMessage)]
        assert second == ["what did payments spend?", "and last week?"]
    finally:
        h.close()


def test_bot_threads_are_known_after_a_restart(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(tmp_path, double, AIMessage("First."), AIMessage("Second."))
    try:
        h.mention("what did payments spend?", user="U0ANALYST", ts="45.000100")
        h.idle()
        restart_app(h)  # a new process (or another replica): nothing in memory
        _message(h, "and last week?", "45.000200", thread_ts="45.000100")
        h.idle()
        assert [p["thread_ts"] for p in _posts(double)] == ["45.000100", "45.000100"]
        assert len(h.model().seen) == 2
    finally:
        h.close()


def test_a_mention_inside_a_bot_thread_is_answered_once(
    tmp_path: Path, double: SlackDouble
) -> None:
    h = _harness(tmp_path, double, AIMessage("First."), AIMessage("Second."), AIMessage("Third?"))
    try:
        h.mention("total?", user="U0ANALYST", ts="43.000100")
        h.idle()
        # Slack sends both an app_mention and a message event for a mention in a thread
        h.mention("and now?", user="U0ANALYST", ts="43.000200", thread_ts="43.000100")
        _message(h, "<@UBOT> and now?", "43.000200", thread_ts="43.000100")
        h.idle()
        assert len(h.model().seen) == 2 and len(_posts(double)) == 2
    finally:
        h.close()


def test_long_markdown_answers_say_more_and_come_whole_as_a_file(
    tmp_path: Path, double: SlackDouble
) -> None:
    lines = [f"- **Item {i}**: <!channel> spend & more" for i in range(200)]
    answer = "## Top items\n" + "\n".join(lines)
    h = _harness(tmp_path, double, AIMessage(answer))
    try:
        h.mention("list everything", user="U0ANALYST", ts="44.000100")
        h.idle()
        final = h.updates("1790000000.000001")[-1]
        text = final["blocks"][0]["text"]["text"]
        assert len(text) <= 2900 and "…more" in text
        assert text.startswith("*Top items*\n• *Item 0*: &lt;!channel&gt; spend &amp; more")
        assert "<!channel>" not in json.dumps(final) and "**" not in text
        done = double.of("files.completeUploadExternal")
        assert len(done) == 1 and done[0]["thread_ts"] == "44.000100"
        assert answer.encode() in double.uploads.values()
    finally:
        h.close()
