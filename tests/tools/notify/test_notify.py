"""Alerts against real local servers: Slack webhook, PagerDuty Events API v2 and a signed webhook
(http.server on 127.0.0.1), e-mail through aiosmtpd on 127.0.0.1. Routing, retries with the
injected sleep, once-only delivery across processes, audit entries without secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from guardrails.audit import AuditLog
from tests.doubles.notify import HttpRecorder, SmtpRecorder, iter_parts
from tests.helpers.agent import Clock
from tools.notify.channels import parse_retry_after
from tools.notify.config import NotifyConfig, RetryPolicy
from tools.notify.ledger import DeliveryLedger, recent_deliveries
from tools.notify.payloads import verify_signature
from tools.notify.service import Alert, DeliveryReport, Figure, Link, backoff, route, send
from warehouse.state.store import StateStore

SLACK_PATH = "/services/T0001/B0002/Zx9SlackSecretPath42"
PD_PATH = "/v2/enqueue"
HOOK_PATH = "/hooks/finops"
SECRETS = {
    "PD_ROUTING_KEY": "R0UTINGKEYabcdef0123456789",
    "HOOK_SECRET": "whsec-Sup3rS3cretSigningValue",
    "SMTP_PASSWORD": "smtp-pa55word-very-secret",
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def http() -> Iterator[HttpRecorder]:
    with HttpRecorder() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpRecorder]:
    with SmtpRecorder() as server:
        yield server


@pytest.fixture
def env(http: HttpRecorder) -> dict[str, str]:
    return {"SLACK_FINOPS_URL": http.url(SLACK_PATH), **SECRETS}


@pytest.fixture
def config(http: HttpRecorder, smtp: SmtpRecorder) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "channels": {
                "slack-finops": {"type": "slack_webhook", "url_env": "SLACK_FINOPS_URL"},
                "oncall": {
                    "type": "pagerduty",
                    "routing_key_env": "PD_ROUTING_KEY",
                    "events_url": http.url(PD_PATH),
                },
                "hook": {
                    "type": "webhook",
                    "url": http.url(HOOK_PATH),
                    "secret_env": "HOOK_SECRET",
                },
                "mail-payments": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "starttls": False,
                    "from": "finops@example.com",
                    "to": ["payments@example.com", "lead@example.com"],
                },
            },
            "routes": [
                {"owner": "payments", "channels": ["mail-payments"]},
                {"min_severity": "critical", "channels": ["oncall"]},
                {"kind": "budget", "owner": ["search", "web"], "channels": ["hook"]},
            ],
            "default": ["slack-finops"],
        }
    )


def make_alert(**changes: Any) -> Alert:
    data: dict[str, Any] = {
        "id": "an-7f3a",
        "kind": "anomaly",
        "severity": "warning",
        "owner": "search",
        "title": "EC2 spend 4.2x baseline in search-prod <!channel>",
        "text": "Daily EC2 spend jumped from USD 1,002.10 to USD 4,210.17.",
        "scope": {"SubAccountName": "search-prod", "ServiceName": "Amazon EC2"},
        "figures": [
            Figure(label="Spend", amount=Decimal("4210.17"), currency="usd", period="2026-11-27"),
            Figure(label="Baseline", amount=Decimal("1002.1"), currency="USD", period="28 days"),
        ],
        "evidence": ["ResourceId i-0abc moved +USD 3,208.07 (100% of the change)"],
        "links": [Link(text="Open in finops", url="https://finops.example.com/a/an-7f3a")],
    }
    data.update(changes)
    return Alert.model_validate(data)


class Sender:
    """Calls `send` with the test's clock, env and a recording sleep."""

    def __init__(self, config: NotifyConfig, store: StateStore, clock: Clock, env: dict[str, str]):
        self.config, self.store, self.clock, self.env = config, store, clock, env
        self.sleeps: list[float] = []

    def __call__(self, alert: Alert, **kwargs: Any) -> DeliveryReport:
        kwargs.setdefault("rng", lambda: 0.0)
        return send(
            alert,
            kwargs.pop("config", self.config),
            kwargs.pop("store", self.store),
            clock=self.clock,
            sleep=self.sleeps.append,
            transport=httpx.HTTPTransport(),
            environ=self.env,
            **kwargs,
        )


