"""Acks never wait behind chat work (issue 19, points 2 and 5): with a slow model and many chat
questions in flight, a slash command, a Reject click (its `views.open` too), an Approve click and
any other click (link buttons included) are all acknowledged at once, over signed requests and the
Web API double."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from langchain_core.messages import AIMessage
from slack_bolt.request import BoltRequest

from agent.runtime.models import ModelHandle
from tests.doubles.slack import action_body
from tests.helpers.agent import Clock, call
from tests.helpers.slack import APPROVALS, Harness
from tests.helpers.slack_extra import SlowModel, TimedDouble

TICKET = {"title": "Idle EC2 in payments-prod", "owner": "payments", "priority": "low"}
IN_FLIGHT = 8
ACK_BUDGET = 1.0  # seconds; Slack's own limit is 3


@pytest.fixture
def double() -> Iterator[TimedDouble]:
    with TimedDouble() as d:
        yield d


def _slow_harness(tmp_path: Path, double: TimedDouble) -> tuple[Harness, SlowModel]:
    answers = [AIMessage(f"Slow answer {i}.") for i in range(IN_FLIGHT)]
    model = SlowModel(
        responses=[call("open_ticket", TICKET), AIMessage("Proposed a ticket."), *answers], free=2
    )
    h = Harness(tmp_path / "home", double, Clock(), [ModelHandle("scripted", "slow", model)])
    return h, model


def _timed(send: Any) -> tuple[Any, float, float]:
    """(response, when it was sent, how long the ack took)."""
    start = time.monotonic()
    response = send()
    return response, start, time.monotonic() - start


def test_acks_and_views_open_never_wait_behind_chat(tmp_path: Path, double: TimedDouble) -> None:
    h, model = _slow_harness(tmp_path, double)
    try:
        h.mention("open a ticket for the idle EC2", user="U0ANALYST", ts="20.000100")
        h.idle()
        card = h.cards()[0]
        for i in range(IN_FLIGHT):
            response, _, took = _timed(
                lambda i=i: h.mention(f"slow question {i}", user="U0ADMIN", ts=f"21.{i:06d}")
            )
            assert response.status_code == 200 and took < ACK_BUDGET
        assert model.entered.wait(10)  # a question is blocked inside the model

        response, _, took = _timed(lambda: h.command("U0ANALYST", "help"))
        assert response.status_code == 200 and took < ACK_BUDGET
        double.wait_for("respond")  # the help answer, while the chat questions still wait
        assert "/finops" in json.dumps(double.responses[0])

        response, sent, took = _timed(lambda: h.click("U0APPROVER", "finops_reject", card))
        assert response.status_code == 200 and took < ACK_BUDGET
        opened = double.wait_for("views.open")[0]
        assert opened.status == 200 and opened.at - sent < ACK_BUDGET
        assert double.of("views.open")[0]["trigger_id"] == f"trigger-U0APPROVER-{card['ts']}"

        response, _, took = _timed(lambda: h.click("U0ADMIN", "finops_approve", card))
        assert response.status_code == 200 and took < ACK_BUDGET

        # everything above happened while every chat question was still waiting on the model
        assert not model.release.is_set() and not _answered(h)
        model.release.set()
        h.idle()
        assert len(_answered(h)) == IN_FLIGHT
    finally:
        model.release.set()
        h.close()


def _answered(h: Harness) -> list[str]:
    texts = [json.dumps(u) for u in h.double.of("chat.update")]
    return [t for t in texts if "Slow answer" in t]


@pytest.mark.parametrize("action_id", ["open_dashboard_link", "some_future_button"])
def test_every_other_click_is_acked(tmp_path: Path, double: TimedDouble, action_id: str) -> None:
    h, model = _slow_harness(tmp_path, double)
    try:
        body = action_body("U0ANALYST", action_id, "", APPROVALS, "1790000000.000001")
        response = h.post(body, "form")
        assert response.status_code == 200  # not Bolt's 404 for an unhandled action
        h.idle()
        assert [c.method for c in double.calls if c.method != "auth.test"] == []
    finally:
        model.release.set()
        h.close()


def test_socket_mode_acks_every_other_click(tmp_path: Path, double: TimedDouble) -> None:
    """What `SocketModeHandler` does with a frame: dispatch the payload as a socket-mode request
    and send back its response as the ack (a 404 would leave the click unacknowledged)."""
    h, model = _slow_harness(tmp_path, double)
    try:
        payload = json.loads(
            parse_qs(action_body("U0ANALYST", "open_dashboard_link", "", APPROVALS, "1.2"))[
                "payload"
            ][0]
        )
        response = h.app.bolt.dispatch(BoltRequest(body=payload, mode="socket_mode"))
        assert response.status == 200
    finally:
        model.release.set()
        h.close()
