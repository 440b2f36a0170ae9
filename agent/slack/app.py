"""The Slack app that `finops serve` mounts: a Bolt app plus the outbox and digest helpers.

`build_slack_app(app_ctx)` wires the listeners:

- `app_mention`, direct messages (`message.im`) and follow-ups in threads the bot answers
  (`message.channels`; `message.groups` too if subscribed) → the chat graph, on the chat pool,
- the Approve / Reject buttons and the reject-reason modal → the approvals ledger,
- any other click (link buttons too) → acknowledged, nothing else,
- `/finops …` → the CLI's reports.

Every listener acknowledges first and never waits behind work: Bolt runs with
`process_before_response=False`, so the HTTP response (or the Socket Mode ack) goes out as soon
as `ack()` is called (at once for events). Bolt's listener executor only acks and hands off:
chat questions go to a pool of their own (`slack.chat_workers`), clicks, modal submissions and
slash commands to a work pool. The one exception is Reject: its `views.open` runs right after the
ack, because its `trigger_id` expires 3 s after the click. Every `WebClient` retries HTTP 429
(honouring `Retry-After`, capped) and connection errors. In HTTP mode Bolt verifies each request's
`X-Slack-Signature` and refuses timestamps older than five minutes (401) before any listener runs;
before reading the body, `SlackApp.handle` refuses a missing signature or a missing, non-numeric or
stale timestamp (401) and a body over `max_body_bytes` (413: by `Content-Length` before reading, or
as a chunked body streams past it), closing the connection so the rest is never read.
Tokens come from the environment or the secrets file (`agent.slack.secrets`), never from the
config itself, and are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.context import AppContext
from agent.runtime.runner import Runtime
from agent.slack.blocks import APPROVE_ID, REJECT_ID, REJECT_MODAL_ID, fallback, text_blocks
from agent.slack.cards import (
    handle_approve,
    handle_reject_click,
    handle_reject_submit,
    post_pending_cards,
)
from agent.slack.chat import handle_message, wants_message
from agent.slack.commands import run_command
from agent.slack.home import register_home
from agent.slack.rbac import Access, RateLimiter
from agent.slack.secrets import SlackTokens, load_tokens
from agent.slack.services import Services, TrackingExecutor, wait_all_idle
from agent.slack.state import SlackState
from warehouse.clock import utc_now
from warehouse.errors import ConfigError

__all__ = ["RateLimitRetry", "SlackApp", "build_slack_app", "retry_handlers"]

log = logging.getLogger("finops.slack")
EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1024 * 1024  # Slack's own payloads are a few KiB
MAX_SKEW_SECONDS = 300  # as Bolt's signature verifier
MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After is waited out this long, then retried


class RateLimitRetry(RateLimitErrorRetryHandler):
    """Retries an HTTP 429 after its `Retry-After` (capped at `MAX_RETRY_AFTER`), up to
    `max_retry_count` times; `sleep` is injectable (tests pass one that records and returns)."""

    def __init__(self, max_retry_count: int = 3, sleep: Callable[[float], None] = time.sleep):
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("HTTP 429 without a response")
        after = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), [])
        value = str(after[0]) if after else "1"
        wait_s = float(value) if value.replace(".", "", 1).isdigit() else 1.0
        state.next_attempt_requested = True
        self.sleep(min(wait_s, MAX_RETRY_AFTER))
        state.increment_current_attempt()


def retry_handlers(sleep: Callable[[float], None] = time.sleep) -> list[RetryHandler]:
    """What every WebClient the app uses retries: HTTP 429 and connection errors."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitRetry(sleep=sleep)]


def _refuse(status: int, message: str) -> Response:
    """An error that closes the connection: the unread rest of the body is never drained."""
    return JSONResponse({"error": message}, status_code=status, headers={"Connection": "close"})


def _precheck(request: Request, limit: int) -> Response | None:
    """What can be refused from the headers alone, before a byte of the body is read."""
    stamp = request.headers.get("x-slack-request-timestamp", "").strip()
    if not request.headers.get("x-slack-signature"):
        return _refuse(401, "missing X-Slack-Signature")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return _refuse(401, "missing or non-numeric X-Slack-Request-Timestamp")
    if abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        return _refuse(401, "stale X-Slack-Request-Timestamp")
    declared = request.headers.get("content-length", "").strip()
    if declared and not (declared.isascii() and declared.isdigit()):
        return _refuse(400, "bad Content-Length")
    if declared and int(declared) > limit:
        return _refuse(413, f"body of {int(declared):,} bytes; limit {limit:,}")
    return None