@pytest.fixture
def deliver(config: NotifyConfig, store: StateStore, clock: Clock, env: dict[str, str]) -> Sender:
    return Sender(config, store, clock, env)


def body(request: Any) -> Any:
    return json.loads(request.body)


# --- payload shapes ---------------------------------------------------------------------------


def test_slack_webhook_gets_block_kit_with_figures_and_evidence(
    deliver: Sender, http: HttpRecorder
) -> None:
    report = deliver(make_alert())
    assert report.channels == ["slack-finops"] and report.routed_by == ["default"]
    assert report.by_channel("slack-finops").status == "sent"
    [request] = http.to(SLACK_PATH)
    assert request.headers["content-type"] == "application/json"
    msg = body(request)
    assert [b["type"] for b in msg["blocks"]] == ["header", "section", "context", "actions"]
    header, section, context, actions = msg["blocks"]
    assert header["text"] == {
        "type": "plain_text",
        "text": "EC2 spend 4.2x baseline in search-prod <!channel>",
    }
    fields = [f["text"] for f in section["fields"]]
    assert fields[:2] == ["*Severity*\nWARNING", "*Owner*\nsearch"]
    assert "*Spend*\nUSD 4,210.17 (2026-11-27)" in fields
    assert "*Baseline*\nUSD 1,002.10 (28 days)" in fields
    assert "Scope: SubAccountName=search-prod, ServiceName=Amazon EC2" in section["text"]["text"]
    assert context["elements"][0]["text"].startswith("ResourceId i-0abc moved +USD 3,208.07")
    assert actions["elements"][0]["url"] == "https://finops.example.com/a/an-7f3a"
    assert "<!channel>" not in msg["text"] and "&lt;!channel&gt;" in msg["text"]
    assert msg["text"].startswith(":warning: [WARNING] EC2 spend")


def test_pagerduty_gets_events_v2_trigger_then_resolve(deliver: Sender, http: HttpRecorder) -> None:
    http.respond(PD_PATH, 202, b'{"status":"success","dedup_key":"anomaly:an-7f3a"}')
    alert = make_alert(severity="critical", owner="data")
    report = deliver(alert)
    assert report.channels == ["oncall"] and report.by_channel("oncall").detail == "HTTP 202"
    event = body(http.to(PD_PATH)[0])
    assert event["routing_key"] == SECRETS["PD_ROUTING_KEY"]
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "anomaly:an-7f3a"
    payload = event["payload"]
    assert payload["summary"] == "[CRITICAL] EC2 spend 4.2x baseline in search-prod <!channel>"
    assert payload["severity"] == "critical"
    assert payload["source"] == "finops-agent"
    assert payload["group"] == "data" and payload["class"] == "anomaly"
    details = payload["custom_details"]
    assert details["figures"] == {
        "Spend": "USD 4,210.17 (2026-11-27)",
        "Baseline": "USD 1,002.10 (28 days)",
    }
    assert details["scope"]["SubAccountName"] == "search-prod"
    assert event["links"] == [
        {"href": "https://finops.example.com/a/an-7f3a", "text": "Open in finops"}
    ]

    resolved = deliver(alert.model_copy(update={"event": "resolve"}))
    assert resolved.by_channel("oncall").status == "sent"
    assert body(http.to(PD_PATH)[1]) == {
        "routing_key": SECRETS["PD_ROUTING_KEY"],
        "event_action": "resolve",
        "dedup_key": "anomaly:an-7f3a",
    }
    again = deliver(alert.model_copy(update={"event": "resolve"})).by_channel("oncall")
    assert again.status == "skipped" and again.detail.startswith("already sent at")

    never_triggered = make_alert(id="an-0000", severity="critical", event="resolve")
    skipped = deliver(never_triggered).by_channel("oncall")
    assert (skipped.status, skipped.detail) == (
        "skipped",
        "no trigger was sent to this channel; nothing to resolve",
    )
    assert len(http.to(PD_PATH)) == 2


