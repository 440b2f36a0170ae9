"""Test doubles for the usage-event pipeline: a provider admin-API double on 127.0.0.1, event
line builders, and one running stack (runtime, service, real uvicorn server, HTTP client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson

from agent.runtime.runner import Runtime
from tests.helpers.agent import START, Clock, make_runtime
from tools.events.app import create_app
from tools.events.config import EventsConfig, RunawayConfig
from tools.events.flags import FlagHook, LedgerProposer
from tools.events.server import ThreadedServer
from tools.events.service import EventService
from warehouse.db import connect

ANTHROPIC_ADMIN = "sk-ant-admin01-TESTKEY-0123456789abcdef"
OPENAI_ADMIN = "sk-admin-TESTKEY-fedcba9876543210"


@dataclass
class AdminApi:
    """Anthropic and OpenAI key endpoints (and a webhook receiver under /hooks/); records every
    request it answers."""

    base_url: str = ""
    anthropic_keys: dict[str, str] = field(default_factory=dict)
    openai_keys: dict[tuple[str, str], bool] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)

    def calls(self, method: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == method]

    def answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, headers, body))
        if path.startswith("/hooks/"):
            return 200, {"ok": True}
        parts = path.strip("/").split("/")
        if parts[:3] == ["v1", "organizations", "api_keys"] and len(parts) == 4:
            if headers.get("x-api-key") != ANTHROPIC_ADMIN:
                return 401, {"error": {"message": "invalid x-api-key"}}
            return self._anthropic(method, parts[3], body)
        if parts[:3] == ["v1", "organization", "projects"] and len(parts) == 6:
            if headers.get("authorization") != f"Bearer {OPENAI_ADMIN}":
                return 401, {"error": {"message": "invalid key"}}
            return self._openai(method, (parts[3], parts[5]))
        return 404, {"error": {"message": f"no route {path}"}}

    def _anthropic(self, method: str, key: str, body: Any) -> tuple[int, Any]:
        if key not in self.anthropic_keys:
            return 404, {"error": {"message": "not found"}}
        if method == "POST":
            self.anthropic_keys[key] = body["status"]
        return 200, {"id": key, "type": "api_key", "status": self.anthropic_keys[key]}

    def _openai(self, method: str, key: tuple[str, str]) -> tuple[int, Any]:
        if not self.openai_keys.get(key):
            return 404, {"error": {"message": "not found"}}
        if method == "DELETE":
            self.openai_keys[key] = False
            return 200, {
                "object": "organization.project.api_key.deleted",
                "id": key[1],
                "deleted": True,
            }
        return 200, {"object": "organization.project.api_key", "id": key[1]}


def serve_admin_api() -> Iterator[AdminApi]:
    state = AdminApi()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply = state.answer(
                self.command, self.path, headers, json.loads(raw) if raw else None
            )
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def event(
    agent: str,
    *,
    model: str = "claude-haiku-4-5",
    provider: str = "anthropic",
    input_tokens: int = 100_000,
    output_tokens: int = 20_000,
    at: datetime | None = None,
    task: str | None = None,
    key: str | None = "apikey_triage01",
    project: str | None = None,
    team: str | None = "web",
    **extra: Any,
) -> dict[str, Any]:
    """One flat event line (defaults: claude-haiku-4-5, 100k in / 20k out = USD 0.20)."""
    line: dict[str, Any] = {
        "gen_ai.request.model": model,
        "gen_ai.provider.name": provider,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "agent.id": agent,
    }
    optional = {"team": team, "task.id": task, "api_key.id": key, "project.id": project}
    line.update({k: v for k, v in optional.items() if v is not None})
    if at is not None:
        line["timestamp"] = at.isoformat()
    line.update(extra)
    return line


def body(*lines: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def history(start: datetime, hours: int, **kw: Any) -> list[dict[str, Any]]:
    """Two events an hour for `hours` hours before `start`, each its own finished task."""
    agent = kw.pop("agent")
    lines = []
    for h in range(hours, 0, -1):
        for i in range(2):
            at = start - timedelta(hours=h) + timedelta(minutes=10 + 20 * i)
            lines.append(event(agent, at=at, task=f"{agent}-h{h}-{i}", **kw))
    return lines


SEARCH = {
    "model": "gpt-4o-mini",
    "provider": "openai",
    "input_tokens": 1_000_000,
    "output_tokens": 100_000,
    "key": "key_search01",
    "project": "proj_search",
    "team": "search",
}
"""search-bot's calls: gpt-4o-mini, USD 0.15 + 0.06 = 0.21 each."""


