"""Benchmark: usage events into `finops events` on loopback, and runaway detection latency.

Target (issue "Detection", part 4): 10,000 usage events per second sustained into the endpoint,
a runaway flagged within 60 s of its events arriving.

* server: the real `finops events` command in its own process (uvicorn, one worker) over a fresh
  home whose warehouse holds `--history-days` of hourly history for `--agents` normal agents and
  one planted runaway agent (their norms);
* load: `--connections` client threads post `--batch`-event JSON-lines requests paced so that
  `--rate` events/s leave for `--seconds` s; normal agents send what their history says is normal;
* runaway: from half-time, `runaway-agent` posts 100 expensive events (USD 2) every 0.2 s; a
  watcher polls `GET /v1/runaway` every 50 ms;
* figures: events/s accepted (HTTP 2xx) over the sending time; events/s stored (all accepted
  events in `usage_events`, measured until the server's buffer is empty, and the steady rate
  from `/healthz` samples while sending, without the start-up and drain edges); request latency
  p50/p99; detection latency as the server measured it (flag opened − arrival of the batch that
  made the rule true) and as the client saw it (first runaway batch sent → flag visible);
  false positives among the normal agents; and after SIGTERM, the warehouse's row count and
  exact total against what the client sent;
* baseline (same run, same rate): the same load against a null endpoint on the same uvicorn +
  Starlette stack that only reads the body (the HTTP floor); ratio = ours p50 / baseline p50.

Usage: `python -m bench.events [--rate 10000] [--seconds 10] [--batch 500] [--agents 50]
[--connections 4] [--history-days 7] [--out bench/out]`.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from agent.config import Config
from bench.events_load import (
    NORMAL_COST,
    RUNAWAY_COST,
    Pacer,
    RunawayResult,
    history_lines,
    sample_stored,
    send_runaway,
    watch_flag,
)
from tools.events.service import EventService
from warehouse.db import connect
from warehouse.state.store import StateStore

__all__ = ["main"]

_REGISTER = (
    "import sys; from agent.cli import main as cli, events as cli_events\n"
    "if 'events' not in {c.name for c in cli.app.registered_commands}:\n"
    "    cli_events.register(cli.app)\n"
    "cli.main(sys.argv[1:])"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed_history(home: Path, agents: int, per_agent_rate: float, days: int) -> tuple[int, Decimal]:
    """Store the agents' history through the pipeline itself (before the server starts)."""
    home.mkdir(parents=True, exist_ok=True)
    store = StateStore(home / "state.db")
    service = EventService(
        config=Config(),
        open_warehouse=lambda: connect(home / "warehouse.duckdb"),
        store=store,
        clock=lambda: datetime.now(UTC),
    )
    lines = history_lines(datetime.now(UTC), days, agents, per_agent_rate)
    for i in range(0, len(lines), 50_000):
        service.submit(b"\n".join(lines[i : i + 50_000]))
    report = service.flush()
    store.close()
    if report.error:
        raise SystemExit(f"history: {report.error}")
    con = connect(home / "warehouse.duckdb")
    row = con.execute("SELECT count(*), sum(cost) FROM usage_events").fetchone()
    con.close()
    assert row is not None
    return int(row[0]), row[1]