def test_webhook_is_signed_over_timestamp_and_exact_body(
    deliver: Sender, http: HttpRecorder, clock: Clock
) -> None:
    report = deliver(make_alert(kind="budget", owner="web", id="b-web-2026-11"))
    assert report.channels == ["hook"]
    [request] = http.to(HOOK_PATH)
    ts = request.headers["x-finops-timestamp"]
    sig = request.headers["x-finops-signature"]
    assert ts == str(int(clock().timestamp()))
    assert request.headers["x-finops-delivery"] == "budget:b-web-2026-11/hook/trigger"
    secret = SECRETS["HOOK_SECRET"]
    # The recipe a receiver follows (README): HMAC-SHA256 over "<timestamp>." + raw body.
    expected = hmac.new(secret.encode(), ts.encode() + b"." + request.body, hashlib.sha256)
    assert sig == "sha256=" + expected.hexdigest()
    assert verify_signature(secret, request.body, ts, sig, now=clock())
    assert not verify_signature("wrong-secret", request.body, ts, sig, now=clock())
    assert not verify_signature(secret, request.body + b" ", ts, sig, now=clock())
    assert not verify_signature(secret, request.body, str(int(ts) + 1), sig, now=clock())
    replayed_later = clock() + timedelta(minutes=10)
    assert not verify_signature(secret, request.body, ts, sig, now=replayed_later)
    document = json.loads(request.body)
    assert document["version"] == 1
    assert document["alert"]["figures"][0] == {
        "label": "Spend",
        "amount": "4210.17",
        "currency": "USD",
        "period": "2026-11-27",
    }


def test_email_is_multipart_text_and_escaped_html(
    deliver: Sender, smtp: SmtpRecorder, clock: Clock
) -> None:
    report = deliver(make_alert(owner="payments"))
    assert report.channels == ["mail-payments"]
    result = report.by_channel("mail-payments")
    assert result.status == "sent" and result.detail.startswith("SMTP accepted for 2 of 2")
    [(rcpts, message, authenticated)] = smtp.messages
    assert rcpts == ["payments@example.com", "lead@example.com"] and not authenticated
    assert message["Subject"] == "[WARNING] EC2 spend 4.2x baseline in search-prod <!channel>"
    assert message["From"] == "finops@example.com"
    assert message["X-Finops-Alert"] == "anomaly:an-7f3a"
    assert message.get_content_type() == "multipart/alternative"
    parts = dict(iter_parts(message))
    assert set(parts) == {"text/plain", "text/html"}
    assert "Spend: USD 4,210.17 (2026-11-27)" in parts["text/plain"]
    assert "Owner: payments" in parts["text/plain"]
    assert "&lt;!channel&gt;" in parts["text/html"] and "<!channel>" not in parts["text/html"]
    assert "<td>USD 4,210.17 (2026-11-27)</td>" in parts["text/html"]


# --- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "kind", "severity", "channels", "by"),
    [
        ("payments", "anomaly", "info", ["mail-payments"], ["routes[0]"]),
        (
            "PAYMENTS",
            "anomaly",
            "critical",
            ["mail-payments", "oncall"],
            ["routes[0]", "routes[1]"],
        ),
        ("search", "anomaly", "critical", ["oncall"], ["routes[1]"]),
        ("search", "budget", "warning", ["hook"], ["routes[2]"]),
        ("data", "budget", "warning", ["slack-finops"], ["default"]),
        (None, "runaway_agent", "warning", ["slack-finops"], ["default"]),
    ],
)
def test_routing_by_owner_kind_and_severity(
    config: NotifyConfig,
    owner: str | None,
    kind: str,
    severity: str,
    channels: list[str],
    by: list[str],
) -> None:
    routing = route(make_alert(owner=owner, kind=kind, severity=severity), config)
    assert (routing.channels, routing.routed_by) == (channels, by)


def test_one_send_delivers_to_every_routed_channel(
    deliver: Sender, http: HttpRecorder, smtp: SmtpRecorder
) -> None:
    report = deliver(make_alert(owner="payments", severity="critical"))
    assert [(r.channel, r.status) for r in report.results] == [
        ("mail-payments", "sent"),
        ("oncall", "sent"),
    ]
    assert len(smtp.messages) == 1 and len(http.to(PD_PATH)) == 1 and not http.to(SLACK_PATH)


