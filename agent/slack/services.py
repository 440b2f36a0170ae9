"""What every Slack handler shares: the runtime (behind one lock), the Web API client, access
control, the rate limiter, the delivery/card state, and how refusals are told and audited.

The runtime's warehouse connection and checkpointer are not meant for concurrent runs, so chat
runs, decisions and slash commands take `runtime_lock` in turn; Slack's acks never wait on it
(handlers ack on Bolt's listener executor and hand the work to the app's chat or work pool, all
`TrackingExecutor`s, so tests and shutdown can wait for them). `bot_threads` records the channel
threads the bot answers in (state store, memory in front), for follow-ups without a mention.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent.config import Config
from agent.runtime.runner import Runtime
from agent.slack.blocks import fallback
from agent.slack.config import SlackConfig
from agent.slack.rbac import Access, RateLimiter
from agent.slack.state import SlackState

__all__ = ["BotThreads", "Services", "TrackingExecutor", "wait_all_idle"]

log = logging.getLogger("finops.slack")


class TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that can wait until all work submitted so far (and what it submits) ends."""

    def __init__(self, max_workers: int = 8, name: str = "finops-slack") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._futures: set[Future[Any]] = set()
        self._guard = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._guard:
            self._futures = {f for f in self._futures if not f.done()} | {future}
        return future

    def wait_idle(self, timeout: float) -> bool:
        """Block until no submitted work is running; False if `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        while True:
            with self._guard:
                pending = {f for f in self._futures if not f.done()}
            left = deadline - time.monotonic()
            if not pending:
                return True
            if left <= 0:
                return False
            wait(pending, timeout=left)

    def idle(self) -> bool:
        with self._guard:
            return all(f.done() for f in self._futures)


def wait_all_idle(pools: list[TrackingExecutor], timeout: float) -> bool:
    """Wait until every pool is idle at once (work in one may submit to another)."""
    deadline = time.monotonic() + timeout
    while True:
        for pool in pools:
            if not pool.wait_idle(max(deadline - time.monotonic(), 0)):
                return False
        if all(pool.idle() for pool in pools):
            return True


class BotThreads:
    """The channel threads the bot answers in: follow-ups there are answered without a new
    @mention. Recorded in the state store (`slack_events`, key `thread:CHANNEL:TS`, so a restart
    or another replica knows them too), with the most recent kept in memory in front of it."""

    def __init__(self, state: SlackState, limit: int = 10_000) -> None:
        self._state = state
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._limit = limit
        self._guard = threading.Lock()

    def _remember(self, key: tuple[str, str]) -> None:
        with self._guard:
            self._seen[key] = None
            self._seen.move_to_end(key)
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)

    def add(self, channel: str, thread_ts: str) -> None:
        if (channel, thread_ts) not in self:
            self._state.first_seen(f"thread:{channel}:{thread_ts}", "bot_thread")
        self._remember((channel, thread_ts))

    def __contains__(self, key: object) -> bool:
        with self._guard:
            if key in self._seen:
                return True
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        rows = self._state.store.query(
            "SELECT 1 FROM slack_events WHERE event_key = ?", (f"thread:{key[0]}:{key[1]}",)
        )
        if rows:
            self._remember((str(key[0]), str(key[1])))
        return bool(rows)


@dataclass
class Services:
    """Shared by every handler of one Slack app."""

    runtime: Runtime
    client: WebClient
    clock: Callable[[], datetime]
    access: Access
    limiter: RateLimiter
    state: SlackState
    runtime_lock: threading.RLock = field(default_factory=threading.RLock)
    bot_threads: BotThreads = field(init=False)

    def __post_init__(self) -> None:
        self.bot_threads = BotThreads(self.state)

    @property
    def config(self) -> Config:
        return self.runtime.app.config

    @property
    def slack(self) -> SlackConfig:
        return self.config.slack

    @contextmanager
    def locked(self) -> Iterator[Runtime]:
        with self.runtime_lock:
            yield self.runtime

    def refuse(self, user: str, code: str, message: str, **detail: Any) -> None:
        """Audit a refusal (every refusal is on the record)."""
        payload = {"via": "slack", "code": code, "message": message, **detail}
        self.runtime.audit.append("refusal", user, payload)

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """A message only `user` sees (refusals, "already decided"), in `thread_ts` if given."""
        try:
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=fallback(text), thread_ts=thread_ts
            )
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed: %s", exc.response.get("error"))

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> bool:
        """Update a message (HTTP 429 is retried by the client's handlers); False if it failed."""
        try:
            self.client.chat_update(channel=channel, ts=ts, text=fallback(text), blocks=blocks)
        except SlackApiError as exc:
            log.warning("chat.update failed: %s", exc.response.get("error"))
            return False
        return True