class Server:
    """A server process (`finops events` or the null endpoint) on a free loopback port."""

    def __init__(self, args: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, *args, "--port", str(self.port), "--log-level", "info"],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "FINOPS_EVENTS_TOKEN": ""},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()
        while "Uvicorn running on" not in (line := self.lines.get(timeout=120)):
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {line}")

    def _pump(self) -> None:
        for line in self.proc.stderr or []:
            self.lines.put(line)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)

    def log(self) -> list[str]:
        out = []
        while not self.lines.empty():
            out.append(self.lines.get().rstrip())
        return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _slope(samples: list[tuple[float, int]]) -> float | None:
    """Events stored per second between the first and last sample of the steady phase."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return None
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    return round((n1 - n0) / (t1 - t0), 1)


def _drain(url: str, expected: int, timeout: float = 120) -> float:
    """Wait until the server has stored `expected` events; return when that was seen."""
    deadline = time.perf_counter() + timeout
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        while time.perf_counter() < deadline:
            health = client.get("/healthz").json()
            if health["stored_events"] >= expected and health["pending_events"] == 0:
                return time.perf_counter()
            time.sleep(0.05)
    raise SystemExit(f"the server did not store {expected} events within {timeout} s")


def run_ours(home: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(["-c", _REGISTER, "--home", str(home), "events"])
    stop = threading.Event()
    runaway = RunawayResult()
    pacer = Pacer(server.url, args.rate, args.seconds, args.batch, args.agents, args.connections)
    start_at = time.perf_counter() + args.seconds / 2
    samples: list[tuple[float, int]] = []
    helpers = [
        threading.Thread(target=send_runaway, args=(server.url, start_at, stop, runaway)),
        threading.Thread(target=watch_flag, args=(server.url, stop, runaway)),
        threading.Thread(target=sample_stored, args=(server.url, stop, samples)),
    ]
    for t in helpers:
        t.start()
    load = pacer.run()
    stop.set()
    for t in helpers:
        t.join()
    stored_at = _drain(server.url, load.accepted + runaway.events)
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        flags = client.get("/v1/runaway", params={"status": "all"}).json()["flags"]
    runaway.false_positives = sorted({f["agent_id"] for f in flags} - {"runaway-agent"})
    code = server.stop()
    steady = [(t, n) for t, n in samples if load.started + 1 <= t <= load.finished]
    return {
        "load": load,
        "runaway": runaway,
        "steady": steady,
        "stored_at": stored_at,
        "exit_code": code,
        "log_tail": server.log()[-3:],
    }


def run_null(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(["-m", "bench.events_null"])
    load = Pacer(server.url, args.rate, args.seconds, args.batch, args.agents, args.connections)
    result = load.run()
    server.stop()
    return {"load": result}


def _summary(
    ours: dict[str, Any],
    null: dict[str, Any],
    args: argparse.Namespace,
    history: int,
    check: tuple[int, Decimal],
    expected: tuple[int, Decimal],
) -> dict[str, Any]:
    load, runaway = ours["load"], ours["runaway"]
    sending = load.finished - load.started
    total = load.accepted + runaway.events
    flag = runaway.flag or {}
    base = null["load"]
    return {
        "target_events_per_s": args.rate,
        "seconds": args.seconds,
        "batch": args.batch,
        "connections": args.connections,
        "agents": args.agents,
        "history_events": history,
        "accepted_events": total,
        "refused_events": load.refused,
        "errors": load.errors[:5],
        "accepted_per_s": round(total / sending, 1),
        "stored_per_s": round(total / (ours["stored_at"] - load.started), 1),
        "stored_per_s_steady": _slope(ours["steady"]),
        "drain_after_last_request_s": round(ours["stored_at"] - load.finished, 2),
        "request_p50_ms": round(1000 * statistics.median(load.latencies), 1),
        "request_p99_ms": round(1000 * _pct(load.latencies, 0.99), 1),
        "max_send_lag_ms": round(1000 * load.max_lag, 1),
        "baseline_null_p50_ms": round(1000 * statistics.median(base.latencies), 1),
        "baseline_null_p99_ms": round(1000 * _pct(base.latencies, 0.99), 1),
        "baseline_accepted_per_s": round(base.accepted / (base.finished - base.started), 1),
        "p50_ratio_vs_null": round(
            statistics.median(load.latencies) / statistics.median(base.latencies), 2
        ),
        "detection_server_latency_s": flag.get("latency_seconds"),
        "detection_client_latency_s": None
        if runaway.seen is None or runaway.first_sent is None
        else round(runaway.seen - runaway.first_sent, 3),
        "runaway_flag_ratio": (flag.get("evidence") or {}).get("ratio"),
        "false_positive_agents": runaway.false_positives,
        "warehouse_rows_and_total": [check[0], str(check[1])],
        "expected_rows_and_total": [expected[0], str(expected[1])],
        "exact": check == expected,
        "server_exit_code": ours["exit_code"],
        "server_log_tail": ours["log_tail"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--history-days", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        home = Path(tmp) / "home"
        history, history_cost = seed_history(
            home, args.agents, args.rate / args.agents, args.history_days
        )
        null = run_null(args)
        ours = run_ours(home, args)
        con = connect(home / "warehouse.duckdb")
        row = con.execute("SELECT count(*), sum(cost) FROM usage_events").fetchone()
        con.close()
    assert row is not None
    load, runaway = ours["load"], ours["runaway"]
    expected_total = history_cost + load.accepted * NORMAL_COST + runaway.events * RUNAWAY_COST
    expected = (history + load.accepted + runaway.events, expected_total)
    result = _summary(ours, null, args, history, (int(row[0]), row[1]), expected)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "events.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
