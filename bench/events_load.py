"""Load generation for `bench.events`: event templates, history, paced posting, a flag watcher.

Normal agents send cheap gpt-4o-mini calls at the rate their history says is normal (so their
burn ratio stays near 1); the planted runaway agent has a small norm and, from a chosen moment,
sends expensive claude-haiku-4-5 calls in one endless task.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson

__all__ = [
    "LoadResult",
    "Pacer",
    "RunawayResult",
    "history_lines",
    "normal_line",
    "sample_stored",
    "watch_flag",
]

NORMAL = {
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.provider.name": "openai",
    "gen_ai.usage.input_tokens": 300,
    "gen_ai.usage.output_tokens": 40,
}
NORMAL_COST = Decimal("0.000069")
"""300 × 0.15 + 40 × 0.60 per 1M tokens."""

RUNAWAY = {
    "gen_ai.request.model": "claude-haiku-4-5",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.usage.input_tokens": 10_000,
    "gen_ai.usage.output_tokens": 2_000,
}
RUNAWAY_COST = Decimal("0.02")
RUNAWAY_AGENT = "runaway-agent"
RUNAWAY_KEY = "apikey_runaway01"


def normal_line(agent: int, task: int, at: str) -> bytes:
    return orjson.dumps(
        {
            **NORMAL,
            "agent.id": f"agent-{agent:03d}",
            "team": f"team-{agent % 7}",
            "task.id": f"a{agent}-t{task}",
            "api_key.id": f"key_agent{agent:03d}",
            "project.id": "proj_bench",
            "timestamp": at,
        }
    )


def runaway_line(at: str) -> bytes:
    return orjson.dumps(
        {
            **RUNAWAY,
            "agent.id": RUNAWAY_AGENT,
            "team": "web",
            "task.id": "loop-1",
            "api_key.id": RUNAWAY_KEY,
            "timestamp": at,
        }
    )


def history_lines(now: datetime, days: int, agents: int, per_agent_rate: float) -> list[bytes]:
    """Two events an hour per agent for `days` days, costing what the live rate costs an hour;
    the runaway agent's history is USD 0.50 an hour."""
    hourly_tokens = int(per_agent_rate * 3600 / 2)
    lines = []
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    for h in range(days * 24):
        for half in (0, 1):
            at = (start + timedelta(hours=h, minutes=5 + 30 * half)).isoformat()
            for a in range(agents):
                line = {
                    **NORMAL,
                    "gen_ai.usage.input_tokens": 300 * hourly_tokens,
                    "gen_ai.usage.output_tokens": 40 * hourly_tokens,
                    "agent.id": f"agent-{a:03d}",
                    "task.id": f"a{a}-h{h}-{half}",
                    "api_key.id": f"key_agent{a:03d}",
                    "project.id": "proj_bench",
                    "timestamp": at,
                }
                lines.append(orjson.dumps(line))
            lines.append(
                orjson.dumps(
                    {
                        **RUNAWAY,
                        "gen_ai.usage.input_tokens": 125_000,
                        "gen_ai.usage.output_tokens": 25_000,
                        "agent.id": RUNAWAY_AGENT,
                        "task.id": f"r-h{h}-{half}",
                        "api_key.id": RUNAWAY_KEY,
                        "timestamp": at,
                    }
                )
            )
    return lines


@dataclass
class LoadResult:
    """What the paced senders saw."""

    requests: int = 0
    accepted: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    max_lag: float = 0.0
    started: float = 0.0
    finished: float = 0.0


class Pacer:
    """`connections` threads posting `batch`-event requests so that `rate` events/s leave."""

    def __init__(
        self, url: str, rate: int, seconds: float, batch: int, agents: int, connections: int
    ) -> None:
        self.url, self.rate, self.seconds, self.batch = url, rate, seconds, batch
        self.agents, self.connections = agents, connections
        self.total = int(rate * seconds) // batch
        self.next = 0
        self.lock = threading.Lock()
        self.result = LoadResult()

    def _take(self) -> int | None:
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1

    def _body(self, index: int) -> bytes:
        at = datetime.now(UTC).isoformat()
        first = index * self.batch
        lines = [
            normal_line((first + i) % self.agents, (first + i) // (self.agents * 20), at)
            for i in range(self.batch)
        ]
        return b"\n".join(lines)

    def _worker(self) -> None:
        result = self.result
        with httpx.Client(base_url=self.url, timeout=60, trust_env=False) as client:
            while (index := self._take()) is not None:
                due = result.started + index * self.batch / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                data = self._body(index)
                sent = time.perf_counter()
                try:
                    r = client.post("/v1/usage-events", content=data)
                except httpx.HTTPError as exc:
                    with self.lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                done = time.perf_counter()
                with self.lock:
                    result.requests += 1
                    result.max_lag = max(result.max_lag, sent - due)
                    result.latencies.append(done - sent)
                    if r.status_code in (200, 202):
                        result.accepted += int(r.json()["accepted"])
                    else:
                        result.refused += self.batch
                        result.errors.append(f"HTTP {r.status_code}: {r.text[:200]}")

    def run(self) -> LoadResult:
        self.result.started = time.perf_counter()
        threads = [threading.Thread(target=self._worker) for _ in range(self.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.result.finished = time.perf_counter()
        return self.result


@dataclass
class RunawayResult:
    """The planted runaway: when its first batch left, and when its flag was first seen."""

    events: int = 0
    first_sent: float | None = None
    first_received_at: str | None = None
    seen: float | None = None
    flag: dict[str, Any] | None = None
    false_positives: list[str] = field(default_factory=list)


def send_runaway(url: str, start_at: float, stop: threading.Event, out: RunawayResult) -> None:
    """From `start_at`, one batch of 100 expensive events (USD 2) every 0.2 s until `stop`."""
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        delay = start_at - time.perf_counter()
        if delay > 0 and stop.wait(delay):
            return
        while not stop.is_set():
            at = datetime.now(UTC).isoformat()
            data = b"\n".join(runaway_line(at) for _ in range(100))
            sent = time.perf_counter()
            r = client.post("/v1/usage-events", content=data)
            if r.status_code in (200, 202):
                out.events += 100
                if out.first_sent is None:
                    out.first_sent, out.first_received_at = sent, r.json()["received_at"]
            stop.wait(0.2)


def sample_stored(url: str, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    """Every 0.5 s: (time, events the server has stored so far), for the steady storage rate."""
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        while not stop.is_set():
            stored = client.get("/healthz").json()["stored_events"]
            out.append((time.perf_counter(), int(stored)))
            stop.wait(0.5)


def watch_flag(url: str, stop: threading.Event, out: RunawayResult) -> None:
    """Poll `GET /v1/runaway` every 50 ms until the runaway agent is flagged."""
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        while not stop.is_set() and out.seen is None:
            flags = client.get("/v1/runaway", params={"status": "all"}).json()["flags"]
            for flag in flags:
                if flag["agent_id"] == RUNAWAY_AGENT and flag["rule"] == "spike":
                    out.seen, out.flag = time.perf_counter(), flag
            stop.wait(0.05)
