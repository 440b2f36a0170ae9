"""A Slack app under test: the real Bolt app over a temporary home, the Web API double, and a
Starlette TestClient that sends it requests signed like Slack's."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.testclient import TestClient

from agent.runtime.models import ModelHandle
from agent.runtime.runner import Runtime
from agent.slack.app import SlackApp, build_slack_app
from tests.doubles.slack import (
    SlackDouble,
    action_body,
    command_body,
    event_body,
    sign,
    view_submission_body,
)
from tests.helpers.agent import Clock, ScriptedChatModel, make_runtime
from tests.helpers.vtags import Row, add_rows
from warehouse.db import connect

__all__ = ["SECRET", "Harness", "team_rows"]

SECRET = "test-signing-secret"
APPROVALS = "C0APPROVALS"
ROLES = {
    "U0ADMIN": {"role": "admin"},
    "U0APPROVER": {"role": "approver", "actions": ["open_ticket"]},
    "U0ANALYST": {"role": "analyst"},
    "U0PAYVIEW": {"role": "viewer", "scope": {"team": ["payments"]}},
    "S0VIEWERS": {"role": "viewer"},
}


def team_rows(home: Path) -> None:
    """November spend of two teams (tag `team`): payments 10 × 1,000, search 10 × 3,000."""
    con = connect(home / "warehouse.duckdb")
    rows = [
        Row(cost=cost, day=date(2026, 11, d), ServiceName=svc, ResourceId=f"{team}-{d}",
            tags={"team": team})
        for d in range(1, 11)
        for team, svc, cost in (("payments", "Amazon EC2", "1000"), ("search", "Amazon S3", "3000"))
    ]  # fmt: skip
    add_rows(con, rows)
    con.close()


class Harness:
    """Everything one Slack test needs; close it at the end."""

    def __init__(
        self,
        home: Path,
        double: SlackDouble,
        clock: Clock,
        models: Sequence[ModelHandle] | None = None,
        **config: Any,
    ) -> None:
        slack = {"base_url": double.base_url, "approvals_channel": APPROVALS, "roles": ROLES}
        slack.update(config.pop("slack", {}))
        config.setdefault("approvers", ["U0ADMIN", "U0APPROVER", "U0ANALYST"])
        self.double = double
        self.clock = clock
        self.rt: Runtime = make_runtime(home, clock, models, slack=slack, **config)
        client = WebClient(token=double.token, base_url=double.base_url)
        self.app: SlackApp = build_slack_app(
            self.rt.app,
            client=client,
            clock=clock,
            runtime=self.rt,
            environ={"SLACK_SIGNING_SECRET": SECRET},
        )
        self.http = TestClient(Starlette(routes=self.app.starlette_routes()))

    def model(self) -> ScriptedChatModel:
        """The scripted chat model the runtime answers with."""
        chat = (self.rt._models or [])[0].chat
        assert isinstance(chat, ScriptedChatModel)
        return chat

    def close(self) -> None:
        self.app.close()
        self.http.close()
        self.rt.close()

    def post(
        self,
        body: str,
        kind: str,
        *,
        age: int = 0,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """POST a body to /slack/events signed like Slack (`age` seconds in the past)."""
        stamp = int(time.time()) - age
        content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
        signed = {**sign(secret, body, stamp), "Content-Type": content_type, **(headers or {})}
        return self.http.post("/slack/events", content=body.encode(), headers=signed)

    def mention(
        self, text: str, *, user: str, ts: str, thread_ts: str | None = None, event_id: str = ""
    ) -> Any:
        event = {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "ts": ts,
                 "channel": "C0CHAT", "event_ts": ts}  # fmt: skip
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.post(event_body(event, event_id or f"Ev{ts}"), "json")

    def click(self, user: str, action_id: str, card: dict[str, Any]) -> Any:
        value = next(
            e["value"]
            for b in card["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        return self.post(action_body(user, action_id, value, card["channel"], card["ts"]), "form")

    def submit_reason(self, user: str, view: dict[str, Any], reason: str) -> Any:
        return self.post(view_submission_body(user, view, reason), "form")

    def command(self, user: str, text: str) -> Any:
        return self.post(command_body(user, text, self.double.response_url()), "form")

    def cards(self) -> list[dict[str, Any]]:
        """Posted approval cards with their channel and ts (from the double's records)."""
        out = []
        posts = [c for c in self.double.calls if c.method == "chat.postMessage"]
        for call in posts:
            if call.args.get("channel") == APPROVALS:
                out.append({**call.args, "ts": self._lookup(call.args)})
        return out

    def _lookup(self, args: dict[str, Any]) -> str:
        row = self.rt.store.query(
            "SELECT ts FROM slack_cards WHERE channel = ? AND proposal_id = ?",
            (args["channel"], json.loads(_value(args))["p"]),
        )
        return str(row[0][0])

    def updates(self, ts: str) -> list[dict[str, Any]]:
        return [u for u in self.double.of("chat.update") if u.get("ts") == ts]

    def idle(self) -> None:
        assert self.app.wait_idle(60), "background Slack work did not finish"


def _value(card: dict[str, Any]) -> str:
    for block in card.get("blocks") or []:
        if block["type"] == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("card has no buttons")
