"""Chat in Slack over real protocols: signed Events API requests into the Bolt app, answers through
the Web API double. Mentions answer in the thread, follow-ups keep the thread's context, retries
and double deliveries run once, scoped viewers stay in scope, and the ack never waits on the graph.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from tests.doubles.slack import SlackDouble, event_body
from tests.helpers.agent import Clock, ScriptedChatModel, call, scripted
from tests.helpers.slack import Harness, team_rows

WIDE = {"since": "2026-11-01", "until": "2026-11-30"}
TEAMS = {"team": {"sources": ["team"]}}


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


def _harness(tmp_path: Path, double: SlackDouble, *replies: BaseMessage, **cfg: Any) -> Harness:
    home = tmp_path / "home"
    h = Harness(home, double, Clock(), [scripted(*replies)], virtual_tags=TEAMS, **cfg)
    team_rows(home)
    return h


def _thread_posts(double: SlackDouble) -> list[dict[str, Any]]:
    return [p for p in double.of("chat.postMessage") if p.get("channel") == "C0CHAT"]


def test_mention_is_answered_in_the_thread_with_figures_and_a_chart(
    tmp_path: Path, double: SlackDouble
) -> None:
    args = {**WIDE, "by": ["ServiceName"]}
    h = _harness(tmp_path, double, call("spend_breakdown", args), AIMessage("EC2 and S3."))
    try:
        response = h.mention("spend by service in November?", user="U0ANALYST", ts="1.000100")
        assert response.status_code == 200
        h.idle()
        posts = _thread_posts(double)
        assert len(posts) == 1 and posts[0]["thread_ts"] == "1.000100"
        progress_ts = "1790000000.000001"
        final = h.updates(progress_ts)[-1]
        texts = json.dumps(final["blocks"])
        assert "EC2 and S3." in texts
        assert "USD 40,000.00" in texts  # the total, with its currency
        assert "2026-11-01 to 2026-11-30" in texts and "all spend" in texts
        assert "Amazon S3" in texts and "USD 30,000.00" in texts
        assert any("querying spend" in json.dumps(u) for u in h.updates(progress_ts))
        done = double.of("files.completeUploadExternal")
        assert len(done) == 1 and done[0]["thread_ts"] == "1.000100"
        upload = next(iter(double.uploads.values()))
        assert upload.startswith(b"\x89PNG")
    finally:
        h.close()


def test_follow_up_in_the_thread_keeps_the_context(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(tmp_path, double, AIMessage("First answer."), AIMessage("Second answer."))
    try:
        h.mention("what did payments spend?", user="U0ANALYST", ts="2.000100")
        h.idle()
        h.mention("and last week?", user="U0ANALYST", ts="2.000200", thread_ts="2.000100")
        h.idle()
        model = h.model()
        second = [m.content for m in model.seen[-1] if isinstance(m, HumanMessage)]
        assert second == ["what did payments spend?", "and last week?"]
        assert [p["thread_ts"] for p in _thread_posts(double)] == ["2.000100", "2.000100"]
    finally:
        h.close()


def test_retry_and_double_delivery_run_once(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(tmp_path, double, AIMessage("Once."), AIMessage("Twice?"))
    try:
        h.mention("total?", user="U0ANALYST", ts="3.000100", event_id="Ev1")
        retry = h.post(
            _mention_body("3.000100", "Ev1"),
            "json",
            headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        )
        dm = {"type": "message", "channel_type": "im", "user": "U0ANALYST", "text": "total?",
              "ts": "3.000100", "channel": "C0CHAT"}  # fmt: skip
        again = h.post(event_body(dm, "Ev2"), "json")
        assert retry.status_code == 200 and again.status_code == 200
        h.idle()
        assert len(_thread_posts(double)) == 1
        assert len(h.model().seen) == 1
    finally:
        h.close()


def _mention_body(ts: str, event_id: str) -> str:
    event = {"type": "app_mention", "user": "U0ANALYST", "text": "<@UBOT> total?", "ts": ts,
             "channel": "C0CHAT", "event_ts": ts}  # fmt: skip
    return event_body(event, event_id)


def test_scoped_viewer_asking_about_another_team_is_refused_and_audited(
    tmp_path: Path, double: SlackDouble
) -> None:
    h = _harness(tmp_path, double, AIMessage("should not run"))
    try:
        h.mention("how much did search spend?", user="U0PAYVIEW", ts="4.000100")
        h.idle()
        final = h.updates("1790000000.000001")[-1]
        assert "payments only" in final["text"] and "search" in final["text"]
        assert h.model().seen == []
        refusals = h.rt.audit.entries(kind="refusal")
        assert refusals and refusals[-1].actor == "U0PAYVIEW"
        assert refusals[-1].payload["code"] == "scope"
    finally:
        h.close()


def test_scoped_viewer_answers_are_held_to_their_scope(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(tmp_path, double, call("spend_breakdown", WIDE), AIMessage("Your spend."))
    try:
        h.mention("what did we spend in November?", user="U0PAYVIEW", ts="5.000100")
        h.idle()
        text = json.dumps(h.updates("1790000000.000001")[-1]["blocks"])
        assert "USD 10,000.00" in text and "vtag:team=payments" in text
        assert "40,000" not in text
    finally:
        h.close()


def test_user_without_a_role_and_rate_limit_are_refused(
    tmp_path: Path, double: SlackDouble
) -> None:
    h = _harness(
        tmp_path, double, AIMessage("one"), slack={"chat_per_user": 1, "chat_window_seconds": 60}
    )
    try:
        h.mention("hi", user="U0NOBODY", ts="6.000100")
        h.mention("first", user="U0ANALYST", ts="6.000200")
        h.mention("second", user="U0ANALYST", ts="6.000300")
        h.idle()
        private = [p["text"] for p in double.of("chat.postEphemeral")]  # refusals are private
        assert any("no FinOps role" in t for t in private)
        assert any("Rate limit" in t for t in private)
        public = [p["text"] for p in _thread_posts(double)]
        assert not any("no FinOps role" in t or "Rate limit" in t for t in public)
        codes = [e.payload["code"] for e in h.rt.audit.entries(kind="refusal")]
        assert "no_role" in codes and "rate_limited" in codes
        h.clock.advance(seconds=61)
        h.mention("third", user="U0ANALYST", ts="6.000400")
        h.idle()
        assert not any("Rate limit" in p["text"] for p in _thread_posts(double)[-1:])
    finally:
        h.close()


def test_user_group_grants_a_role(tmp_path: Path, double: SlackDouble) -> None:
    double.groups["S0VIEWERS"] = ["U0GROUPED"]
    h = _harness(tmp_path, double, AIMessage("Hello viewer."))
    try:
        h.mention("total?", user="U0GROUPED", ts="7.000100")
        h.idle()
        assert "Hello viewer." in json.dumps(h.updates("1790000000.000001")[-1])
        assert double.of("usergroups.users.list")[0]["usergroup"] == "S0VIEWERS"
    finally:
        h.close()


class BlockingModel(ScriptedChatModel):
    """Waits for `release` before answering (stands in for a slow graph)."""

    release: Any = None

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        assert self.release.wait(60)
        return super()._generate(messages, *args, **kwargs)


def test_ack_does_not_wait_on_the_graph(tmp_path: Path, double: SlackDouble) -> None:
    release = threading.Event()
    home = tmp_path / "home"
    model = BlockingModel(responses=[AIMessage("Slow answer.")], release=release)
    from agent.runtime.models import ModelHandle

    h = Harness(home, double, Clock(), [ModelHandle("scripted", "block", model)])
    try:
        response = h.mention("slow question", user="U0ANALYST", ts="8.000100")
        assert response.status_code == 200  # answered while the model is still blocked
        assert not release.is_set() and model.seen == []
        release.set()
        h.idle()
        assert "Slow answer." in json.dumps(h.updates("1790000000.000001")[-1])
    finally:
        release.set()
        h.close()


def test_totals_match_the_warehouse(tmp_path: Path, double: SlackDouble) -> None:
    h = _harness(tmp_path, double, call("spend_breakdown", WIDE), AIMessage("Total."))
    try:
        h.mention("total?", user="U0ADMIN", ts="9.000100")
        h.idle()
        con = h.rt.app.warehouse()
        total = con.execute("SELECT sum(BilledCost) FROM costs").fetchone()
        h.rt.app.close()
        assert total is not None and Decimal(total[0]) == Decimal(40000)
        assert "USD 40,000.00" in json.dumps(h.updates("1790000000.000001")[-1])
    finally:
        h.close()
