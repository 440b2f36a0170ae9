"""Forecasts: exact actual-to-date, honest intervals, beating seasonal-naive on the backtest
(synthetic series with trend, weekly shape, noise, spikes and a level shift, and the demo
company), young and zero series, clear errors that store nothing, the stored `forecasts` table,
the agent tool and `finops forecast`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from agent.cli import forecast as cli_forecast
from agent.cli import main as cli_module
from agent.config import Config
from agent.demo.build import build_demo
from tests.helpers.agent import Clock, make_runtime
from tests.helpers.cli import run_cli
from tests.helpers.vtags import add_rows, allocate, config_of
from tools.catalog import registry
from tools.forecast import agent_tools as forecast_tools
from tools.forecast.backtest import BacktestQuery, backtest
from tools.forecast.model import fit, seasonal_naive
from tools.forecast.service import ForecastQuery, forecast, period_bounds
from tools.forecast.store import (
    refresh_after_ingest,
    refresh_forecasts,
    refresh_summary,
    stored_forecasts,
)
from tools.invoke import invoke_tool
from tools.query import DuckDBEngine
from tools.spend.engine import parse_filter
from warehouse.db import connect
from warehouse.demo import DEMO_END
from warehouse.demo.series import insert_series, synthetic_series
from warehouse.errors import QueryError

assert forecast_tools  # registers spend_forecast until tools/catalog.py imports it

SYN_END = date(2026, 10, 31)
SYN_DAYS = 150


def synthetic(seed: int, days: int, *, shifts: bool = True, count: int = 10) -> list[np.ndarray]:
    return synthetic_series(seed, days, SYN_END, messy=shifts, count=count)


def add_series(con: duckdb.DuckDBPyConnection, series: list[np.ndarray], end: date) -> None:
    insert_series(con, series, end)


def day_sum(con: duckdb.DuckDBPyConnection, since: date, until: date, where: str = "") -> Decimal:
    row = con.execute(
        "SELECT sum(BilledCost) FROM costs WHERE ChargePeriodStart >= ? AND "
        f"ChargePeriodStart < ? {where}",
        [since, until + timedelta(days=1)],
    ).fetchone()
    assert row is not None
    return row[0] or Decimal(0)


@pytest.fixture
def syn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Ten messy synthetic series of 150 days ending 2026-10-31, one provider each."""
    con = connect(tmp_path / "warehouse.duckdb")
    add_series(con, synthetic(11, SYN_DAYS), SYN_END)
    yield con
    con.close()


