"""The `notify:` section of `finops.yaml`: alert channels, routes and the retry policy.

Channels are named; each is a Slack incoming webhook, a Slack channel posted to by the Slack
app's bot (`chat.postMessage`), an SMTP mailbox, a PagerDuty service (Events API v2) or a generic
HTTPS webhook signed with HMAC-SHA256. Secrets (webhook URLs,
passwords, routing keys, signing secrets) are never written in the config: a channel names the
environment variable that holds each one, and the name is checked to look like one, so a pasted
secret fails validation instead of landing in a file.

Routing: every route whose `owner`, `kind` and `min_severity` match an alert adds its channels
(in order, without repeats); when no route matches, the `default` channels get the alert.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from warehouse.settings import Strict

__all__ = [
    "SEVERITY_RANK",
    "SLACK_API_URL",
    "SLACK_TOKEN_ENV",
    "Channel",
    "EmailChannel",
    "NotifyConfig",
    "PagerDutyChannel",
    "RetryPolicy",
    "Route",
    "Severity",
    "SlackAppChannel",
    "SlackWebhookChannel",
    "WebhookChannel",
]

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_SLACK_CONVERSATION = re.compile(r"^[CGDUW][A-Z0-9]{2,30}$")
SLACK_TOKEN_ENV = "SLACK_BOT_TOKEN"
SLACK_API_URL = "https://slack.com/api/"


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            "must be the NAME of an environment variable holding the secret (letters, digits, _), "
            "never the secret itself"
        )
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not allowed; use the *_env settings")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class RetryPolicy(Strict):
    """Per-channel retries: exponential backoff with jitter; 429 waits for its Retry-After."""

    attempts: int = Field(default=4, ge=1, le=10, description="Tries per channel, first included.")
    base_seconds: float = Field(default=1.0, gt=0, le=60, description="Wait before the 2nd try.")
    max_seconds: float = Field(default=30.0, gt=0, le=600, description="Cap of one backoff wait.")
    jitter: float = Field(
        default=0.5, ge=0, le=1, description="Each wait is cut by up to this fraction at random."
    )
    max_retry_after_seconds: float = Field(
        default=120,
        ge=0,
        le=3600,
        description="A Retry-After longer than this ends the delivery as failed (a later send "
        "tries again) instead of blocking.",
    )


class SlackWebhookChannel(Strict):
    """A Slack incoming webhook (until the Slack app's client carries alerts)."""

    type: Literal["slack_webhook"]
    url_env: EnvName = Field(
        default="SLACK_WEBHOOK_URL", description="Env var holding the webhook URL (a secret)."
    )


class SlackAppChannel(Strict):
    """A Slack channel the Slack app's bot posts to (`chat.postMessage` with the bot token).

    Unlike a webhook, one app reaches any channel it was invited to, so routes can send each
    owner's alerts to their own channel. `token_env` and `base_url` default to the `slack:`
    section's `bot_token_env` and `base_url` (see `NotifyConfig.with_slack_defaults`), else to
    `SLACK_BOT_TOKEN` and Slack's API. Example: `{type: slack_app, channel: C0PAYMENTS}`.
    """

    type: Literal["slack_app"]
    channel: str = Field(description="Conversation id: C… (channel), G… (private), D…/U… (DM).")
    token_env: EnvName | None = Field(
        default=None, description="Env var holding the xoxb- bot token (default: slack's)."
    )
    base_url: HttpUrl | None = Field(
        default=None, description="Slack Web API base URL (default: slack.base_url)."
    )

    @field_validator("channel")
    @classmethod
    def _conversation(cls, value: str) -> str:
        if not _SLACK_CONVERSATION.match(value):
            raise ValueError(
                f"channel {value!r} must be a Slack conversation id such as C0PAYMENTS "
                "(right-click the channel → Copy link; the id is the last part), not a #name"
            )
        return value


class EmailChannel(Strict):
    """Mail over SMTP, multipart text + HTML. Credentials require STARTTLS."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    sender: str = Field(alias="from", description="From address, e.g. finops@example.com.")
    to: list[str] = Field(min_length=1, max_length=50)
    ca_file: str | None = Field(
        default=None, description="CA bundle to trust for STARTTLS (default: the system's)."
    )

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"not an e-mail address: {address!r}")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> EmailChannel:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("set both username_env and password_env, or neither")
        if self.username_env and not self.starttls:
            raise ValueError("username_env/password_env need starttls: true (no clear-text login)")
        return self


class PagerDutyChannel(Strict):
    """A PagerDuty service's Events API v2 integration."""

    type: Literal["pagerduty"]
    routing_key_env: EnvName = Field(
        default="PAGERDUTY_ROUTING_KEY", description="Env var holding the integration key."
    )
    events_url: HttpUrl = Field(default=PAGERDUTY_EVENTS_URL, description="Overridable for tests.")


class WebhookChannel(Strict):
    """A generic webhook: POST of the alert as JSON, signed with HMAC-SHA256.

    `signature_header: sha256=HEX` where HEX = HMAC-SHA256(secret, "<timestamp>.<raw body>") and
    `<timestamp>` is the value of `timestamp_header` (Unix seconds). Receivers recompute it over
    the exact bytes received and reject timestamps older than a few minutes (replay).
    """

    type: Literal["webhook"]
    url: HttpUrl
    secret_env: EnvName = Field(description="Env var holding the HMAC signing secret.")
    signature_header: str = "X-Finops-Signature"
    timestamp_header: str = "X-Finops-Timestamp"

    @field_validator("signature_header", "timestamp_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"not an HTTP header name: {value!r}")
        return value


Channel = Annotated[
    SlackWebhookChannel | SlackAppChannel | EmailChannel | PagerDutyChannel | WebhookChannel,
    Field(discriminator="type"),
]


class Route(Strict):
    """Send matching alerts to `channels`. Unset conditions match everything."""

    owner: str | list[str] | None = Field(
        default=None, description="Owner (team) value(s), e.g. the virtual tag `team`."
    )
    kind: str | list[str] | None = Field(
        default=None, description="Alert kind(s): anomaly, budget, runaway_agent, …"
    )
    min_severity: Severity = "info"
    channels: list[str] = Field(min_length=1)

    def matches(self, owner: str | None, kind: str, severity: str) -> bool:
        """True when the alert's owner, kind and severity all satisfy this route."""
        if SEVERITY_RANK[severity] < SEVERITY_RANK[self.min_severity]:
            return False
        if self.owner is not None:
            owners = [self.owner] if isinstance(self.owner, str) else self.owner
            if owner is None or owner.lower() not in {o.lower() for o in owners}:
                return False
        if self.kind is not None:
            kinds = [self.kind] if isinstance(self.kind, str) else self.kind
            if kind not in kinds:
                return False
        return True


class NotifyConfig(Strict):
    """Alert channels by name, routes by owner / kind / severity, default channels, retries."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    default: list[str] = Field(
        default_factory=list, description="Channels for alerts that no route matches."
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_seconds: float = Field(default=10, gt=0, le=120, description="Per HTTP/SMTP request.")
    claim_lease_minutes: float = Field(
        default=15,
        gt=0,
        description="A delivery claimed this long ago and never finished is marked outcome "
        "unknown and not sent again (never twice beats maybe twice).",
    )

    @model_validator(mode="after")
    def _names(self) -> NotifyConfig:
        for name in self.channels:
            if not _CHANNEL_NAME.match(name):
                raise ValueError(
                    f"channel name {name!r}: use lower case letters, digits, - and _ "
                    "(at most 40 characters)"
                )
        known = set(self.channels)
        wanted = [("default", c) for c in self.default] + [
            (f"routes[{i}]", c) for i, r in enumerate(self.routes) for c in r.channels
        ]
        for where, name in wanted:
            if name not in known:
                valid = ", ".join(sorted(known)) or "none configured"
                raise ValueError(f"{where}: unknown channel {name!r}; channels: {valid}")
        return self

    def with_slack_defaults(self, token_env: str, base_url: str) -> NotifyConfig:
        """This config with every `slack_app` channel's unset `token_env` / `base_url` taken
        from the Slack app's settings (`slack.bot_token_env`, `slack.base_url`)."""
        channels: dict[str, Channel] = {
            name: SlackAppChannel(
                type="slack_app",
                channel=c.channel,
                token_env=c.token_env or token_env,
                base_url=c.base_url or base_url,
            )
            if isinstance(c, SlackAppChannel)
            else c
            for name, c in self.channels.items()
        }
        return self.model_copy(update={"channels": channels})
