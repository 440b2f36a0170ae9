"""One sender per channel type: a single delivery attempt, classified for the retry loop.

A sender either returns (delivered) or raises `DeliveryError` saying whether another try may
help: connection problems, timeouts, HTTP 5xx and 429 and SMTP 4xx replies are retryable; any
other HTTP 4xx, SMTP 5xx replies, TLS verification failures and missing secrets are not. The
Slack app's `chat.postMessage` is classified the same way from Slack's answer: HTTP 429
`ratelimited` waits for its Retry-After, Slack's transient errors are retried, anything else
(`channel_not_found`, `not_in_channel`, `invalid_auth`, …) is not; slack_sdk's own retries are
off, so the one retry loop in `tools.notify.service` owns every retry. Secrets
are read from the injected environment when the sender is built and listed in `secrets`, so the
caller can scrub them from any error text before it is stored or audited.
"""

from __future__ import annotations

import http.client
import json
import math
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from tools.notify.config import (
    SLACK_API_URL,
    SLACK_TOKEN_ENV,
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackAppChannel,
    SlackWebhookChannel,
    WebhookChannel,
)
from tools.notify.models import Alert
from tools.notify.payloads import (
    email_message,
    pagerduty_event,
    sign,
    slack_app_message,
    slack_message,
    webhook_body,
)

__all__ = ["DeliveryError", "Sender", "build_sender", "parse_retry_after"]