def test_no_route_and_no_default_sends_nothing(deliver: Sender, config: NotifyConfig) -> None:
    bare = config.model_copy(update={"default": []})
    report = deliver(make_alert(owner="data"), config=bare)
    assert report.channels == [] and report.results == [] and report.ok


# --- retries ----------------------------------------------------------------------------------


def test_500s_are_retried_with_exponential_backoff(
    deliver: Sender, http: HttpRecorder, store: StateStore
) -> None:
    http.respond(SLACK_PATH, 500, b"internal_error")
    http.respond(SLACK_PATH, 503, b"")
    http.respond(SLACK_PATH, 502, b"bad gateway")
    result = deliver(make_alert()).by_channel("slack-finops")
    assert (result.status, result.attempts) == ("sent", 4)
    assert deliver.sleeps == [1.0, 2.0, 4.0] == result.delays
    assert len(http.to(SLACK_PATH)) == 4
    [row] = recent_deliveries(store)
    assert (row.status, row.attempts, row.last_error) == ("sent", 4, None)


def test_backoff_jitter_and_cap() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=5, jitter=0.5)
    assert [backoff(n, policy, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
    assert [backoff(n, policy, lambda: 1.0) for n in (1, 2, 3)] == [0.5, 1, 2]
    rng = random.Random(7).random
    for n in range(1, 6):
        full = min(5, 2 ** (n - 1))
        assert full / 2 <= backoff(n, policy, rng) <= full


def test_429_waits_for_retry_after(deliver: Sender, http: HttpRecorder) -> None:
    http.respond(PD_PATH, 429, b'{"status":"throttle"}', {"Retry-After": "7"})
    http.respond(PD_PATH, 202, b'{"status":"success"}')
    result = deliver(make_alert(severity="critical", owner="data")).by_channel("oncall")
    assert (result.status, result.attempts, deliver.sleeps) == ("sent", 2, [7.0])


def test_429_without_retry_after_backs_off_and_too_long_retry_after_gives_up(
    deliver: Sender, http: HttpRecorder, store: StateStore
) -> None:
    http.respond(SLACK_PATH, 429, b"rate_limited")
    assert deliver(make_alert()).by_channel("slack-finops").status == "sent"
    assert deliver.sleeps == [1.0]

    http.respond(SLACK_PATH, 429, b"rate_limited", {"Retry-After": "3600"})
    result = deliver(make_alert(id="an-2")).by_channel("slack-finops")
    assert (result.status, result.attempts) == ("failed", 1)
    assert "Retry-After 3600 s is longer than 120 s" in result.detail
    assert deliver.sleeps == [1.0]


def test_retry_after_as_http_date(clock: Clock) -> None:
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", clock()) == 30.0
    assert parse_retry_after("12", clock()) == 12.0
    assert parse_retry_after("soon", clock()) is None


def test_400_is_not_retried_and_is_reported(
    deliver: Sender, http: HttpRecorder, store: StateStore, clock: Clock
) -> None:
    http.respond(SLACK_PATH, 400, b"invalid_payload")
    report = deliver(make_alert())
    result = report.by_channel("slack-finops")
    assert not report.ok
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.detail == "HTTP 400: invalid_payload (not retried)"
    assert deliver.sleeps == [] and len(http.to(SLACK_PATH)) == 1
    [row] = recent_deliveries(store)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
    [entry] = AuditLog(store, clock).entries(kind="notification")
    assert entry.payload["status"] == "failed" and entry.payload["error"] == result.detail


def test_persistent_500_gives_up_after_the_configured_attempts(
    deliver: Sender, http: HttpRecorder
) -> None:
    for _ in range(4):
        http.respond(HOOK_PATH, 500, b"down")
    result = deliver(make_alert(kind="budget")).by_channel("hook")
    assert (result.status, result.attempts) == ("failed", 4)
    assert result.detail == "HTTP 500: down (gave up after 4 tries)"
    assert deliver.sleeps == [1.0, 2.0, 4.0]


def test_smtp_4xx_is_retried_5xx_is_not(deliver: Sender, smtp: SmtpRecorder) -> None:
    smtp.replies.append("451 4.3.0 Try again later")
    result = deliver(make_alert(owner="payments")).by_channel("mail-payments")
    assert (result.status, result.attempts, deliver.sleeps) == ("sent", 2, [1.0])
    assert len(smtp.messages) == 1

    smtp.replies.append("554 5.7.1 Message rejected")
    result = deliver(make_alert(owner="payments", id="an-2")).by_channel("mail-payments")
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.detail == "SMTP 554: 5.7.1 Message rejected (not retried)"


def test_unreachable_server_is_retried_then_fails(
    deliver: Sender, env: dict[str, str], store: StateStore
) -> None:
    with HttpRecorder() as closed:
        dead_url = closed.url(SLACK_PATH)
    env["SLACK_FINOPS_URL"] = dead_url
    result = deliver(make_alert()).by_channel("slack-finops")
    assert (result.status, result.attempts) == ("failed", 4)
    assert result.detail.startswith("ConnectError") and deliver.sleeps == [1.0, 2.0, 4.0]


def test_missing_secret_fails_without_trying(
    deliver: Sender, env: dict[str, str], http: HttpRecorder
) -> None:
    del env["PD_ROUTING_KEY"]
    result = deliver(make_alert(severity="critical", owner="data")).by_channel("oncall")
    assert (result.status, result.attempts) == ("failed", 0)
    assert result.detail == "channel oncall: environment variable PD_ROUTING_KEY is not set"
    assert not http.requests


# --- once per alert key, channel and event ----------------------------------------------------


def test_same_alert_is_delivered_once_even_from_another_store(
    deliver: Sender, http: HttpRecorder, tmp_path: Path, clock: Clock
) -> None:
    alert = make_alert()
    assert deliver(alert).by_channel("slack-finops").status == "sent"
    clock.advance(minutes=15)
    again = deliver(make_alert(title="EC2 spend now 5x baseline"))
    assert again.by_channel("slack-finops").status == "skipped"
    assert again.by_channel("slack-finops").detail.startswith("already sent at 2026-11-28T12:00")

    other_process = StateStore(tmp_path / "state.db")
    try:
        skipped = deliver(alert, store=other_process).by_channel("slack-finops")
    finally:
        other_process.close()
    assert skipped.status == "skipped"
    assert len(http.to(SLACK_PATH)) == 1

    recurrence = deliver(make_alert(id="an-8b1c"))
    assert recurrence.by_channel("slack-finops").status == "sent"
    assert len(http.to(SLACK_PATH)) == 2


def test_concurrent_senders_in_two_processes_deliver_once(
    config: NotifyConfig, clock: Clock, env: dict[str, str], http: HttpRecorder, tmp_path: Path
) -> None:
    alert = make_alert(owner="data")
    barrier = threading.Barrier(4)
    reports: list[DeliveryReport] = []

    def one_process() -> None:
        store = StateStore(tmp_path / "state.db")
        try:
            barrier.wait()
            reports.append(Sender(config, store, clock, env)(alert))
        finally:
            store.close()

    threads = [threading.Thread(target=one_process) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    statuses = sorted(r.by_channel("slack-finops").status for r in reports)
    assert statuses == ["sent", "skipped", "skipped", "skipped"]
    assert len(http.to(SLACK_PATH)) == 1


def test_failed_delivery_may_be_retried_by_a_later_send(
    deliver: Sender, http: HttpRecorder
) -> None:
    http.respond(SLACK_PATH, 404, b"channel_not_found")
    assert deliver(make_alert()).by_channel("slack-finops").status == "failed"
    retried = deliver(make_alert()).by_channel("slack-finops")
    assert retried.status == "sent"
    assert deliver(make_alert()).by_channel("slack-finops").status == "skipped"
    assert len(http.to(SLACK_PATH)) == 2


def test_a_sender_that_died_mid_delivery_is_not_resent(
    deliver: Sender, http: HttpRecorder, store: StateStore, clock: Clock
) -> None:
    alert = make_alert()
    ledger = DeliveryLedger(store, AuditLog(store, clock), clock)
    assert ledger.claim(alert, "slack-finops", "slack_webhook", timedelta(minutes=15)).granted
    busy = deliver(alert).by_channel("slack-finops")
    assert busy.status == "skipped" and busy.detail.startswith("being delivered by another sender")
    clock.advance(minutes=16)
    stale = deliver(alert).by_channel("slack-finops")
    assert stale.status == "skipped" and "stopped mid-delivery" in stale.detail
    assert deliver(alert).by_channel("slack-finops").detail.startswith("outcome unknown")
    assert not http.requests
    [row] = recent_deliveries(store)
    assert row.status == "unknown"


# --- audit and secrets ------------------------------------------------------------------------


def test_every_delivery_is_audited_and_no_secret_is_stored(
    deliver: Sender,
    http: HttpRecorder,
    smtp: SmtpRecorder,
    store: StateStore,
    clock: Clock,
    tmp_path: Path,
) -> None:
    echo = f"routing_key {SECRETS['PD_ROUTING_KEY']} is invalid".encode()
    http.respond(PD_PATH, 400, b'{"status":"invalid event","errors":["' + echo + b'"]}')
    http.respond(SLACK_PATH, 404, f"no such webhook {SLACK_PATH}".encode())
    deliver(make_alert(owner="payments", severity="critical"))
    deliver(make_alert(kind="budget"))
    deliver(make_alert(id="an-3"))
    deliver(make_alert(id="an-4"))

    entries = AuditLog(store, clock).entries(kind="notification")
    assert [(e.payload["channel"], e.payload["status"]) for e in entries] == [
        ("mail-payments", "sent"),
        ("oncall", "failed"),
        ("hook", "sent"),
        ("slack-finops", "failed"),
        ("slack-finops", "sent"),
    ]
    failed_pd = entries[1].payload
    assert "[redacted]" in failed_pd["error"] and failed_pd["dedupe"] == "anomaly:an-7f3a"
    assert entries[0].payload["destination"].startswith("smtp 127.0.0.1:")
    assert entries[4].payload["destination"] == "slack webhook ($SLACK_FINOPS_URL)"
    assert AuditLog(store, clock).verify().ok

    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    for secret in (*SECRETS.values(), SLACK_PATH):
        assert secret not in dump


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "extra", "message"),
    [
        (
            {"s": {"type": "slack_webhook", "url_env": "https://hooks.slack.com/services/T/B/X"}},
            {},
            "NAME of an environment variable",
        ),
        ({"p": {"type": "pagerduty", "routing_key": "abc"}}, {}, "Extra inputs are not permitted"),
        ({"s": {"type": "slack_webhook"}}, {"default": ["nope"]}, "unknown channel 'nope'"),
        (
            {"s": {"type": "slack_webhook"}},
            {"routes": [{"owner": "x", "channels": ["t"]}]},
            "routes[0]: unknown channel 't'",
        ),
        (
            {
                "m": {
                    "type": "email",
                    "host": "h",
                    "starttls": False,
                    "username_env": "U",
                    "password_env": "P",
                    "from": "a@b.c",
                    "to": ["d@e.f"],
                }
            },
            {},
            "starttls",
        ),
        (
            {
                "w": {
                    "type": "webhook",
                    "url": "https://user:pw@hooks.example.com/x",
                    "secret_env": "S",
                }
            },
            {},
            "credentials in the URL",
        ),
        ({"Bad Name": {"type": "slack_webhook"}}, {}, "channel name 'Bad Name'"),
        ({"x": {"type": "teams"}}, {}, "does not match any of the expected tags"),
    ],
)
def test_config_is_strict(channels: dict[str, Any], extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")):
        NotifyConfig.model_validate({"channels": channels, **extra})


def test_alert_defaults() -> None:
    alert = Alert(id="x1", kind="budget", severity="info", title="Budget\nat 80%")
    assert alert.dedupe_key == "budget:x1" and alert.title == "Budget at 80%"
    with pytest.raises(ValidationError):
        Alert(id="x1", kind="Budget!", severity="info", title="t")
