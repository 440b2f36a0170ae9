"""The usage-event endpoint over a real socket on 127.0.0.1: strict intake (every bad batch is a
clear 4xx naming line and attribute, and stores nothing), exact pricing into `usage_events`, the
FOCUS roll-up and `finops spend`, retries, and flushing on shutdown (in-process and SIGTERM to the
`finops events` command). Runaway detection: `test_events_runaway.py`."""

from __future__ import annotations

import gzip
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.helpers.agent import START, Clock
from tests.helpers.cli import run_cli
from tests.helpers.events import (
    ANTHROPIC_ADMIN,
    OPENAI_ADMIN,
    AdminApi,
    Stack,
    body,
    event,
    serve_admin_api,
    start_stack,
)
from tests.paths import ROOT
from tools.events.config import EventsConfig, RunawayConfig
from tools.events.rollup import rebuild_focus_rows
from warehouse.db import connect

TOKEN = "events-test-token-0123456789"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminApi]:
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN", ANTHROPIC_ADMIN)
    monkeypatch.setenv("TEST_OPENAI_ADMIN", OPENAI_ADMIN)
    yield from serve_admin_api()


@pytest.fixture
def stack(tmp_path: Path, clock: Clock, api: AdminApi) -> Iterator[Stack]:
    s = start_stack(
        tmp_path / "home",
        clock,
        api,
        token=TOKEN,
        events=EventsConfig(max_body_bytes=64 * 1024, max_decompressed_bytes=64 * 1024),
    )
    yield s
    s.stop()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def problems(response: Any) -> list[tuple[int, str | None, str]]:
    return [(p["line"], p["field"], p["message"]) for p in response.json()["problems"]]


# -- intake: bad batches are refused whole -----------------------------------------------------


def test_missing_model_is_422_naming_line_and_field(stack: Stack) -> None:
    bad = event("a")
    del bad["gen_ai.request.model"]
    r = stack.post(body(event("a"), bad), **auth())
    assert r.status_code == 422
    assert problems(r) == [(2, "gen_ai.request.model", "required")]
    assert "nothing was stored" in r.json()["error"] and r.json()["stored"] == 0
    assert stack.count() == 0 and stack.service.pending_events == 0


def test_negative_tokens_and_every_problem_listed(stack: Stack) -> None:
    lines = [
        event("a", input_tokens=-5),
        event("a"),
        event("a", output_tokens=1.5),
        event("a", **{"gen_ai.usage.input_token": 3}),
    ]
    r = stack.post(body(*lines), **auth())
    assert r.status_code == 422
    found = problems(r)
    assert [(line, field) for line, field, _ in found] == [
        (1, "gen_ai.usage.input_tokens"),
        (3, "gen_ai.usage.output_tokens"),
        (4, "gen_ai.usage.input_token"),
    ]
    assert "greater than or equal to 0 (got -5)" in found[0][2]
    assert "unknown usage attribute" in found[2][2]
    assert r.json()["error"].startswith("3 of 4 line(s) invalid")
    assert stack.count() == 0


def test_unknown_model_is_422_not_priced_at_zero(stack: Stack) -> None:
    r = stack.post(body(event("a"), event("a", model="claude-mystery-9")), **auth())
    assert r.status_code == 422
    [(line, field, message)] = problems(r)
    assert (line, field) == (2, "gen_ai.request.model")
    assert "no price for anthropic model 'claude-mystery-9'" in message
    assert stack.count() == 0


def test_bad_json_is_400_and_cache_tokens_must_fit_in_input(stack: Stack) -> None:
    over = event("a", input_tokens=10, **{"gen_ai.usage.cache_read.input_tokens": 20})
    data = body(event("a"), over) + b'{"gen_ai.request.model": "x",\n'
    r = stack.post(data, **auth())
    assert r.status_code == 400
    found = problems(r)
    assert found[0][:2] == (2, "gen_ai.usage.input_tokens") and "includes them" in found[0][2]
    assert found[1][0] == 3 and found[1][2].startswith("invalid JSON")
    assert stack.count() == 0


def test_timestamps_far_ahead_or_too_old_are_refused(stack: Stack) -> None:
    ahead = event("a", at=START + timedelta(hours=1))
    millis = event("a", time_unix_nano=int(START.timestamp() * 1000))
    r = stack.post(body(ahead, millis, event("a", at=START - timedelta(days=30))), **auth())
    assert r.status_code == 422
    found = problems(r)
    assert [(line, field) for line, field, _ in found] == [(1, "timestamp"), (2, "time_unix_nano")]
    assert "in the future (more than events.max_clock_skew_seconds)" in found[0][2]
    assert "1970-01-01" in found[1][2] and "events.max_age_days" in found[1][2]
    assert stack.count() == 0


