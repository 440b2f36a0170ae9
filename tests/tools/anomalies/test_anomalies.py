"""Anomaly detection: each detector rule, root cause, feedback, repeat suppression, mutes, bad
input, the CLI and the agent tool — on small warehouses built row by row."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer

from agent.cli import anomalies as cli_anomalies
from agent.cli import main as cli_module
from tests.helpers.anomalies import END, NOW, daily, insert, make_ctx, resource_cfg
from tests.helpers.vtags import allocate, config_of
from tools.anomalies.agent_tools import AnomaliesArgs, anomalies_list
from tools.anomalies.config import AnomalyConfig, SeriesSpec
from tools.anomalies.service import add_mute, mark, parse_statuses
from tools.anomalies.service import run_detection as run
from tools.anomalies.sql import median_sql
from tools.context import ToolContext
from tools.registry import REGISTRY
from warehouse.db import connect
from warehouse.errors import FinopsError, QueryError

SPIKE = END - timedelta(days=4)
WEEKLY = [1, 1, 1, 1, 1, 0.5, 0.4]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


@pytest.fixture
def ctx(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> Iterator[ToolContext]:
    context = make_ctx(con, tmp_path)
    yield context
    context.store.close()


def _found(ctx: ToolContext, cfg: AnomalyConfig, **kw: Any) -> list[Any]:
    return run(ctx, cfg=cfg, statuses=["all"], persist=False, **kw).anomalies


def _count(ctx: ToolContext, table: str) -> int:
    return int(ctx.store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


# --- detector rules ----------------------------------------------------------------------------


def test_median_sql_matches_statistics_median(con: duckdb.DuckDBPyConnection) -> None:
    cases = [(3.0, 1.0, 2.0, 9.0), (1.0, None, 5.0, 2.0), (None, None, None, 4.0), (2.0, 2.0, 1.0)]
    for values in cases:
        cols = [f"CAST({'NULL' if v is None else v} AS DOUBLE)" for v in values]
        got = con.execute(f"SELECT {median_sql(cols)}").fetchone()
        present = sorted(v for v in values if v is not None)
        mid = len(present) // 2
        want = present[mid] if len(present) % 2 else (present[mid - 1] + present[mid]) / 2
        assert got is not None and got[0] == pytest.approx(want)


def test_threshold_decides(con: duckdb.DuckDBPyConnection, ctx: ToolContext) -> None:
    insert(con, daily("i-spike", 100, noise=0.03, weekly=WEEKLY, spikes={SPIKE: 1.6}, seed=1))
    insert(con, daily("i-calm", 100, noise=0.03, weekly=WEEKLY, seed=2))
    found = _found(ctx, resource_cfg())
    assert [(a.series, a.start_day, a.direction) for a in found] == [
        ({"ResourceId": "i-spike"}, SPIKE, "up")
    ]
    a = found[0]
    assert a.score >= 4 and a.threshold == 4.0 and a.days == 1 and a.counted_days == [SPIKE]
    assert a.actual - a.expected == a.impact and a.impact_percent is not None
    assert a.impact_percent > 40 and a.currency == "USD" and a.metric == "billed"
    assert _found(ctx, resource_cfg(threshold=1000)) == []


def test_min_impact_and_min_percent(con: duckdb.DuckDBPyConnection, ctx: ToolContext) -> None:
    insert(con, daily("i-small", 10, noise=0.01, spikes={SPIKE: 2.0}, seed=3))
    insert(con, daily("i-large", 10_000, noise=0.001, spikes={SPIKE: 1.08}, seed=4))
    flat = {"spread_floor_percent": 0.1}
    assert _found(ctx, resource_cfg(**flat)) == []
    small = _found(ctx, resource_cfg(min_impact=5, **flat))
    assert [a.series["ResourceId"] for a in small] == ["i-small"]
    large = _found(ctx, resource_cfg(min_percent=5, **flat))
    assert [a.series["ResourceId"] for a in large] == ["i-large"]


def test_young_series_are_not_flagged(con: duckdb.DuckDBPyConnection, ctx: ToolContext) -> None:
    start = SPIKE - timedelta(days=9)
    insert(con, daily("i-new", 100, noise=0.02, start=start, spikes={SPIKE: 3.0}, seed=5))
    assert _found(ctx, resource_cfg()) == []
    found = _found(ctx, resource_cfg(min_history_days=7))
    assert [a.start_day for a in found] == [SPIKE]


def test_a_level_shift_becomes_the_new_normal(
    con: duckdb.DuckDBPyConnection, ctx: ToolContext
) -> None:
    shift = END - timedelta(days=19)
    insert(con, daily("i-shift", 200, noise=0.02, weekly=WEEKLY, shift=(shift, 2.0), seed=6))
    found = _found(ctx, resource_cfg())
    assert len(found) == 1
    a = found[0]
    assert a.status == "new_normal" and a.start_day == shift and a.days >= 7
    assert len(a.counted_days) == 7 and a.counted_days[0] == shift
    assert float(a.actual) == pytest.approx(2 * float(a.expected), rel=0.15)


def test_drops_only_when_enabled(con: duckdb.DuckDBPyConnection, ctx: ToolContext) -> None:
    insert(con, daily("i-drop", 500, noise=0.02, weekly=WEEKLY, spikes={SPIKE: 0.3}, seed=7))
    assert _found(ctx, resource_cfg()) == []
    found = _found(ctx, resource_cfg(detect_drops=True))
    assert [(a.start_day, a.direction) for a in found] == [(SPIKE, "down")]
    assert found[0].impact < 0


def test_weekly_seasonality_and_gaps_are_normal(
    con: duckdb.DuckDBPyConnection, ctx: ToolContext
) -> None:
    insert(con, daily("i-weekly", 300, noise=0.02, weekly=[1, 1, 1, 1, 1, 0.2, 0.2], seed=8))
    batch = [r for r in daily("i-batch", 400, noise=0.02, seed=9) if r["day"].weekday() == 0]
    insert(con, batch)
    assert _found(ctx, resource_cfg(detect_drops=True, total=True)) == []


def test_root_cause_names_the_moving_values_and_owner(
    con: duckdb.DuckDBPyConnection, ctx: ToolContext
) -> None:
    rows = []
    for i, (team, service) in enumerate(
        [("search", "Amazon S3"), ("payments", "Amazon EC2"), ("data", "Amazon RDS")]
    ):
        for j in range(3):
            spikes = {SPIKE: 8.0} if (i, j) == (0, 1) else None
            rows += daily(
                f"r-{team}-{j}",
                300,
                noise=0.02,
                weekly=WEEKLY,
                spikes=spikes,
                seed=10 * i + j,
                ServiceName=service,
                SubAccountName=f"{team}-prod",
                SkuId=f"sku-{j}",
                tags={"team": team},
            )
    insert(con, rows)
    config = config_of({"team": {"sources": ["team"]}})
    allocate(con, config)
    ctx.config = config
    cfg = AnomalyConfig(series=[SeriesSpec(), SeriesSpec(by=["SubAccountName"])])
    found = {a.scope: a for a in run(ctx, cfg=cfg, persist=False).anomalies}
    assert set(found) == {"total", "SubAccountName=search-prod"}
    total = found["total"]
    assert set(total.root_cause) == {
        "ServiceName", "SubAccountName", "ResourceId", "SkuId", "RegionId", "vtag:team"
    }  # fmt: skip
    top = {dim: items[0] for dim, items in total.root_cause.items()}
    assert top["ResourceId"].value == "r-search-1"
    assert top["ServiceName"].value == "Amazon S3"
    assert top["SkuId"].value == "sku-1"
    assert top["vtag:team"].value == "search" and total.owner == "search"
    assert top["ResourceId"].share is not None and 0.9 < top["ResourceId"].share < 1.1
    assert top["ResourceId"].actual - top["ResourceId"].expected == top["ResourceId"].delta
    account = found["SubAccountName=search-prod"]
    assert "SubAccountName" not in account.root_cause
    assert account.top("ResourceId").value == "r-search-1"  # type: ignore[union-attr]
    assert account.incident == total.incident


# --- feedback, repeats, mutes ------------------------------------------------------------------


def _spiky(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, daily("i-a", 1000, spikes={SPIKE: 1.5, END - timedelta(days=1): 1.25}))
    insert(con, daily("i-b", 800, noise=0.02, weekly=WEEKLY, spikes={SPIKE: 2.0}, seed=11))


def test_repeat_detection_updates_instead_of_duplicating(
    con: duckdb.DuckDBPyConnection, ctx: ToolContext
) -> None:
    _spiky(con)
    first = run(ctx, cfg=resource_cfg())
    assert first.new == 3 and first.updated == 0 and _count(ctx, "anomalies") == 3
    ctx.clock = lambda: NOW + timedelta(hours=1)
    second = run(ctx, cfg=resource_cfg())
    assert second.new == 0 and second.updated == 3 and _count(ctx, "anomalies") == 3
    again = {a.id: a for a in second.anomalies}
    for a in first.anomalies:
        assert again[a.id].first_seen == a.first_seen
        assert again[a.id].last_seen is not None and a.last_seen is not None
        assert again[a.id].last_seen > a.last_seen  # type: ignore[operator]


def test_feedback_is_stored_respected_and_teaches_the_threshold(
    con: duckdb.DuckDBPyConnection, ctx: ToolContext
) -> None:
    _spiky(con)
    found = {
        (a.series["ResourceId"], a.start_day): a for a in run(ctx, cfg=resource_cfg()).anomalies
    }
    assert set(found) == {("i-a", SPIKE), ("i-a", END - timedelta(days=1)), ("i-b", SPIKE)}
    planned = mark(ctx, found[("i-b", SPIKE)].id, "planned", by="alice", reason="load test")
    assert planned.status == "planned"
    assert [(f.status, f.by, f.reason) for f in planned.feedback] == [
        ("planned", "alice", "load test")
    ]
    mark(ctx, found[("i-a", SPIKE)].id, "false-positive", by="bob")
    assert [e.kind for e in ctx.audit.entries()] == ["anomaly_feedback", "anomaly_feedback"]
    after = run(ctx, cfg=resource_cfg())
    assert after.detected == 2 and after.suppressed == {"planned": 1, "false_positive": 1}
    late = found[("i-a", END - timedelta(days=1))]
    assert [(a.id, a.status) for a in after.anomalies] == [(late.id, "resolved")]
    statuses = {r["id"]: r["status"] for r in ctx.store.query("SELECT * FROM anomalies")}
    assert statuses[found[("i-b", SPIKE)].id] == "planned"
    assert statuses[found[("i-a", SPIKE)].id] == "false_positive"


def test_mute_windows_suppress(con: duckdb.DuckDBPyConnection, ctx: ToolContext) -> None:
    _spiky(con)
    cfg = resource_cfg(total=True)
    add_mute(ctx, "ResourceId=i-b", since=SPIKE - timedelta(days=1), until=SPIKE, by="carol")
    add_mute(ctx, "resourceid=i-a", since=END, until=END + timedelta(days=7), by="carol")
    report = run(ctx, cfg=cfg, statuses=["all"])
    status = {(a.scope, a.start_day): a.status for a in report.anomalies}
    assert status[("ResourceId=i-b", SPIKE)] == "muted"
    assert status[("ResourceId=i-a", SPIKE)] == "resolved"
    assert status[("ResourceId=i-a", END - timedelta(days=1))] == "open"
    assert status[("total", SPIKE)] == "muted"
    shown = run(ctx, cfg=cfg).anomalies
    assert "muted" not in {a.status for a in shown}
    assert {m["actor"] for m in ctx.store.query("SELECT * FROM anomaly_mutes")} == {"carol"}


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_fails_clearly_and_stores_nothing(
    con: duckdb.DuckDBPyConnection, ctx: ToolContext
) -> None:
    with pytest.raises(QueryError, match="no cost data"):
        run(ctx, cfg=resource_cfg())
    _spiky(con)
    with pytest.raises(QueryError, match="unknown anomaly status 'bogus'; valid: open"):
        parse_statuses("open,bogus")
    with pytest.raises(QueryError, match="is after the last day"):
        run(ctx, cfg=resource_cfg(), since=END + timedelta(days=3))
    a = run(ctx, cfg=resource_cfg()).anomalies[0]
    before = _count(ctx, "anomalies")
    with pytest.raises(QueryError, match="unknown anomaly status 'resolved'"):
        mark(ctx, a.id, "resolved", by="alice")
    with pytest.raises(QueryError, match="no anomaly 'an-000000000000'"):
        mark(ctx, "an-000000000000", "expected", by="alice")
    with pytest.raises(QueryError, match="--by"):
        mark(ctx, a.id, "expected", by=" ")
    with pytest.raises(QueryError, match="expected DIM=VALUE"):
        add_mute(ctx, "ResourceId", until=END, by="alice")
    with pytest.raises(QueryError, match="unknown dimension 'Colour'"):
        add_mute(ctx, "Colour=red", until=END, by="alice")
    with pytest.raises(QueryError, match="before --from"):
        add_mute(ctx, "ResourceId=i-a", since=END, until=END - timedelta(days=1), by="alice")
    assert _count(ctx, "anomaly_feedback") == 0 and _count(ctx, "anomaly_mutes") == 0
    assert _count(ctx, "anomalies") == before
    assert {r["status"] for r in ctx.store.query("SELECT status FROM anomalies")} <= {
        "open", "resolved"
    }  # fmt: skip
    assert ctx.audit.entries() == []
    with pytest.raises(ValueError, match="min_history_days"):
        AnomalyConfig(min_history_days=200)
    with pytest.raises(ValueError, match="Extra inputs"):
        AnomalyConfig.model_validate({"treshold": 3})


# --- the agent tool ----------------------------------------------------------------------------


def test_agent_tool_lists_without_writing(con: duckdb.DuckDBPyConnection, ctx: ToolContext) -> None:
    _spiky(con)
    spec = REGISTRY.get("anomalies_list")
    assert spec.effect == "read" and "Example" in spec.description
    body = anomalies_list(ctx, AnomaliesArgs(top=2))
    assert body["currency"] == "USD" and body["persisted"] is False
    assert len(body["anomalies"]) == 2 and "root_cause" in body["anomalies"][0]
    assert _count(ctx, "anomalies") == 0
    with pytest.raises(ValueError, match="unknown anomaly status"):
        AnomaliesArgs(statuses=["shiny"])


# --- the CLI -----------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    app.callback()(cli_module._global)
    cli_anomalies.register(app)
    capsys.readouterr()
    code = 0
    try:
        app(args=["--home", str(home), *args], standalone_mode=False)
    except FinopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_detect_show_mark_mute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    con = connect(tmp_path / "warehouse.duckdb")
    _spiky(con)
    con.close()
    code, out, err = _cli(capsys, tmp_path, "anomalies", "--since", "2026-11-01", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["since"] == "2026-11-01" and report["until"] == str(END)
    ids = {
        a["series"]["ResourceId"] + "@" + a["start_day"]: a["id"]
        for a in report["anomalies"]
        if "ResourceId" in a["series"]
    }
    target = ids[f"i-b@{SPIKE}"]
    code, out, _ = _cli(capsys, tmp_path, "anomalies")
    assert code == 0 and f"billed cost in USD, 2026-10-29 to {END}" in out
    assert "ResourceId=i-b: USD" in out and "root cause" in out
    code, out, _ = _cli(capsys, tmp_path, "anomalies", "show", target)
    assert code == 0 and "scope ResourceId=i-b" in out and "USD" in out
    code, out, _ = _cli(
        capsys, tmp_path, "anomalies", "mark", target, "expected", "--by", "alice", "--reason", "x"
    )
    assert code == 0 and "marked expected by alice" in out
    code, out, _ = _cli(capsys, tmp_path, "anomalies", "show", target)
    assert "feedback: expected by alice" in out
    code, out, _ = _cli(
        capsys, tmp_path, "anomalies", "mute", "--filter", "ResourceId=i-a", "--until",
        str(END), "--from", "2026-11-01", "--by", "bob",
    )  # fmt: skip
    assert code == 0 and "mute #1" in out
    code, out, _ = _cli(capsys, tmp_path, "anomalies", "--json", "--status", "muted,expected")
    statuses = {a["status"] for a in json.loads(out)["anomalies"]}
    assert statuses == {"muted", "expected"}
    for args, message in [
        (("anomalies", "--since", "2026-13-01"), "error: invalid --since '2026-13-01'"),
        (("anomalies", "--status", "weird"), "error: unknown anomaly status 'weird'"),
        (("anomalies", "mark", target, "sure", "--by", "x"), "error: unknown anomaly status"),
        (("anomalies", "mute", "--filter", "x", "--until", "2026-12-01", "--by", "y"), "DIM=VALUE"),
        (("anomalies", "mute", "--filter", "ResourceId=a", "--until", "soon", "--by", "y"),
         "error: invalid --until 'soon'"),
    ]:  # fmt: skip
        code, _, err = _cli(capsys, tmp_path, *args)
        assert code == 1 and message in err
    feedback = len(
        json.loads(_cli(capsys, tmp_path, "anomalies", "show", target, "--json")[1])["feedback"]
    )
    assert feedback == 1
