"""Budgets and policies as code: status on actual and forecast, firing once per period (alert,
ticket proposal, any write proposal), backtests, CLI, and bad definitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent.config import parse_config
from agent.context import AppContext
from agent.runtime.runner import Runtime
from tests.doubles.notify import HttpRecorder
from tests.helpers.cli import run_cli
from tests.helpers.vtags import Row, add_rows
from tools.budgets.service import backtest, budget_status, fire
from tools.query import DuckDBEngine
from warehouse.db import connect
from warehouse.errors import ConfigError, QueryError

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _rows(con: duckdb.DuckDBPyConnection, until: date = date(2026, 11, 20)) -> None:
    """AWS at exactly USD 100.00 a day from 2026-09-01; Azure at USD 40.00."""
    day, rows = date(2026, 9, 1), []
    while day <= until:
        rows.append(Row(day=day, cost="100.00", ResourceId="i-aws"))
        rows.append(Row(day=day, cost="40.00", ProviderName="Microsoft", ResourceId="vm-1"))
        day += timedelta(days=1)
    add_rows(con, rows)


BUDGETS: list[dict[str, Any]] = [
    {
        "name": "aws-monthly",
        "scope": ["ProviderName=AWS"],
        "amount": 2500,
        "owner": "platform",
        "thresholds": [
            {"basis": "actual", "percent": 80, "then": "notify", "severity": "warning"},
            {"basis": "forecast", "percent": 100, "then": "ticket"},
            {"basis": "forecast", "percent": 150},
        ],
    },
    {
        "name": "azure-ok",
        "scope": ["ProviderName=Microsoft"],
        "amount": 5000,
        "thresholds": [
            {
                "basis": "forecast",
                "percent": 10,
                "then": "propose",
                "action": "open_ticket",
                "args": {"title": "Azure above 10% of budget", "owner": "web"},
            }
        ],
    },
]


def _config(**extra: Any) -> dict[str, Any]:
    return {"budgets": BUDGETS, "approvers": ["alice"], **extra}


def test_status_on_actual_and_forecast(con: duckdb.DuckDBPyConnection) -> None:
    _rows(con)
    config = parse_config(_config())
    s = budget_status(DuckDBEngine(con), config, config.budgets[0], today=NOW.date())
    assert (s.period_start, s.period_end, s.as_of) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        date(2026, 11, 20),
    )
    assert s.actual == Decimal("2000.00")  # 20 days x 100.00, exactly
    assert s.actual_percent == Decimal("80.0")
    assert abs(s.forecast - Decimal("3000")) < Decimal("1")  # a flat series forecasts flat
    assert s.forecast_upper95 >= s.forecast
    crossed = {t.key: t.crossed for t in s.thresholds}
    assert crossed == {"actual-80": True, "forecast-100": True, "forecast-150": False}
    assert s.owner == "platform"


def test_policy_backtest_replays_day_by_day(con: duckdb.DuckDBPyConnection) -> None:
    _rows(con)
    config = parse_config(_config())
    result = backtest(DuckDBEngine(con), config, config.budgets[0], since=date(2026, 10, 1))
    first = {(f.period_start, f.threshold): f.first_day for f in result.firings}
    assert first[(date(2026, 10, 1), "actual-80")] == date(2026, 10, 20)  # 20 x 100 = 2000
    assert first[(date(2026, 11, 1), "actual-80")] == date(2026, 11, 20)
    assert (date(2026, 10, 1), "forecast-150") not in first
    assert result.days == 51 and result.until == date(2026, 11, 20)
    with pytest.raises(QueryError, match="after the last charge day"):
        backtest(DuckDBEngine(con), config, config.budgets[0], since=date(2027, 1, 1))


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    home = tmp_path / "home"
    home.mkdir()
    con = connect(home / "warehouse.duckdb")
    _rows(con)
    con.close()
    return Runtime(AppContext(home=AppContext.create(home).home, config=parse_config(_config())),
                   clock=lambda: NOW, environ={})  # fmt: skip


def test_fire_acts_once_per_period(runtime: Runtime) -> None:
    with HttpRecorder() as http:
        config = parse_config(
            _config(
                notify={
                    "channels": {"hook": {"type": "slack_webhook", "url_env": "HOOK_URL"}},
                    "default": ["hook"],
                }
            )
        )
        runtime.app.config = config
        ctx = runtime.tool_context("finops", None)
        engine = DuckDBEngine(runtime.app.warehouse())
        statuses = [budget_status(engine, config, b, today=NOW.date()) for b in config.budgets]
        env = {"HOOK_URL": http.url("/hook")}
        first = fire(ctx, statuses, sleep=lambda _s: None, environ=env)
        again = fire(ctx, statuses, sleep=lambda _s: None, environ=env)
        posts = http.to("/hook")
    outcomes = {f.threshold: f.outcome for f in first if f.budget == "aws-monthly"}
    assert outcomes == {"actual-80": "notified", "forecast-100": "proposed"}
    assert len(posts) == 1 and "Budget aws-monthly" in posts[0].body.decode()
    assert {f.outcome for f in again} == {"already fired this period"}
    proposals = runtime.ledger.proposals("pending")
    assert sorted(p.action for p in proposals) == ["open_ticket", "open_ticket"]
    ticket = next(p for p in proposals if p.owner == "platform")
    assert "Budget aws-monthly: forecast" in ticket.params["title"]
    assert not runtime.store.query("SELECT * FROM tickets")  # nothing opened before approval
    assert [e.kind for e in runtime.audit.entries(kind="policy_fired")] == ["policy_fired"] * 3
    runtime.close()


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"name": "x", "amount": 1, "thresholds": [{"on": "actual", "percent": 80}]}, "basis"),
        ({"name": "x", "amount": 0}, "greater than 0"),
        ({"name": "X Y", "amount": 1}, "lower case"),
        (
            {
                "name": "x",
                "amount": 1,
                "thresholds": [{"basis": "actual", "percent": 5, "then": "propose"}],
            },
            "needs `action:`",
        ),
        (
            {
                "name": "x",
                "amount": 1,
                "thresholds": [
                    {"basis": "actual", "percent": 5},
                    {"basis": "actual", "percent": 5},
                ],
            },
            "same kind and percent",
        ),
    ],
)
def test_bad_budgets_are_refused(budget: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"budgets": [budget]})


def test_duplicate_budget_names() -> None:
    with pytest.raises(ConfigError, match="unique"):
        parse_config({"budgets": [{"name": "a", "amount": 1}, {"name": "a", "amount": 2}]})


def test_yaml_on_key_trap_is_explained() -> None:
    """`on:` is a YAML 1.1 boolean; the field is `basis:` and the error says so."""
    doc = yaml.safe_load("budgets: [{name: a, amount: 1, thresholds: [{on: actual, percent: 80}]}]")
    with pytest.raises(ConfigError, match="basis"):
        parse_config(doc)


def test_cli_budgets_and_policy_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(yaml.safe_dump(_config()))
    con = connect(home / "warehouse.duckdb")
    _rows(con)
    con.close()
    monkeypatch.setenv("FINOPS_HOME", str(home))
    doc = run_cli(capsys, "budgets", "--json").json()
    aws = doc["budgets"][0]
    assert aws["actual"] == "2000.000000000000" and aws["as_of"] == "2026-11-20"
    human = run_cli(capsys, "budgets").out
    assert "aws-monthly (ProviderName=AWS; owner platform): USD 2,500.00" in human
    assert "CROSSED" in human
    test = run_cli(capsys, "policy", "test", "aws-monthly", "--since", "2026-11-01", "--json")
    firings = {(f["threshold"], f["first_day"]) for f in test.json()["firings"]}
    assert ("actual-80", "2026-11-20") in firings
    bad = run_cli(capsys, "policy", "test", "nope", "--since", "2026-11-01")
    assert bad.code != 0 and "unknown budget 'nope'" in bad.err
