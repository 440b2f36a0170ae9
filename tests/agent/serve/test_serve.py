"""`finops serve`: one process with /healthz, the usage-event routes and the scheduler.

A real `finops serve --http` subprocess on a free port (readiness polled on /healthz against a
deadline) answers health, accepts an event batch and exits 0 on SIGTERM with the batch stored; the
same app in a uvicorn thread runs a scheduled job on its scheduler thread (clock injected) and
reports it on /healthz; config and option errors are one line and exit 1. Slack over Socket Mode
connects to Slack itself and is not exercised offline (only which mode is chosen)."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from slack_bolt.adapter.socket_mode import SocketModeHandler
from starlette.testclient import TestClient

from agent.context import AppContext
from agent.runtime.runner import Runtime
from agent.serve.app import ServeOptions, build_stack, setup_slack
from guardrails.approvals import ProposalDraft
from tests.doubles.slack import SlackDouble, sign
from tests.helpers.cli import run_cli
from tests.helpers.events import body, event
from tests.paths import ROOT
from tools.events.server import ThreadedServer
from tools.sweep.service import SweepResult
from warehouse.db import connect
from warehouse.errors import ConfigError
from warehouse.state.store import STATE_MIGRATIONS

FIRE = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def _home(tmp_path: Path, schedule: list[dict[str, Any]]) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(yaml.safe_dump({"schedule": schedule}))
    connect(home / "warehouse.duckdb").close()
    return home


def _until(check: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        threading.Event().wait(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _health(client: httpx.Client) -> dict[str, Any] | None:
    try:
        r = client.get("/healthz")
    except httpx.TransportError:
        return None
    return r.json() if r.status_code == 200 else None


def _env() -> dict[str, str]:
    drop = ("FINOPS_EVENTS_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "FINOPS_HOME")
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.mark.slow
def test_finops_serve_http_answers_health_takes_events_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path, [{"name": "new-year", "cron": "0 0 1 1 *", "job": "savings_refresh"}])
    port = _free_port()
    args = ["--home", str(home), "serve", "--http", "--port", str(port), "--grace", "10"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from agent.cli.main import main; main()", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stderr or []:
            lines.put(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            health = _until(lambda: proc.poll() is None and _health(client), 90, "/healthz")
            assert health["ok"] is True and health["version"]
            assert health["warehouse"]["reachable"] and health["state"]["reachable"]
            assert health["state"]["schema"] == max(v for v, _, _ in STATE_MIGRATIONS)
            assert health["slack"]["mode"] == "off"
            (job,) = health["scheduler"]["jobs"]
            assert (job["name"], job["job"]) == ("new-year", "savings_refresh")
            assert job["next_run"].endswith("-01-01T00:00:00+00:00")
            r = client.post("/v1/usage-events", content=body(*[event("a") for _ in range(12)]))
            assert r.status_code == 202 and r.json()["accepted"] == 12
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
    text = "".join(lines.queue)
    assert "slack: off" in text and "new-year (savings_refresh, 0 0 1 1 * UTC)" in text
    assert "stopped by SIGTERM; 12 event(s) stored, 0 left unstored" in text
    con = connect(home / "warehouse.duckdb")
    assert con.execute("SELECT count(*) FROM usage_events").fetchone() == (12,)
    con.close()


def test_serve_runs_scheduled_jobs_and_reports_them_on_healthz(tmp_path: Path) -> None:
    home = _home(tmp_path, [{"name": "hourly-sync", "cron": "0 * * * *", "job": "tickets_sync"}])
    app = AppContext.create(home)
    stack = build_stack(app, ServeOptions(tick_seconds=0.05), {}, clock=lambda: FIRE)
    try:
        with ThreadedServer(stack.asgi) as server, httpx.Client(base_url=server.url) as client:

            def ran() -> dict[str, Any] | None:
                health = _health(client)
                last = health["scheduler"]["last_runs"] if health else {}
                return last.get("hourly-sync")

            run = _until(ran, 30, "the scheduled run")
            assert run["status"] == "done" and run["fire_time"].startswith("2026-11-28T11:00:00")
            assert "0 created" in run["detail"]
            health = client.get("/healthz").json()
            assert health["scheduler"]["jobs"][0]["next_run"] == "2026-11-28T12:00:00+00:00"
            assert health["scheduler"]["running"] is None
            assert client.get("/v1/runaway").json() == {"flags": []}  # the events routes
        assert stack.thread is not None and not stack.thread.thread.is_alive()
    finally:
        stack.close()
        app.close()
    runs = AppContext.create(home).state_store()
    assert [r["status"] for r in runs.query("SELECT status FROM scheduler_runs")] == ["done"]
    runs.close()


def test_no_scheduler_and_no_slack_are_reported(tmp_path: Path) -> None:
    home = _home(tmp_path, [{"name": "hourly", "cron": "0 * * * *", "job": "sweep"}])
    app = AppContext.create(home)
    options = ServeOptions(scheduler=False, slack=False)
    stack = build_stack(app, options, {"SLACK_BOT_TOKEN": "xoxb-x"}, clock=lambda: FIRE)
    try:
        assert stack.scheduler is None
        health = stack.health()
        assert health["scheduler"] == {"enabled": False, "detail": "--no-scheduler", "jobs": []}
        assert health["slack"] == {"mode": "off", "detail": "disabled with --no-slack"}
    finally:
        stack.close()
        app.close()


def test_bad_cron_in_config_fails_serve_with_the_job_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(tmp_path, [{"name": "daily-digest", "cron": "0 8 * *", "job": "digest"}])
    result = run_cli(capsys, "--home", str(home), "serve")
    assert result.code == 1
    assert "job 'daily-digest': cron '0 8 * *' is invalid: Wrong number of fields" in result.err
    assert not (home / "state.db").exists()  # nothing was started


def test_serve_beyond_loopback_needs_the_events_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FINOPS_EVENTS_TOKEN", raising=False)
    home = _home(tmp_path, [])
    result = run_cli(capsys, "--home", str(home), "serve", "--host", "0.0.0.0", "--no-slack")
    assert result.code == 1
    assert "refusing to listen on 0.0.0.0 without a bearer token" in result.err


# -- Slack: dev mode against the Web API double, and the mode choice ------------------------------

SECRET = "dev-signing-secret"


def _slack_home(tmp_path: Path, double: SlackDouble) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    doc = {
        "slack": {
            "base_url": double.base_url,
            "approvals_channel": "C0APPROVALS",
            "digest_channel": "C0FINOPS",
        },
        "schedule": [
            {"name": "cards", "cron": "0 * * * *", "job": "cards"},
            {"name": "morning-digest", "cron": "0 11 * * *", "job": "digest"},
        ],
    }
    (home / "finops.yaml").write_text(yaml.safe_dump(doc))
    connect(home / "warehouse.duckdb").close()
    return home


def _signed(secret: str, text: str) -> dict[str, str]:
    return {**sign(secret, text, int(time.time())), "Content-Type": "application/json"}


def _seed(app: AppContext) -> str:
    """A pending proposal (for a card) and a finished sweep (for the digest)."""
    rt = Runtime(app, clock=lambda: FIRE, environ={})
    draft = ProposalDraft(action="open_ticket", target="ticket:platform", summary="File a ticket",
                          rollback="close the ticket", owner="platform")  # fmt: skip
    pid = rt.ledger.propose(draft, created_by="tester").id
    sweep = SweepResult(id="sw-dev", since=date(2026, 11, 1), until=date(2026, 11, 27),
                        currency="USD", steps=[], findings=[], proposals=[], alerts=[],
                        digest="FinOps sweep 2026-11-01..2026-11-27 (USD): all quiet")  # fmt: skip
    with rt.store.transaction() as conn:
        conn.execute(
            "INSERT INTO sweeps (id, started_at, finished_at, since, until, status, digest) "
            "VALUES ('sw-dev', ?, ?, '2026-11-01', '2026-11-27', 'done', ?)",
            (FIRE.isoformat(), FIRE.isoformat(), sweep.model_dump_json()),
        )
    rt.close()
    return pid


def test_dev_mode_serves_slack_over_http_against_the_web_api_double(tmp_path: Path) -> None:
    with SlackDouble("xoxb-dev-token") as double:
        home = _slack_home(tmp_path, double)
        app = AppContext.create(home)
        pid = _seed(app)
        env = {"SLACK_BOT_TOKEN": "xoxb-dev-token", "SLACK_SIGNING_SECRET": SECRET}
        options = ServeOptions(http=True, tick_seconds=0.05)
        stack = build_stack(app, options, env, clock=lambda: FIRE)
        try:
            with ThreadedServer(stack.asgi) as server, httpx.Client(base_url=server.url) as c:

                def both_ran() -> dict[str, Any] | None:
                    health = _health(c)
                    last = health["scheduler"]["last_runs"] if health else {}
                    finished = {
                        name
                        for name, run in last.items()
                        if run.get("status") not in (None, "running")
                    }
                    return last if {"cards", "morning-digest"} <= finished else None

                last = _until(both_ran, 30, "the scheduled cards and digest to finish")
                assert last["cards"]["status"] == "done", last["cards"]
                assert last["cards"]["detail"] == f"1 approval card(s) posted: {pid}"
                assert last["morning-digest"]["status"] == "done", last["morning-digest"]
                health = c.get("/healthz").json()
                assert health["slack"] == {
                    "mode": "http",
                    "detail": "Slack events on POST /slack/events",
                }
                challenge = json.dumps({"type": "url_verification", "challenge": "c-42"})
                ok = c.post("/slack/events", content=challenge, headers=_signed(SECRET, challenge))
                assert ok.status_code == 200 and "c-42" in ok.text
                bad = c.post("/slack/events", content=challenge, headers=_signed("no", challenge))
                assert bad.status_code == 401
        finally:
            stack.close()
            app.close()
        posts = double.of("chat.postMessage")
    by_channel = {p["channel"]: p["text"] for p in posts}
    assert by_channel["C0APPROVALS"] == f"Proposal {pid}: File a ticket"
    assert by_channel["C0FINOPS"].startswith("FinOps sweep 2026-11-01..2026-11-27 (USD)")
    assert all(call.token == "xoxb-dev-token" for call in double.calls)


def test_slack_mode_socket_by_default_and_clear_errors_for_missing_tokens(
    tmp_path: Path,
) -> None:
    with SlackDouble("xoxb-dev-token") as double:
        app = AppContext.create(_slack_home(tmp_path, double))
        bot = {"SLACK_BOT_TOKEN": "xoxb-dev-token"}
        with pytest.raises(
            ConfigError, match=r"Socket Mode needs the app-level token .* SLACK_APP"
        ):
            setup_slack(app, ServeOptions(), bot)
        with pytest.raises(ConfigError, match="HTTP needs the signing secret in SLACK_SIGNING"):
            setup_slack(app, ServeOptions(http=True), bot)
        assert setup_slack(app, ServeOptions(), {}).mode == "off"
        # Socket Mode itself dials Slack (apps.connections.open): built here, never connected
        slack = setup_slack(app, ServeOptions(), {**bot, "SLACK_APP_TOKEN": "xapp-1-dev"})
        try:
            assert slack.mode == "socket" and isinstance(slack.socket, SocketModeHandler)
            assert slack.socket.app is (slack.app.bolt if slack.app else None)
        finally:
            if slack.app is not None:
                slack.app.close()
            app.close()


def test_healthz_is_503_naming_what_is_unreachable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "not-a-file.duckdb").mkdir(parents=True)
    doc = {"warehouse": {"url": f"duckdb://{home / 'not-a-file.duckdb'}"}}
    (home / "finops.yaml").write_text(yaml.safe_dump(doc))
    app = AppContext.create(home)
    stack = build_stack(app, ServeOptions(), {}, clock=lambda: FIRE)
    try:
        r = TestClient(stack.asgi).get("/healthz")  # no lifespan: nothing started
        assert r.status_code == 503
        health = r.json()
        assert health["ok"] is False and health["state"]["reachable"] is True
        assert health["warehouse"]["reachable"] is False
        assert "Is a directory" in health["warehouse"]["error"]
    finally:
        stack.close()
        app.close()