@dataclass
class Stack:
    """A runtime, the event service over its home, a real server and a client."""

    home: Path
    clock: Clock
    rt: Runtime
    service: EventService
    server: ThreadedServer
    client: httpx.Client
    api: AdminApi
    stopped: bool = False

    def post(self, data: bytes, *, wait: bool = True, **headers: str) -> httpx.Response:
        params = {"wait": "true"} if wait else {}
        return self.client.post("/v1/usage-events", content=data, params=params, headers=headers)

    def flags(self, status: str = "open") -> list[dict[str, Any]]:
        response = self.client.get("/v1/runaway", params={"status": status})
        assert response.status_code == 200, response.text
        flags: list[dict[str, Any]] = response.json()["flags"]
        return flags

    def warehouse(self) -> duckdb.DuckDBPyConnection:
        return connect(self.home / "warehouse.duckdb")

    def count(self, table: str = "usage_events") -> int:
        con = self.warehouse()
        try:
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.client.close()
        self.server.stop()
        self.rt.close()


def start_stack(
    home: Path,
    clock: Clock,
    api: AdminApi,
    *,
    token: str | None = None,
    events: EventsConfig | None = None,
    runaway: RunawayConfig | None = None,
    seed: bytes | None = None,
    on_flag: FlagHook | None = None,
) -> Stack:
    """Build the stack; `seed` events are stored before the server starts (history for norms)."""
    rt = make_runtime(
        home,
        clock,
        anthropic={"base_url": api.base_url, "admin_key_env": "TEST_ANTHROPIC_ADMIN"},
        openai={"base_url": api.base_url, "admin_key_env": "TEST_OPENAI_ADMIN"},
    )
    service = EventService(
        config=rt.app.config,
        open_warehouse=lambda: connect(home / "warehouse.duckdb"),
        store=rt.store,
        clock=clock,
        proposer=LedgerProposer(rt.ledger, rt.start_action),
        events=events or EventsConfig(),
        runaway=runaway or RunawayConfig(),
        on_flag=on_flag,
    )
    if seed is not None:
        service.submit(seed)
        assert service.flush().error is None
    server = ThreadedServer(create_app(service, token=token)).start()
    client = httpx.Client(base_url=server.url, timeout=30, trust_env=False)
    return Stack(home, clock, rt, service, server, client, api)


def seeded(
    tmp_path: Path, clock: Clock, api: AdminApi, on_flag: FlagHook | None = None, **rules: Any
) -> Stack:
    """Two agents with 48 h of normal history (triage-bot USD 0.40/h, search-bot 0.42/h)."""
    api.anthropic_keys["apikey_triage01"] = "active"
    api.openai_keys[("proj_search", "key_search01")] = True
    seed = body(
        *history(START, 48, agent="triage-bot"), *history(START, 48, agent="search-bot", **SEARCH)
    )
    return start_stack(
        tmp_path / "home", clock, api, runaway=RunawayConfig(**rules), seed=seed, on_flag=on_flag
    )


def runaway_burst(s: Stack) -> list[str]:
    """triage-bot loops on one task: 10 batches 5 s apart, USD 0.60 each; search-bot stays
    normal. Returns the received times of the batches."""
    received = []
    for n in range(10):
        lines = [event("triage-bot", task="t-loop", at=s.clock()) for _ in range(3)]
        if n % 5 == 0:
            lines.append(event("search-bot", task=f"s-{n}", at=s.clock(), **SEARCH))
        r = s.post(body(*lines), wait=n == 9)
        assert r.status_code in (200, 202), r.text
        received.append(r.json()["received_at"])
        s.clock.advance(seconds=5)
    return received
