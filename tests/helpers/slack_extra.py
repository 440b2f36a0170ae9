"""Extras for the Slack tests of acks, rate limits and conversations: the Web API double with
receive times and a way to wait for a call, a harness whose app waits out `Retry-After` through
an injected sleep, and a chat model that blocks until released."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import ConfigDict, Field
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.testclient import TestClient

from agent.runtime.models import ModelHandle
from agent.slack.app import build_slack_app
from tests.doubles.slack import SlackDouble
from tests.helpers.agent import Clock, ScriptedChatModel
from tests.helpers.slack import SECRET, Harness

__all__ = [
    "Received",
    "RecordedSleep",
    "SlowModel",
    "TimedDouble",
    "TimedHarness",
    "restart_app",
]


class Received:
    """One request the double received: the Web API method (or `respond`, `upload`), when."""

    def __init__(self, name: str, at: float, status: int) -> None:
        self.name, self.at, self.status = name, at, status


class TimedDouble(SlackDouble):
    """The Web API double that also records when each request arrived (`time.monotonic`) and
    lets a test wait for one (no sleeping)."""

    def __init__(self, token: str = "xoxb-test-token") -> None:
        super().__init__(token)
        self.received: list[Received] = []
        self._arrived = threading.Condition()

    def __enter__(self) -> TimedDouble:
        super().__enter__()
        return self

    def _route(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        status, reply = super()._route(path, headers, body)
        name = path.removeprefix("/api/").split("?")[0] if path.startswith("/api/") else path
        name = "respond" if path.startswith("/respond/") else name
        with self._arrived:
            self.received.append(Received(name, time.monotonic(), status))
            self._arrived.notify_all()
        return status, reply

    def wait_for(self, name: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests named `name` arrived; their records (in order)."""
        with self._arrived:
            ok = self._arrived.wait_for(
                lambda: len(self.of_received(name)) >= count, timeout=timeout
            )
            assert ok, f"{name} x{count} never arrived: {[r.name for r in self.received]}"
            return self.of_received(name)

    def of_received(self, name: str) -> list[Received]:
        return [r for r in self.received if r.name == name]


class RecordedSleep:
    """Stands in for `time.sleep` in the retry handler: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class TimedHarness(Harness):
    """`Harness`, with the app built with an injected `sleep` for its retry handlers."""

    def __init__(
        self,
        home: Path,
        double: SlackDouble,
        clock: Clock,
        models: Sequence[ModelHandle] | None = None,
        *,
        sleep: Callable[[float], None],
        **config: Any,
    ) -> None:
        super().__init__(home, double, clock, models, **config)
        restart_app(self, sleep=sleep)


def restart_app(h: Harness, sleep: Callable[[float], None] = time.sleep) -> None:
    """Stop `h`'s Slack app and start a new one over the same home and runtime (what a restart
    or another replica sees: the state store, nothing in memory)."""
    h.app.close()
    h.http.close()
    client = WebClient(token=h.double.token, base_url=h.double.base_url)
    h.app = build_slack_app(
        h.rt.app,
        client=client,
        clock=h.clock,
        runtime=h.rt,
        environ={"SLACK_SIGNING_SECRET": SECRET},
        sleep=sleep,
    )
    h.http = TestClient(Starlette(routes=h.app.starlette_routes()))


class SlowModel(ScriptedChatModel):
    """A scripted model whose calls after the first `free` ones block until `release` is set;
    `entered` is set when a call starts blocking (the question is truly in flight)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    release: threading.Event = Field(default_factory=threading.Event)
    entered: threading.Event = Field(default_factory=threading.Event)
    free: int = 0

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        if len(self.seen) >= self.free:
            self.entered.set()
            assert self.release.wait(60), "the slow model was never released"
        return super()._generate(messages, *args, **kwargs)