def test_oversize_bodies_and_wrong_types_are_refused(stack: Stack) -> None:
    big = body(*[event("a", task=f"t{i}") for i in range(600)])
    assert len(big) > 64 * 1024
    r = stack.post(big, **auth())
    assert r.status_code == 413 and "limit" in r.json()["error"]
    bomb = gzip.compress(big)
    assert len(bomb) < 64 * 1024
    r = stack.post(bomb, **auth(), **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "after gunzip" in r.json()["error"]
    r = stack.post(b"not gzip", **auth(), **{"Content-Encoding": "gzip"})
    assert r.status_code == 400
    r = stack.post(body(event("a")), **auth(), **{"Content-Type": "text/csv"})
    assert r.status_code == 415
    assert stack.post(b"\n\n", **auth()).status_code == 400
    assert stack.count() == 0 and stack.service.pending_events == 0


def test_wrong_or_missing_token_is_401(stack: Stack) -> None:
    r = stack.post(body(event("a")), Authorization="Bearer nope")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert stack.post(body(event("a"))).status_code == 401
    assert stack.client.get("/v1/runaway").status_code == 401
    assert stack.client.get("/healthz").status_code == 200
    assert stack.count() == 0
    assert stack.post(body(event("a")), **auth()).status_code == 200


# -- intake: good batches are priced exactly ---------------------------------------------------


def test_good_batch_priced_exactly_and_visible_in_spend(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    cached = event(
        "eval-bot",
        model="claude-sonnet-4-5",
        input_tokens=10_000,
        output_tokens=2_000,
        key="apikey_eval01",
        **{
            "gen_ai.usage.cache_read.input_tokens": 4_000,
            "gen_ai.usage.cache_creation.input_tokens": 1_000,
        },
    )
    otlp = {
        "timeUnixNano": str(int((START - timedelta(minutes=3)).timestamp() * 1e9)),
        "attributes": [
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000000"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100000"}},
            {"key": "agent.id", "value": {"stringValue": "search-bot"}},
            {"key": "team", "value": {"stringValue": "search"}},
        ],
    }
    r = stack.post(
        gzip.compress(body(cached, otlp, event("triage"))), **auth(), **{"Content-Encoding": "gzip"}
    )
    assert r.status_code == 200, r.text
    # 5,000 uncached × 3 + 4,000 × 0.30 + 1,000 × 3.75 + 2,000 × 15 (per 1M) = 0.04995
    # + gpt-4o-mini 0.15 + 0.06 + claude-haiku-4-5 0.10 + 0.10
    assert Decimal(r.json()["cost_usd"]) == Decimal("0.04995") + Decimal("0.21") + Decimal("0.2")
    assert r.json()["accepted"] == 3 and r.json()["stored"] is True
    con = stack.warehouse()
    by_agent = dict(
        con.execute("SELECT agent_id, sum(cost) FROM usage_events GROUP BY 1").fetchall()
    )
    focus = con.execute(
        "SELECT sum(BilledCost), count(*) FROM costs WHERE x_SourceName = 'usage-events'"
    ).fetchone()
    con.close()
    assert by_agent == {
        "eval-bot": Decimal("0.04995"),
        "search-bot": Decimal("0.21"),
        "triage": Decimal("0.2"),
    }
    assert focus == (Decimal("0.45995"), 8)
    stack.stop()
    out = run_cli(capsys, "--home", str(stack.home), "spend", "--by", "tag:agent_id", "--json")
    assert out.code == 0, out.err
    rows = {r["dimensions"]["tag:agent_id"]: Decimal(r["cost"]) for r in out.json()["rows"]}
    assert rows == by_agent
    out = run_cli(
        capsys,
        "--home",
        str(stack.home),
        "spend",
        "--by",
        "SkuMeter",
        "--json",
        "--filter",
        "tag:agent_id=eval-bot",
    )
    meters = {r["dimensions"]["SkuMeter"]: Decimal(r["cost"]) for r in out.json()["rows"]}
    assert meters == {
        "Input Tokens": Decimal("0.015"),
        "Cache Read Tokens": Decimal("0.0012"),
        "Cache Write Tokens": Decimal("0.00375"),
        "Output Tokens": Decimal("0.03"),
    }


def test_retried_batch_with_idempotency_key_is_stored_once(stack: Stack) -> None:
    data = body(event("a"), event("a"))
    first = stack.post(data, **auth(), **{"Idempotency-Key": "batch-0001"})
    again = stack.post(data, **auth(), **{"Idempotency-Key": "batch-0001"})
    assert first.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["batch_id"] == first.json()["batch_id"]
    assert stack.count() == 2


def test_shutdown_flushes_buffered_events(tmp_path: Path, clock: Clock, api: AdminApi) -> None:
    s = start_stack(tmp_path / "home", clock, api)
    r = s.post(body(*[event("a", task=f"t{i}") for i in range(50)]), wait=False)
    assert r.status_code in (200, 202)
    s.stop()
    assert s.count() == 50
    con = s.warehouse()
    rebuilt = rebuild_focus_rows(con, START)
    total = con.execute(
        "SELECT sum(BilledCost) FROM costs WHERE x_SourceName = 'usage-events'"
    ).fetchone()
    con.close()
    assert rebuilt == 2 and total == (Decimal("10.0"),)


def test_config_sections_are_strict() -> None:
    with pytest.raises(ValidationError, match="extra"):
        RunawayConfig(spike_ratios=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="resolve_after_minutes"):
        RunawayConfig(window_minutes=10, resolve_after_minutes=5)
    with pytest.raises(ValidationError):
        EventsConfig(flush_seconds=5)


@pytest.mark.slow
def test_finops_events_cli_flushes_on_sigterm(tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    home = tmp_path / "home"
    code = (
        "import sys; from agent.cli import main as cli, events as cli_events\n"
        "if 'events' not in {c.name for c in cli.app.registered_commands}:\n"
        "    cli_events.register(cli.app)\n"
        "cli.main(sys.argv[1:])"
    )
    args = ["--home", str(home), "events", "--port", str(port), "--log-level", "info"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "FINOPS_EVENTS_TOKEN": ""},
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr or []])
    reader.start()
    try:
        seen = ""
        while "Uvicorn running on" not in seen:
            seen = lines.get(timeout=120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            r = client.post("/v1/usage-events", content=body(*[event("a") for _ in range(40)]))
            assert r.status_code == 202 and r.json()["stored"] is False
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert any("stopped by SIGTERM; 40 event(s) stored, 0 left unstored" in ln for ln in rest)
    con = connect(home / "warehouse.duckdb")
    assert con.execute("SELECT count(*), sum(cost) FROM usage_events").fetchone() == (
        40,
        Decimal("8.0"),
    )
    con.close()
