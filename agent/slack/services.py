"""What every Slack handler shares: the runtime (behind one lock), the Web API client, access
control, the rate limiter, the delivery/card state, and how refusals are told and audited.

The runtime's warehouse connection and checkpointer are not meant for concurrent runs, so chat
runs, decisions and slash commands take `runtime_lock` in turn; Slack's acks never wait on it
(handlers ack first and run after, on the listener executor).
"""

from __future__ import annotations

import logging
import threading
import time
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
from agent.slack.config import SlackConfig
from agent.slack.rbac import Access, RateLimiter
from agent.slack.state import SlackState

__all__ = ["Services", "TrackingExecutor"]

log = logging.getLogger("finops.slack")


class TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that can wait until all work submitted so far (and what it submits) ends."""

    def __init__(self, max_workers: int = 8) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="finops-slack")
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

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only `user` sees (refusals, "already decided")."""
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed: %s", exc.response.get("error"))

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text[:3000], blocks=blocks)
        except SlackApiError as exc:
            log.warning("chat.update failed: %s", exc.response.get("error"))