USER_AGENT = "agentic-finops-notify/1"
# Slack Web API errors worth another try (server side or throttling); any other error is final.
SLACK_TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class DeliveryError(Exception):
    """One failed attempt; `retryable` tells the loop whether to try again."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    @property
    def destination(self) -> str:
        """Where it goes, safe to log (no secret)."""
        ...

    @property
    def secrets(self) -> tuple[str, ...]:
        """Secret values to scrub from error text."""
        ...

    def deliver(self, alert: Alert, now: datetime) -> str:
        """Deliver once; return a short detail (e.g. "HTTP 202") or raise `DeliveryError`."""
        ...


def _secret(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise DeliveryError(f"{what}: environment variable {name} is not set", retryable=False)
    return value


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - now).total_seconds())


def _classify(response: httpx.Response, now: datetime) -> str:
    code = response.status_code
    if 200 <= code < 300:
        return f"HTTP {code}"
    snippet = " ".join(response.text.split())[:200]
    message = f"HTTP {code}" + (f": {snippet}" if snippet else "")
    if code == 429 or code >= 500:
        after = parse_retry_after(response.headers.get("Retry-After"), now)
        raise DeliveryError(
            message, retryable=True, retry_after=after if code in (429, 503) else None
        )
    raise DeliveryError(message, retryable=False)


def _post(
    http: httpx.Client, url: str, content: bytes, headers: dict[str, str], now: datetime
) -> str:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        response = http.post(url, content=content, headers=headers)
    except httpx.TransportError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None
    return _classify(response, now)


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass
class SlackWebhookSender:
    url: str
    http: httpx.Client
    url_env: str
    secrets: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        return f"slack webhook (${self.url_env})"

    def deliver(self, alert: Alert, now: datetime) -> str:
        return _post(self.http, self.url, _json(slack_message(alert)), {}, now)


def _slack_error(response: SlackResponse, now: datetime) -> DeliveryError:
    """A failed Web API call as a `DeliveryError` (retryable or not, with its Retry-After)."""
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or "unknown error")
    code = response.status_code
    message = f"Slack chat.postMessage HTTP {code}: {error}"
    headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
    after = parse_retry_after(headers.get("retry-after"), now)
    if code == 429 or error == "ratelimited":
        return DeliveryError(message, retryable=True, retry_after=after)
    if code >= 500 or error in SLACK_TRANSIENT:
        return DeliveryError(message, retryable=True, retry_after=after if code == 503 else None)
    return DeliveryError(message, retryable=False)


@dataclass
class SlackAppSender:
    """The Slack app's bot posting to one conversation with slack_sdk's `WebClient`."""

    client: WebClient
    channel: str
    token_env: str
    secrets: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        return f"slack app chat.postMessage to {self.channel} (${self.token_env})"

    def deliver(self, alert: Alert, now: datetime) -> str:
        try:
            response = self.client.chat_postMessage(**slack_app_message(alert, self.channel))
        except SlackApiError as exc:
            raise _slack_error(exc.response, now) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        return f"Slack message {response.get('ts')} in {response.get('channel')}"


def _slack_app_sender(
    channel: SlackAppChannel, environ: Mapping[str, str], timeout: float, what: str
) -> SlackAppSender:
    token_env = channel.token_env or SLACK_TOKEN_ENV
    token = _secret(environ, token_env, what)
    client = WebClient(
        token=token,
        base_url=channel.base_url or SLACK_API_URL,
        timeout=max(1, math.ceil(timeout)),
        retry_handlers=[],  # the notify loop retries, with backoff and the ledger
    )
    return SlackAppSender(client, channel.channel, token_env, secrets=(token,))


@dataclass
class PagerDutySender:
    url: str
    routing_key: str
    http: httpx.Client
    secrets: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        return f"pagerduty {self.url}"

    def deliver(self, alert: Alert, now: datetime) -> str:
        body = _json(pagerduty_event(alert, self.routing_key))
        return _post(self.http, self.url, body, {}, now)


@dataclass
class WebhookSender:
    config: WebhookChannel
    secret: str
    name: str
    http: httpx.Client
    secrets: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        parts = urlsplit(self.config.url)
        return f"webhook {parts.scheme}://{parts.netloc}{parts.path}"

    def deliver(self, alert: Alert, now: datetime) -> str:
        body = webhook_body(alert, channel=self.name, sent_at=now)
        timestamp = int(now.timestamp())
        headers = {
            self.config.timestamp_header: str(timestamp),
            self.config.signature_header: sign(self.secret, timestamp, body),
            "X-Finops-Delivery": f"{alert.dedupe_key}/{self.name}/{alert.event}",
        }
        return _post(self.http, self.config.url, body, headers, now)


@dataclass
class EmailSender:
    config: EmailChannel
    timeout: float
    username: str | None = None
    password: str | None = None
    secrets: tuple[str, ...] = ()
    smtp_factory: Callable[..., smtplib.SMTP] = field(default=smtplib.SMTP)

    @property
    def destination(self) -> str:
        return f"smtp {self.config.host}:{self.config.port} to {', '.join(self.config.to)}"

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    def deliver(self, alert: Alert, now: datetime) -> str:
        c = self.config
        msg = email_message(alert, sender=c.sender, to=c.to, sent_at=now)
        try:
            with self.smtp_factory(c.host, c.port, timeout=self.timeout) as smtp:
                if c.starttls:
                    smtp.starttls(context=self._tls())
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"all recipients refused: {sorted(exc.recipients)}", retryable=False
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server: {exc}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            message = f"SMTP {exc.smtp_code}: {text}"
            raise DeliveryError(message, retryable=400 <= exc.smtp_code < 500) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"TLS: {exc.verify_message}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        detail = f"SMTP accepted for {len(c.to) - len(refused)} of {len(c.to)} recipient(s)"
        return detail + (f"; refused {sorted(refused)}" if refused else "")


def build_sender(
    name: str, channel: Channel, environ: Mapping[str, str], http: httpx.Client, timeout: float
) -> Sender:
    """The sender for a configured channel, with its secrets read from `environ`.

    Raises `DeliveryError` (not retryable) when a secret's environment variable is not set.
    """
    what = f"channel {name}"
    if isinstance(channel, SlackWebhookChannel):
        url = _secret(environ, channel.url_env, what)
        return SlackWebhookSender(url, http, channel.url_env, secrets=(url, urlsplit(url).path))
    if isinstance(channel, SlackAppChannel):
        return _slack_app_sender(channel, environ, timeout, what)
    if isinstance(channel, PagerDutyChannel):
        key = _secret(environ, channel.routing_key_env, what)
        return PagerDutySender(channel.events_url, key, http, secrets=(key,))
    if isinstance(channel, WebhookChannel):
        secret = _secret(environ, channel.secret_env, what)
        return WebhookSender(channel, secret, name, http, secrets=(secret,))
    username = password = None
    if channel.username_env and channel.password_env:
        username = _secret(environ, channel.username_env, what)
        password = _secret(environ, channel.password_env, what)
    return EmailSender(
        channel, timeout, username, password, secrets=tuple(s for s in (password,) if s)
    )