async def _read_capped(request: Request, limit: int) -> bytes | Response:
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return _refuse(413, f"body over {limit:,} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        return _refuse(400, "client disconnected before the body was complete")
    return b"".join(chunks)


@dataclass
class SlackApp:
    """The Bolt app and what `finops serve` calls on it."""

    bolt: App
    services: Services
    executor: TrackingExecutor
    tokens: SlackTokens
    owns_runtime: bool
    max_body_bytes: int = MAX_BODY_BYTES
    pools: tuple[TrackingExecutor, ...] = ()

    async def handle(self, request: Request) -> Response:
        """POST /slack/events: Slack's events, interactivity and slash commands (HTTP mode)."""
        if self.tokens.signing_secret is None:
            return JSONResponse({"error": "HTTP mode needs a signing secret"}, status_code=503)
        refused = _precheck(request, self.max_body_bytes)
        if refused is not None:
            return refused
        body = await _read_capped(request, self.max_body_bytes)
        if isinstance(body, Response):
            return body
        bolt_response = await run_in_threadpool(self.bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    def starlette_routes(self) -> list[Route]:
        """Routes to mount in the serve process's Starlette app."""
        return [Route(EVENTS_PATH, endpoint=self.handle, methods=["POST"])]

    def socket_mode_handler(self) -> Any:
        """A Socket Mode handler for `bolt` (start it with `.connect()` or `.start()`)."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        if self.tokens.app is None:
            raise ConfigError(
                f"Socket Mode needs an app-level token: set {self.services.slack.app_token_env} "
                "(xapp-…) or use HTTP mode"
            )
        return SocketModeHandler(self.bolt, self.tokens.app.get_secret_value())

    def post_pending_cards(self) -> list[str]:
        """Post approval cards for proposals that have none yet (CLI, sweep or chat)."""
        return post_pending_cards(self.services)

    def post_digest(
        self, text: str, blocks: list[dict[str, Any]] | None = None, channel: str | None = None
    ) -> str | None:
        """Post the sweep digest to `channel` (default `slack.digest_channel`); its ts or None."""
        target = channel or self.services.slack.digest_channel
        if not target:
            return None
        sent = self.services.client.chat_postMessage(
            channel=target, text=fallback(text), blocks=blocks or text_blocks(text)
        )
        return str(sent["ts"])

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until the work started by acknowledged requests has finished."""
        return wait_all_idle([self.executor, *self.pools], timeout)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        for pool in self.pools:
            pool.shutdown(wait=True)
        if self.owns_runtime:
            self.services.runtime.close()


def _background(pool: TrackingExecutor, fn: Callable[..., Any], *args: Any) -> None:
    """Run `fn(*args)` on `pool`, logging what it raises (Bolt no longer sees it)."""

    def run() -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("Slack handler %s failed", getattr(fn, "__name__", fn))

    pool.submit(run)


def _register(
    bolt: App, services: Services, chat: TrackingExecutor, work: TrackingExecutor
) -> None:
    @bolt.event("app_mention")
    def on_mention(event: dict[str, Any]) -> None:
        _background(chat, handle_message, services, event)

    @bolt.event("message")
    def on_message(event: dict[str, Any]) -> None:
        if wants_message(services, event):
            _background(chat, handle_message, services, event)

    @bolt.action(APPROVE_ID)
    def on_approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _background(work, handle_approve, services, body)

    @bolt.action(REJECT_ID)
    def on_reject(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        handle_reject_click(services, body)  # views.open now: the trigger_id expires in 3 s

    @bolt.view(REJECT_MODAL_ID)
    def on_reject_reason(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _background(work, handle_reject_submit, services, body)

    @bolt.action(re.compile(".*"))
    def on_any_other_action(ack: Ack) -> None:
        ack()  # link buttons and unknown clicks: Slack warns the user about an unacked click

    @bolt.command("/finops")
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()

        def reply(text: str, blocks: list[dict[str, Any]]) -> None:
            respond(text=fallback(text), blocks=blocks, response_type="ephemeral")

        user, text = str(command["user_id"]), str(command.get("text") or "")
        _background(work, run_command, services, user, text, reply)

    register_home(bolt, services, work)  # App Home (agent/slack/home.py)


def _client(app_ctx: AppContext, tokens: SlackTokens) -> WebClient:
    if tokens.bot is None:
        env = app_ctx.config.slack.bot_token_env
        raise ConfigError(f"no Slack bot token: set {env} (xoxb-…) or slack.secrets_file")
    return WebClient(token=tokens.bot.get_secret_value(), base_url=app_ctx.config.slack.base_url)


def _with_retries(client: WebClient, sleep: Callable[[float], None]) -> WebClient:
    """`client` retrying HTTP 429 and connection errors (handlers it already has are kept)."""
    kinds = (ConnectionErrorRetryHandler, RateLimitErrorRetryHandler)
    for kind, handler in zip(kinds, retry_handlers(sleep), strict=True):
        if not any(isinstance(h, kind) for h in client.retry_handlers):
            client.retry_handlers.append(handler)
    return client


def build_slack_app(
    app_ctx: AppContext,
    *,
    client: WebClient | None = None,
    clock: Callable[[], datetime] = utc_now,
    runtime: Runtime | None = None,
    environ: Mapping[str, str] | None = None,
    workers: int = 8,
    sleep: Callable[[float], None] = time.sleep,
) -> SlackApp:
    """The Slack app over `app_ctx`: Bolt with request verification on, acks before work.

    `client` (a `slack_sdk.WebClient`) defaults to one on `slack.base_url` with the bot token;
    either way it gets the retry handlers (`sleep` is how they wait out a `Retry-After`);
    `runtime` (shared, e.g. with scripted models in tests) defaults to a new `Runtime`.
    """
    cfg = app_ctx.config.slack
    tokens = load_tokens(cfg, environ if environ is not None else os.environ)
    web = _with_retries(client or _client(app_ctx, tokens), sleep)
    rt = runtime or Runtime(app_ctx, clock=clock)
    services = Services(
        runtime=rt,
        client=web,
        clock=clock,
        access=Access(cfg, web, clock),
        limiter=RateLimiter(cfg.chat_per_user, cfg.chat_window_seconds, clock),
        state=SlackState(rt.store, clock),
    )
    executor = TrackingExecutor(workers, "finops-slack-ack")
    chat = TrackingExecutor(cfg.chat_workers, "finops-slack-chat")
    work = TrackingExecutor(workers, "finops-slack-work")
    secret = tokens.signing_secret.get_secret_value() if tokens.signing_secret else None
    bolt = App(
        client=web,
        signing_secret=secret or secrets.token_hex(32),
        process_before_response=False,
        request_verification_enabled=True,
        listener_executor=executor,
        logger=log,
    )
    _register(bolt, services, chat, work)
    return SlackApp(
        bolt, services, executor, tokens, owns_runtime=runtime is None, pools=(chat, work)
    )
