"""`finops serve`'s startup banner names the jobs the scheduler actually runs: the enabled
configured ones plus the `cards` outbox job added when Slack is on, never "no schedule" while
that job runs, and not the disabled ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from agent.cli.serve import _banner
from agent.context import AppContext
from agent.serve.app import ServeOptions, build_stack
from tests.doubles.slack import SlackDouble
from warehouse.db import connect

NOW = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
ENV = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "s3cret"}


def _home(tmp_path: Path, doc: dict[str, Any]) -> Path:
    home = tmp_path / "home"
    home.mkdir(parents=True)
    (home / "finops.yaml").write_text(yaml.safe_dump(doc))
    connect(home / "warehouse.duckdb").close()
    return home


def _banner_for(home: Path, options: ServeOptions, env: dict[str, str]) -> str:
    app = AppContext.create(home)
    stack = build_stack(app, options, env, clock=lambda: NOW)
    try:
        return _banner(stack)
    finally:
        stack.close()
        app.close()


def test_banner_reports_the_cards_job_slack_adds_with_no_schedule(tmp_path: Path) -> None:
    with SlackDouble() as double:
        home = _home(tmp_path, {"slack": {"base_url": double.base_url}})
        banner = _banner_for(home, ServeOptions(http=True), ENV)
    assert "no schedule" not in banner
    assert "scheduler: cards (cards, * * * * * UTC)" in banner
    assert "slack: http" in banner


def test_banner_lists_enabled_jobs_only_and_says_when_none_run(tmp_path: Path) -> None:
    nightly = {"name": "nightly", "cron": "0 2 * * *", "job": "sweep", "enabled": False}
    hourly = {"name": "hourly-sync", "cron": "0 * * * *", "job": "tickets_sync"}
    home = _home(tmp_path, {"schedule": [hourly, nightly]})
    banner = _banner_for(home, ServeOptions(slack=False), {})
    assert "scheduler: hourly-sync (tickets_sync, 0 * * * * UTC)" in banner
    assert "nightly" not in banner and "cards" not in banner

    idle = _home(tmp_path / "idle", {"schedule": [nightly]})
    assert "scheduler: off (no enabled schedule: jobs)" in _banner_for(
        idle, ServeOptions(slack=False), {}
    )
    assert "scheduler: off (--no-scheduler)" in _banner_for(
        home, ServeOptions(slack=False, scheduler=False), {}
    )
