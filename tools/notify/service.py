"""Alerts to their owners: routing, delivery with retries, once per channel, audited.

`send(alert, config, store, clock=…, sleep=…)` picks the channels (every matching route, else
the default), then for each channel: claims the delivery in the ledger (skipped when this key
already went out there, even from another process), delivers with up to `retry.attempts` tries
and exponential backoff with jitter (429 waits for its Retry-After; other 4xx are not retried),
and records the outcome and an audit entry. Secrets come from the injected environment and are
scrubbed from every error before it is stored.

Example:
    report = send(alert, app.config.notify, store, clock=clock, sleep=time.sleep)
    report.by_channel("oncall").status  # "sent" | "failed" | "skipped"
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import httpx

from guardrails.audit import AuditLog
from tools.notify.channels import DeliveryError, Sender, build_sender
from tools.notify.config import NotifyConfig, RetryPolicy
from tools.notify.ledger import DeliveryLedger
from tools.notify.models import Alert, ChannelResult, DeliveryReport, Figure, Link
from warehouse.errors import FinopsError
from warehouse.state.store import StateStore

__all__ = [
    "Alert",
    "DeliveryReport",
    "Figure",
    "Link",
    "NotifyError",
    "backoff",
    "probe_alert",
    "route",
    "send",
]

REDACTED = "[redacted]"


class NotifyError(FinopsError):
    """An alert could not be sent as asked (e.g. an unknown channel name)."""


@dataclass(frozen=True)
class Routing:
    channels: list[str]
    routed_by: list[str]


def route(alert: Alert, config: NotifyConfig) -> Routing:
    """Channels for `alert`: the union of every matching route's, else the default ones."""
    channels: list[str] = []
    reasons: list[str] = []
    for i, r in enumerate(config.routes):
        if r.matches(alert.owner, alert.kind, alert.severity):
            reasons.append(f"routes[{i}]")
            channels += [c for c in r.channels if c not in channels]
    if not reasons and config.default:
        return Routing(list(dict.fromkeys(config.default)), ["default"])
    return Routing(channels, reasons)


def backoff(attempt: int, policy: RetryPolicy, rng: Callable[[], float]) -> float:
    """Wait after failed try number `attempt` (1-based): base·2^(attempt-1), capped, minus up to
    `jitter` of it at random so many senders do not retry in lockstep."""
    full = min(policy.max_seconds, policy.base_seconds * 2 ** (attempt - 1))
    return round(full * (1 - policy.jitter * rng()), 3)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


