"""Alerts through the Slack app's bot: `chat.postMessage` with the bot token to a channel id, via
slack_sdk's WebClient against the Web API double on 127.0.0.1. Routed by owner and severity,
once per channel, retried on Slack's `ratelimited` (HTTP 429 + Retry-After) by the one notify
retry loop, and the token never reaches a log line, an audit entry or the ledger."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from guardrails.audit import AuditLog
from tests.doubles.slack import Call, SlackDouble
from tests.helpers.agent import Clock
from tools.notify.config import NotifyConfig, SlackAppChannel
from tools.notify.service import Alert, DeliveryReport, Figure, send
from warehouse.state.store import StateStore

TOKEN = "xoxb-1234-5678-S3cretBotTokenValue"


class ThrottlingDouble(SlackDouble):
    """The Web API double, plus Slack's rate limiter: the next `limits` chat.postMessage calls get
    HTTP 429 `{"ok": false, "error": "ratelimited"}` with a `Retry-After` of that many seconds."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN)
        self.limits: list[int] = []
        double = self
        base: Any = self.server.RequestHandlerClass

        class Handler(base):
            def do_POST(self) -> None:
                if self.path.startswith("/api/chat.postMessage") and double.limits:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    with double._lock:
                        double.calls.append(Call("ratelimited", {}, None))
                    body = b'{"ok":false,"error":"ratelimited"}'
                    self.send_response(429)
                    self.send_header("Retry-After", str(double.limits.pop(0)))
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_POST()

        self.server.RequestHandlerClass = Handler


@pytest.fixture
def double() -> Iterator[ThrottlingDouble]:
    d = ThrottlingDouble()
    with d:
        yield d


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


def _config(double: SlackDouble, **extra: Any) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "channels": {
                "payments-slack": {"type": "slack_app", "channel": "C0PAYMENTS"},
                "finops-slack": {
                    "type": "slack_app",
                    "channel": "C0FINOPS",
                    "token_env": "FINOPS_ALERTS_TOKEN",
                    "base_url": double.base_url,
                },
            },
            "routes": [
                {"owner": "payments", "min_severity": "critical", "channels": ["payments-slack"]}
            ],
            "default": ["finops-slack"],
            **extra,
        }
    ).with_slack_defaults("FINOPS_BOT_TOKEN", double.base_url)


def _alert(severity: str = "critical", **changes: Any) -> Alert:
    data: dict[str, Any] = {
        "id": f"an-{severity}",
        "kind": "anomaly",
        "severity": severity,
        "owner": "payments",
        "title": "EC2 spend 4.2x baseline in payments-prod <!channel>",
        "text": "Daily EC2 spend jumped from USD 1,002.10 to USD 4,210.17.",
        "scope": {"SubAccountName": "payments-prod", "ServiceName": "Amazon EC2"},
        "figures": [
            Figure(label="Spend", amount=Decimal("4210.17"), currency="USD", period="2026-11-27"),
            Figure(label="Baseline", amount=Decimal("1002.10"), currency="USD", period="28 days"),
        ],
        "evidence": ["ResourceId i-0abc moved +USD 3,208.07 (100% of the change)"],
        **changes,
    }
    return Alert.model_validate(data)


class Sender:
    """`send` with the test's clock, environment (the token) and a recording sleep."""

    def __init__(self, store: StateStore, env: dict[str, str]) -> None:
        self.store, self.env, self.clock = store, env, Clock()
        self.sleeps: list[float] = []

    def __call__(self, alert: Alert, config: NotifyConfig) -> DeliveryReport:
        return send(
            alert,
            config,
            self.store,
            clock=self.clock,
            sleep=self.sleeps.append,
            environ=self.env,
            rng=lambda: 0.0,
        )


@pytest.fixture
def deliver(store: StateStore) -> Sender:
    return Sender(store, {"FINOPS_BOT_TOKEN": TOKEN, "FINOPS_ALERTS_TOKEN": TOKEN})


def _posts(double: SlackDouble) -> list[Call]:
    return [c for c in double.calls if c.method == "chat.postMessage"]


def test_critical_goes_to_the_owners_channel_and_a_warning_to_the_default(
    double: ThrottlingDouble, deliver: Sender
) -> None:
    config = _config(double)
    critical = deliver(_alert("critical"), config)
    warning = deliver(_alert("warning"), config)

    assert critical.channels == ["payments-slack"] and critical.ok
    assert warning.channels == ["finops-slack"] and warning.routed_by == ["default"]
    posts = _posts(double)
    assert [p.args["channel"] for p in posts] == ["C0PAYMENTS", "C0FINOPS"]
    assert all(p.token == TOKEN for p in posts)  # the bot token, as a Bearer header
    first = posts[0].args
    blocks = json.dumps(first["blocks"])
    assert "*Severity*\\nCRITICAL" in blocks and "*Owner*\\npayments" in blocks
    assert "USD 4,210.17 (2026-11-27)" in blocks and "USD 1,002.10 (28 days)" in blocks
    assert "SubAccountName=payments-prod" in blocks and "ResourceId i-0abc moved" in blocks
    assert "&lt;!channel&gt;" in first["text"]  # mrkdwn: escaped; the header is plain_text
    assert first["blocks"][0]["text"]["type"] == "plain_text"
    assert first["unfurl_links"] is False
    assert critical.results[0].detail.startswith("Slack message 1790000000.")


