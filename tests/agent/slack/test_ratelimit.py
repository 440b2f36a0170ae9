"""HTTP 429 never loses an answer (issue 19, point 3): the Web API double answers `ratelimited`
with `Retry-After`, the app's client waits it out (through an injected sleep) and retries, and a
final update that keeps failing is posted as a new message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from agent.slack.app import build_slack_app
from tests.helpers.agent import Clock, make_app, scripted
from tests.helpers.slack_extra import RecordedSleep, TimedDouble, TimedHarness


@pytest.fixture
def double() -> Iterator[TimedDouble]:
    with TimedDouble() as d:
        yield d


def _harness(tmp_path: Path, double: TimedDouble, sleep: RecordedSleep) -> TimedHarness:
    answers = [AIMessage(f"Answer {i}.") for i in range(3)]
    return TimedHarness(tmp_path / "home", double, Clock(), [scripted(*answers)], sleep=sleep)


def test_a_429_on_the_final_update_is_retried_after_retry_after(
    tmp_path: Path, double: TimedDouble
) -> None:
    sleep = RecordedSleep()
    h = _harness(tmp_path, double, sleep)
    try:
        double.rate_limit("chat.update", retry_after=1, times=3)
        for i in range(3):
            h.mention(f"question {i}?", user="U0ANALYST", ts=f"30.{i:06d}")
        h.idle()
        statuses = [r.status for r in double.of_received("chat.update")]
        assert statuses.count(429) == 3 and statuses.count(200) == 3
        assert sleep.waits == [1.0, 1.0, 1.0]  # Retry-After honoured, not guessed
        finals = {u["ts"]: json.dumps(u["blocks"]) for u in double.of("chat.update")}
        assert len(finals) == 3  # one progress message per question, each showing an answer
        for i in range(3):
            assert sum(f"Answer {i}." in text for text in finals.values()) == 1
    finally:
        h.close()


def test_an_update_that_keeps_failing_is_posted_as_a_new_message(
    tmp_path: Path, double: TimedDouble
) -> None:
    sleep = RecordedSleep()
    h = _harness(tmp_path, double, sleep)
    try:
        double.rate_limit("chat.update", retry_after=2, times=8)  # 2 updates x (1 + 3 retries)
        h.mention("question?", user="U0ANALYST", ts="31.000100")
        h.idle()
        assert sleep.waits == [2.0] * 6
        posts = [p for p in double.of("chat.postMessage") if p.get("channel") == "C0CHAT"]
        assert "Answer 0." in json.dumps(posts[-1]["blocks"])
        assert posts[-1]["thread_ts"] == "31.000100"  # in the question's thread
    finally:
        h.close()


def test_every_client_the_app_builds_retries(tmp_path: Path, double: TimedDouble) -> None:
    app = make_app(tmp_path / "home", slack={"base_url": double.base_url})
    slack = build_slack_app(app, environ={"SLACK_BOT_TOKEN": double.token})
    try:
        kinds = [type(h) for h in slack.services.client.retry_handlers]
        assert any(issubclass(k, RateLimitErrorRetryHandler) for k in kinds)
        assert any(issubclass(k, ConnectionErrorRetryHandler) for k in kinds)
        assert slack.bolt.client is slack.services.client
    finally:
        slack.close()


def test_a_rate_limited_group_lookup_keeps_the_known_members(
    tmp_path: Path, double: TimedDouble
) -> None:
    double.groups["S0VIEWERS"] = ["U0GROUPED"]
    sleep = RecordedSleep()
    h = _harness(tmp_path, double, sleep)
    try:
        h.mention("total?", user="U0GROUPED", ts="32.000100")
        h.idle()
        h.clock.advance(seconds=301)  # past slack.group_cache_seconds
        double.rate_limit("usergroups.users.list", retry_after=1, times=4)  # past the retries
        h.mention("and now?", user="U0GROUPED", ts="32.000200")
        h.idle()
        statuses = [r.status for r in double.of_received("usergroups.users.list")]
        assert statuses == [200, 429, 429, 429, 429]
        assert double.of("chat.postEphemeral") == []  # not refused: still a viewer
        finals = [json.dumps(u["blocks"]) for u in double.of("chat.update")]
        assert any("Answer 1." in t for t in finals)
    finally:
        h.close()