@dataclass
class _Delivery:
    ledger: DeliveryLedger
    config: NotifyConfig
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    rng: Callable[[], float]
    environ: Mapping[str, str]
    http: httpx.Client

    def channel(self, alert: Alert, name: str) -> ChannelResult:
        """Claim, deliver with retries, record: the whole life of one channel's delivery."""
        channel = self.config.channels[name]
        result = ChannelResult(channel=name, type=channel.type, status="skipped")
        claim = self.ledger.claim(
            alert, name, channel.type, timedelta(minutes=self.config.claim_lease_minutes)
        )
        if not claim.granted:
            return result.model_copy(update={"detail": claim.reason})
        try:
            sender = build_sender(
                name, channel, self.environ, self.http, self.config.timeout_seconds
            )
        except DeliveryError as exc:
            self.ledger.finish(
                alert, name, channel.type, sent=False, error=exc.message, extra={"attempts": 0}
            )
            return result.model_copy(update={"status": "failed", "detail": exc.message})
        result = self._tries(alert, name, sender, result)
        sent = result.status == "sent"
        self.ledger.finish(
            alert,
            name,
            channel.type,
            sent=sent,
            error=None if sent else result.detail,
            extra={
                "attempts": result.attempts,
                "delays": result.delays,
                "destination": _scrub(sender.destination, sender.secrets),
                "detail": result.detail,
            },
        )
        return result

    def _tries(
        self, alert: Alert, name: str, sender: Sender, result: ChannelResult
    ) -> ChannelResult:
        delays: list[float] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                detail = sender.deliver(alert, self.clock())
            except DeliveryError as exc:
                error = _scrub(exc.message, sender.secrets)
                wait = self._next_wait(exc, attempt, error)
            except Exception as exc:  # a bug must not leave the claim dangling
                error = _scrub(f"unexpected {type(exc).__name__}: {exc}", sender.secrets)
                wait = f"{error} (not retried)"
            else:
                self.ledger.attempted(alert, name, None)
                update = {"status": "sent", "attempts": attempt, "delays": delays}
                return result.model_copy(
                    update={**update, "detail": _scrub(detail, sender.secrets)}
                )
            self.ledger.attempted(alert, name, error)
            if isinstance(wait, str):
                update = {"status": "failed", "attempts": attempt, "delays": delays}
                return result.model_copy(update={**update, "detail": wait})
            delays.append(wait)
            self.sleep(wait)

    def _next_wait(self, exc: DeliveryError, attempt: int, error: str) -> float | str:
        """Seconds to wait before the next try, or the final error text when giving up."""
        policy = self.config.retry
        if not exc.retryable:
            return f"{error} (not retried)"
        if attempt >= policy.attempts:
            return f"{error} (gave up after {attempt} tries)"
        if exc.retry_after is not None:
            if exc.retry_after > policy.max_retry_after_seconds:
                return (
                    f"{error} (Retry-After {exc.retry_after:.0f} s is longer than "
                    f"{policy.max_retry_after_seconds:.0f} s; a later send retries)"
                )
            return exc.retry_after
        return backoff(attempt, policy, self.rng)


def send(
    alert: Alert,
    config: NotifyConfig,
    store: StateStore,
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    transport: httpx.BaseTransport | None = None,
    environ: Mapping[str, str] | None = None,
    rng: Callable[[], float] = random.random,
    channels: Sequence[str] | None = None,
) -> DeliveryReport:
    """Route `alert` and deliver it once to each channel; a channel's failure is reported in
    the result, never raised.

    `channels` bypasses routing (e.g. `finops notify test`); `environ` defaults to the process
    environment and holds the secrets the channels name; `transport` is httpx's (tests).
    """
    if channels is not None:
        unknown = [c for c in channels if c not in config.channels]
        if unknown:
            valid = ", ".join(sorted(config.channels)) or "none configured"
            raise NotifyError(f"unknown channel {unknown[0]!r}; channels: {valid}")
        routing = Routing(list(dict.fromkeys(channels)), ["explicit"])
    else:
        routing = route(alert, config)
    report = DeliveryReport(
        alert_id=alert.id,
        dedupe_key=alert.dedupe_key,
        event=alert.event,
        routed_by=routing.routed_by,
        channels=routing.channels,
    )
    ledger = DeliveryLedger(store, AuditLog(store, clock), clock)
    env = os.environ if environ is None else environ
    with httpx.Client(transport=transport, timeout=config.timeout_seconds) as http:
        delivery = _Delivery(ledger, config, clock, sleep, rng, env, http)
        report.results.extend(delivery.channel(alert, name) for name in routing.channels)
    return report


def probe_alert(channel: str, now: datetime, currency: str = "USD") -> Alert:
    """A harmless alert for `finops notify test CHANNEL`, unique per call (never deduplicated)."""
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    return Alert(
        id=f"test-{channel}-{stamp}",
        kind="test",
        severity="info",
        title=f"Test alert from Agentic FinOps to {channel}",
        text="If you can read this, the channel works. No action needed.",
        owner="finops",
        scope={"channel": channel},
        figures=[
            Figure(
                label="Example figure",
                amount=Decimal(0),
                currency=currency,
                period=now.date().isoformat(),
            )
        ],
        evidence=[f"sent by `finops notify test {channel}` at {now.isoformat(timespec='seconds')}"],
        created_at=now,
    )