@dataclass
class Demo:
    con: duckdb.DuckDBPyConnection
    config: Config


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo company (90 days ending 2026-11-27) with its virtual tags allocated."""
    root = tmp_path_factory.mktemp("forecast-demo")
    con = connect(root / "warehouse.duckdb")
    build_demo(con, Config(), root / "data")
    config = config_of(
        {"team": {"sources": ["team", "owner", "squad"], "inference": {"enabled": False}}}
    )
    allocate(con, config)
    yield Demo(con, config)
    con.close()


# -- the model ---------------------------------------------------------------------------------


def test_model_kinds_and_baseline() -> None:
    assert fit([], 0).kind == "zero" and fit([0.0] * 40, 0).point(5).tolist() == [0.0] * 5
    young = fit([10.0, 12.0, 11.0], 2)
    assert young.kind == "young" and young.point(4).tolist() == [11.0] * 4
    assert seasonal_naive([1, 2, 3, 4, 5, 6, 7, 8], 9).tolist() == [2, 3, 4, 5, 6, 7, 8, 2, 3]
    assert seasonal_naive([5.0, 6.0], 3).tolist() == [6.0] * 3
    credits = fit(np.r_[np.full(20, -5.0), np.full(20, 10.0)], 0)
    assert credits.kind == "holt" and not credits.multiplicative


def test_model_ignores_a_spike_and_follows_a_level_shift() -> None:
    y = synthetic(3, 84, shifts=False, count=1)[0]
    base = fit(y, 0).point(7).sum()
    spiked = y.copy()
    spiked[-1] *= 20
    assert abs(fit(spiked, 0).point(7).sum() / base - 1) < 0.05
    shifted = np.r_[y[:-6], y[-6:] * 1.6]
    assert fit(shifted, 0).point(7).sum() / base > 1.4


def test_intervals_cover_the_truth_at_about_the_nominal_rate() -> None:
    """Synthetic series without shifts or spikes: what the model assumes, so coverage is near
    80% / 95% (bootstrap intervals ignore parameter uncertainty, so a little under is expected)."""
    inside = {80: [], 95: []}  # type: dict[int, list[bool]]
    for seed in (21, 22):
        for y in synthetic(seed, 120, shifts=False, count=8):
            for origin in range(55, 120 - 14, 9):
                model = fit(y[: origin + 1], 0)
                actual = y[origin + 1 : origin + 15].sum()
                bounds = model.bounds(14, (80, 95), seed=origin, paths=800)
                for i, level in enumerate((80, 95)):
                    inside[level].append(bounds[i, 0, -1] <= actual <= bounds[i, 1, -1])
    cover80, cover95 = np.mean(inside[80]), np.mean(inside[95])
    assert 0.68 <= cover80 <= 0.92, cover80
    assert 0.86 <= cover95 <= 1.0, cover95


# -- forecasts ---------------------------------------------------------------------------------


def test_actual_to_date_is_exact_and_the_interval_brackets_the_forecast(demo: Demo) -> None:
    engine = DuckDBEngine(demo.con)
    r = forecast(engine, demo.config, ForecastQuery(by="ProviderName"))
    assert (r.as_of, r.period_start, r.period_end) == (
        DEMO_END,
        date(2026, 11, 1),
        date(2026, 11, 30),
    )
    assert (r.days_actual, r.days_remaining, r.currency, r.horizon) == (27, 3, "USD", "month")
    assert r.total.actual_to_date == day_sum(demo.con, date(2026, 11, 1), DEMO_END)
    assert sum(g.actual_to_date for g in r.groups) == r.total.actual_to_date
    aws = next(g for g in r.groups if g.dimensions == {"ProviderName": "AWS"})
    assert aws.actual_to_date == day_sum(
        demo.con, date(2026, 11, 1), DEMO_END, "AND ProviderName = 'AWS'"
    )
    for s in [r.total, *r.groups]:
        assert s.forecast_total == s.actual_to_date + s.forecast_remaining
        i80, i95 = s.interval(80), s.interval(95)
        assert i95.lower <= i80.lower <= s.forecast_total <= i80.upper <= i95.upper
        assert s.model == "holt" and s.history_days == 90
    assert [d.day for d in r.total.daily] == [
        date(2026, 11, 28),
        date(2026, 11, 29),
        date(2026, 11, 30),
    ]
    assert sum(d.forecast for d in r.total.daily) == r.total.forecast_remaining
    scoped = forecast(
        engine, demo.config, ForecastQuery(filters=[parse_filter("ProviderName=AWS")])
    )
    assert scoped.total.actual_to_date == aws.actual_to_date
    assert scoped.total.forecast_remaining == aws.forecast_remaining


def test_quarter_month_end_day_and_a_month_that_just_started(demo: Demo) -> None:
    engine = DuckDBEngine(demo.con)
    q = forecast(engine, demo.config, ForecastQuery(horizon="quarter", as_of=date(2026, 10, 15)))
    assert (q.period_start, q.period_end, q.days_actual, q.days_remaining) == (
        date(2026, 10, 1), date(2026, 12, 31), 15, 77,
    )  # fmt: skip
    assert q.total.actual_to_date == day_sum(demo.con, date(2026, 10, 1), date(2026, 10, 15))
    closed = forecast(engine, demo.config, ForecastQuery(as_of=date(2026, 10, 31)))
    assert closed.days_remaining == 0 and closed.total.forecast_remaining == 0
    october = day_sum(demo.con, date(2026, 10, 1), date(2026, 10, 31))
    assert closed.total.forecast_total == october
    assert {(i.lower, i.upper) for i in closed.total.intervals} == {(october, october)}
    first = forecast(engine, demo.config, ForecastQuery(as_of=date(2026, 11, 1)))
    assert (first.days_actual, first.days_remaining) == (1, 29)
    assert first.total.actual_to_date == day_sum(demo.con, date(2026, 11, 1), date(2026, 11, 1))
    assert abs(first.total.forecast_total / (october / 31 * 30) - 1) < Decimal("0.05")
    assert period_bounds(date(2024, 2, 10), "month") == (date(2024, 2, 1), date(2024, 2, 29))


def test_young_and_zero_series(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    old = synthetic(5, 60, shifts=False, count=1)[0]
    add_series(con, [old], SYN_END)
    add_rows(con, [{"cost": "40", "day": date(2026, 10, 28) - timedelta(days=d),
                    "ProviderName": "new"} for d in range(3)])  # fmt: skip
    add_rows(con, [{"cost": "0", "day": SYN_END - timedelta(days=d), "ProviderName": "free"}
                   for d in range(30)])  # fmt: skip
    engine = DuckDBEngine(con)
    r = forecast(engine, Config(), ForecastQuery(by="ProviderName", as_of=date(2026, 10, 28)))
    groups = {g.dimensions["ProviderName"]: g for g in r.groups}
    assert groups["new"].model == "young" and groups["new"].history_days == 3
    assert groups["new"].forecast_remaining == Decimal("120.00")
    assert groups["new"].interval(80).upper > groups["new"].forecast_total
    assert groups["free"].model == "zero" and groups["free"].forecast_total == 0
    assert groups["free"].interval(95).upper == 0
    assert groups["syn-00"].model == "holt"
    nothing = forecast(engine, Config(), ForecastQuery(filters=[parse_filter("ProviderName=x")]))
    assert nothing.total.model == "zero" and nothing.total.forecast_total == 0
    assert nothing.note and "no spend matched" in nothing.note
    con.close()


def test_bad_inputs_fail_clearly_and_store_nothing(
    syn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    engine = DuckDBEngine(syn)
    with pytest.raises(QueryError, match="unknown dimension 'Nope'"):
        forecast(engine, Config(), ForecastQuery(by="Nope"))
    with pytest.raises(QueryError, match="after the latest charge day in the warehouse"):
        forecast(engine, Config(), ForecastQuery(as_of=date(2026, 11, 5)))
    with pytest.raises(QueryError, match="before the first charge day"):
        forecast(engine, Config(), ForecastQuery(as_of=date(2025, 1, 1)))
    with pytest.raises(QueryError, match="virtual tag 'team' is not defined"):
        backtest(engine, Config(), BacktestQuery(by="vtag:team"))
    with pytest.raises(QueryError, match="horizons must be"):
        backtest(engine, Config(), BacktestQuery(horizons=[0]))
    with pytest.raises(QueryError, match="unknown dimension"):
        refresh_forecasts(syn, Config(), dimensions=["ProviderName", "Nope"])
    assert syn.execute("SELECT count(*) FROM forecasts").fetchone() == (0,)
    refresh_forecasts(syn, Config())
    before = syn.execute("SELECT count(*), max(refreshed_at) FROM forecasts").fetchone()
    with pytest.raises(QueryError):
        refresh_forecasts(syn, Config(), as_of=date(2030, 1, 1))
    assert syn.execute("SELECT count(*), max(refreshed_at) FROM forecasts").fetchone() == before
    empty = connect(tmp_path / "empty.duckdb")
    with pytest.raises(QueryError, match="the warehouse is empty"):
        forecast(DuckDBEngine(empty), Config(), ForecastQuery())
    hook = refresh_after_ingest(empty, Config())
    assert hook is not None and hook.rows == 0 and "warehouse is empty" in (hook.error or "")
    empty.close()


# -- backtests ---------------------------------------------------------------------------------


def test_beats_seasonal_naive_on_synthetic_series(syn: duckdb.DuckDBPyConnection) -> None:
    result = backtest(DuckDBEngine(syn), Config(), BacktestQuery(by="ProviderName", origins=60))
    assert result.series == 11 and result.primary == "rest of month"
    assert result.beats_baseline is True and result.verdict.startswith("ours beats")
    assert result.first_origin == SYN_END - timedelta(days=60)
    for h in result.horizons:
        assert h.ours.mape is not None and h.baseline.mape is not None
        assert h.ours.mape < 0.85 * h.baseline.mape, h
        assert h.beats is True
    primary = result.horizons[0]
    total_mape, remaining_mape = primary.ours_month_total_mape, primary.ours.mape
    assert primary.horizon == "rest of month" and total_mape is not None
    assert remaining_mape is not None and total_mape < remaining_mape


@pytest.mark.parametrize("by", [None, "ProviderName", "vtag:team"])
def test_beats_seasonal_naive_on_the_demo(demo: Demo, by: str | None) -> None:
    result = backtest(DuckDBEngine(demo.con), demo.config, BacktestQuery(by=by))
    assert result.beats_baseline is True, result.verdict
    scores = {h.horizon: h for h in result.horizons}
    assert set(scores) == {"rest of month", "7 days", "14 days", "28 days"}
    week = scores["7 days"]
    assert week.ours.mape is not None and week.baseline.mape is not None
    assert week.ours.mape < 0.8 * week.baseline.mape
    assert all(0 <= (h.coverage["95"] or 0) <= 100 for h in result.horizons)


# -- stored forecasts, agent tool, CLI ---------------------------------------------------------


def test_refresh_stores_the_latest_forecasts_and_replaces_the_same_day(
    syn: duckdb.DuckDBPyConnection,
) -> None:
    first = refresh_forecasts(syn, Config(), clock=lambda: datetime(2026, 11, 1, 6))
    assert first.as_of == SYN_END and first.scopes == ["total", "ProviderName"]
    assert first.rows == 2 * (1 + 10)
    again = refresh_after_ingest(syn, Config(), clock=lambda: datetime(2026, 11, 1, 7))
    assert again is not None and again.error is None and again.rows == first.rows
    count = syn.execute("SELECT count(*), count(DISTINCT refreshed_at) FROM forecasts").fetchone()
    assert count == (first.rows, 1)
    rows = stored_forecasts(syn, horizon="month")
    assert len(rows) == 11 and rows[0]["dimension"] == "" and rows[0]["value"] == ""
    assert rows[0]["refreshed_at"] == datetime(2026, 11, 1, 7)
    live = forecast(DuckDBEngine(syn), Config(), ForecastQuery(as_of=SYN_END))
    assert rows[0]["forecast_total"] == live.total.forecast_total
    assert rows[0]["lower_80"] == live.total.interval(80).lower
    quarter = stored_forecasts(syn, horizon="quarter")
    assert quarter[0]["period_end"] == date(2026, 12, 31)
    earlier = refresh_forecasts(
        syn, Config(), as_of=date(2026, 10, 20), clock=lambda: datetime(2026, 11, 2)
    )
    assert earlier.rows == first.rows
    assert syn.execute("SELECT count(DISTINCT as_of) FROM forecasts").fetchone() == (2,)
    assert {r["as_of"] for r in stored_forecasts(syn)} == {date(2026, 10, 20)}


def test_the_ingest_hook_stores_totals_providers_and_teams(demo: Demo) -> None:
    result = refresh_after_ingest(demo.con, demo.config, clock=lambda: datetime(2026, 11, 28, 1))
    assert result is not None and result.error is None and result.as_of == DEMO_END
    assert result.scopes == ["total", "ProviderName", "vtag:team"]
    assert refresh_summary(result).startswith("forecasts refreshed as of 2026-11-27: ")
    rows = stored_forecasts(demo.con, horizon="month")
    by_dim: dict[str, int] = {}
    for r in rows:
        by_dim[r["dimension"]] = by_dim.get(r["dimension"], 0) + 1
    assert by_dim[""] == 1 and by_dim["ProviderName"] == 7 and by_dim["vtag:team"] >= 5
    team_total = sum(r["actual_to_date"] for r in rows if r["dimension"] == "vtag:team")
    assert team_total == rows[0]["actual_to_date"]  # a vtag breakdown adds up to the total
    assert result.rows == 2 * len(rows)


def test_agent_tool(tmp_path: Path) -> None:
    home = tmp_path / "h"
    rt = make_runtime(home, Clock())
    con = connect(home / "warehouse.duckdb")
    add_series(con, synthetic(8, 60, count=2), SYN_END)
    con.close()
    spec = registry().get("spend_forecast")
    assert spec.effect == "read" and "Example" in spec.description
    out = invoke_tool(
        registry(), rt.tool_context("t", None), "spend_forecast",
        {"by": "ProviderName", "filters": ["ProviderName!=syn-01"], "horizon": "quarter"},
    )  # fmt: skip
    assert out.ok, out.error
    data = out.content["data"]
    assert (data["as_of"], data["period_end"], data["currency"]) == (
        "2026-10-31",
        "2026-12-31",
        "USD",
    )
    assert [g["dimensions"] for g in data["groups"]] == [{"ProviderName": "syn-00"}]
    assert "daily" not in data["total"] and Decimal(data["total"]["forecast_total"]) > 0
    bad = invoke_tool(registry(), rt.tool_context("t", None), "spend_forecast", {"by": "Nope"})
    assert not bad.ok and "unknown dimension" in (bad.error or "")
    rt.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not any(c.name == "forecast" for c in cli_module.app.registered_commands):
        cli_forecast.register(cli_module.app)  # until agent/cli/main.py registers it
    root = tmp_path / "home"
    root.mkdir()
    con = connect(root / "warehouse.duckdb")
    add_series(con, synthetic(9, 120, count=3), SYN_END)
    con.close()
    monkeypatch.setenv("FINOPS_HOME", str(root))
    monkeypatch.setenv("COLUMNS", "220")
    return root


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_cli_forecast_and_backtest(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc: dict[str, Any] = run_cli(capsys, "forecast", "--by", "ProviderName", "--json").json()
    assert (doc["as_of"], doc["horizon"], doc["by"], doc["currency"]) == (
        "2026-10-31", "month", "ProviderName", "USD",
    )  # fmt: skip
    assert doc["days_remaining"] == 0 and len(doc["groups"]) == 3
    out = _flat(
        run_cli(capsys, "forecast", "--as-of", "2026-10-20", "--filter", "ProviderName=syn-00").out
    )
    assert (
        "Month-end forecast, billed cost in USD, 2026-10-01 to 2026-10-31, as of 2026-10-20" in out
    )
    assert "(20 days actual, 11 forecast), ProviderName=syn-00" in out
    for text in ("80% interval", "95% interval", "robust Holt", "Method: robust damped Holt"):
        assert text in out, text
    quarter = _flat(run_cli(capsys, "forecast", "--quarter", "--by", "ProviderName").out)
    assert "Quarter-end forecast" in quarter and "2026-10-01 to 2026-12-31" in quarter
    bt = run_cli(capsys, "forecast", "--backtest", "--json")
    assert bt.code == 0 and bt.err == ""
    assert bt.json()["beats_baseline"] is True
    text = _flat(run_cli(capsys, "forecast", "--backtest", "--by", "ProviderName").out)
    assert "Backtest, billed cost in USD, all spend by ProviderName: 4 series" in text
    assert "MAPE ours" in text and "MAPE s-naive" in text and "rest of month *" in text
    assert "Verdict: ours beats seasonal-naive on rest of month MAPE" in text
    json.loads(run_cli(capsys, "forecast", "--quarter", "--json").out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "Nope"], "error: unknown dimension 'Nope'"),
        (["--as-of", "2026-13-01"], "error: invalid --as-of '2026-13-01'; expected YYYY-MM-DD"),
        (["--as-of", "2027-01-01"], "error: as-of day 2027-01-01 is after the latest charge day"),
        (["--filter", "nonsense"], "error: invalid filter 'nonsense'"),
        (["--metric", "cheap"], "error: invalid --metric 'cheap'"),
        (["--by", "vtag:team"], "error: virtual tag 'team' is not defined (none are defined)"),
    ],
)
def test_cli_errors_are_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    result = run_cli(capsys, "forecast", *args)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(message) and result.err.count("\n") == 1, result.err