def test_each_channel_gets_an_alert_once_across_sends(
    double: ThrottlingDouble, deliver: Sender
) -> None:
    config = _config(double)
    first = deliver(_alert("critical"), config)
    again = deliver(_alert("critical"), config)
    assert first.by_channel("payments-slack").status == "sent"
    assert again.by_channel("payments-slack").status == "skipped"
    assert len(_posts(double)) == 1


def test_ratelimited_is_retried_after_retry_after(
    double: ThrottlingDouble, deliver: Sender, store: StateStore
) -> None:
    double.limits = [7]
    report = deliver(_alert("critical"), _config(double))
    result = report.by_channel("payments-slack")
    assert result.status == "sent" and result.attempts == 2
    assert deliver.sleeps == [7.0] and result.delays == [7.0]
    assert [c.method for c in double.calls] == ["ratelimited", "chat.postMessage"]
    entries = AuditLog(store, deliver.clock).entries(kind="notification")
    assert [e.payload["status"] for e in entries] == ["sent"]


def test_a_retry_after_beyond_the_policy_fails_now_and_a_later_send_delivers(
    double: ThrottlingDouble, deliver: Sender
) -> None:
    double.limits = [600]
    config = _config(double, retry={"max_retry_after_seconds": 60})
    failed = deliver(_alert("critical"), config).by_channel("payments-slack")
    assert failed.status == "failed" and "ratelimited" in failed.detail
    assert "Retry-After 600 s" in failed.detail and deliver.sleeps == []
    later = deliver(_alert("critical"), config).by_channel("payments-slack")
    assert later.status == "sent" and len(_posts(double)) == 1


def test_slack_refusals_are_final_and_the_token_never_leaks(
    double: ThrottlingDouble,
    store: StateStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = Sender(store, {"FINOPS_BOT_TOKEN": "xoxb-9999-WrongTokenValue42"})
    refused = wrong(_alert("critical"), _config(double)).by_channel("payments-slack")
    assert refused.status == "failed" and refused.attempts == 1
    assert "invalid_auth" in refused.detail and "not retried" in refused.detail
    right = Sender(store, {"FINOPS_BOT_TOKEN": TOKEN})
    assert right(_alert("warning", id="an-2"), _config(double)).results[0].status == "failed"
    sent = right(_alert("critical", id="an-3"), _config(double)).by_channel("payments-slack")
    assert sent.status == "sent"

    entries = AuditLog(store, right.clock).entries(kind="notification")
    destinations = {e.payload.get("destination") for e in entries}
    assert "slack app chat.postMessage to C0PAYMENTS ($FINOPS_BOT_TOKEN)" in destinations
    missing = next(e for e in entries if e.payload["channel"] == "finops-slack")
    assert "FINOPS_ALERTS_TOKEN is not set" in missing.payload["error"]
    assert "Authorization" in caplog.text or "chat.postMessage" in caplog.text  # sdk did log
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    for secret in (TOKEN, "xoxb-9999-WrongTokenValue42"):
        assert secret not in caplog.text
        assert secret not in dump


def test_token_and_url_default_to_the_slack_sections() -> None:
    bare = NotifyConfig.model_validate(
        {"channels": {"a": {"type": "slack_app", "channel": "C0A"},
                      "b": {"type": "slack_app", "channel": "C0B", "token_env": "OWN_TOKEN"},
                      "w": {"type": "slack_webhook"}}}
    )  # fmt: skip
    filled = bare.with_slack_defaults("TEAM_BOT_TOKEN", "http://127.0.0.1:9/api/")
    a, b = filled.channels["a"], filled.channels["b"]
    assert isinstance(a, SlackAppChannel) and isinstance(b, SlackAppChannel)
    assert (a.token_env, a.base_url) == ("TEAM_BOT_TOKEN", "http://127.0.0.1:9/api/")
    assert b.token_env == "OWN_TOKEN" and filled.channels["w"] == bare.channels["w"]


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"channel": "#payments"}, "Slack conversation id"),
        ({"channel": "C0PAY", "token_env": "xoxb-123-abc"}, "NAME of an environment variable"),
        ({"channel": "C0PAY", "token": "xoxb-123"}, "Extra inputs are not permitted"),
        ({"channel": "C0PAY", "base_url": "ftp://slack"}, "http\\(s\\) URL"),
    ],
)
def test_slack_app_channel_config_is_strict(channel: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NotifyConfig.model_validate({"channels": {"s": {"type": "slack_app", **channel}}})
