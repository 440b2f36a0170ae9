"""Realized savings, closed loop: executed proposals (through the approvals ledger) measured
against later cost rows in the warehouse — baseline − actual, measuring until enough days,
rollbacks stop accruing, no bills, aggregation, the CLI and the agent tool."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.runtime.runner import Runtime
from guardrails.approvals import Proposal, ProposalDraft
from tests.helpers.agent import Clock, make_runtime
from tests.helpers.cli import run_cli
from tests.helpers.optimize import add_costs
from tools.actions.rollback import ROLLBACK
from tools.catalog import registry
from tools.invoke import invoke_tool
from tools.savings.config import SavingsConfig
from tools.savings.service import SavingsRow, build_report, load_savings, refresh_savings
from warehouse.db import connect
from warehouse.errors import ConfigError, QueryError

EXEC = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
"""When the actions of these tests execute (the execution day is partial: in no window)."""
CENT = Decimal("0.01")


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _days(first: date, values: Sequence[str], rid: str, **columns: Any) -> list[dict[str, Any]]:
    """One daily cost row per value, from `first` on."""
    return [
        {"day": first + timedelta(days=i), "cost": v, "ResourceId": rid, **columns}
        for i, v in enumerate(values)
    ]


def _bills(home: Path, rows: Sequence[dict[str, Any]]) -> None:
    con = connect(home / "warehouse.duckdb")
    try:
        add_costs(con, rows)
    finally:
        con.close()


def _runtime(home: Path, now: datetime, **config: Any) -> Runtime:
    return make_runtime(home, Clock(now), **config)


def _instance(rid: str, saving: str | None = None) -> dict[str, Any]:
    return {
        "instance_id": rid,
        "region": "us-east-1",
        "state": "running",
        "instance_type": "m5.large",
        "monthly_cost": "304.00",
        "finding_id": None,
        "saving": saving,
    }


def _draft(
    rids: Sequence[str],
    action: str = "stop_ec2_instances",
    saving: str = "300.00",
    owner: str | None = None,
    per_item: Sequence[str | None] | None = None,
) -> ProposalDraft:
    items = [_instance(r, (per_item or [None] * len(rids))[i]) for i, r in enumerate(rids)]
    return ProposalDraft(
        action=action,
        target="aws/ec2/" + ",".join(rids),
        params={"provider": "AWS", "instances": items},
        summary=f"{action} {', '.join(rids)}",
        expected_monthly_saving=Decimal(saving),
        rollback="rollback_action with this proposal's id",
        owner=owner,
    )


def _execute(
    home: Path,
    draft: ProposalDraft,
    at: datetime = EXEC,
    result: dict[str, Any] | None = None,
    **config: Any,
) -> Proposal:
    """propose → approve (allow-listed alice) → claim → begin → finish, executed at `at`."""
    clock = Clock(at - timedelta(hours=1))
    rt = make_runtime(home, clock, **config)
    try:
        p = rt.ledger.propose(draft, created_by="agent")
        rt.ledger.approve(p.id, "alice")
        assert rt.ledger.claim(p.id, "finops") is not None
        assert rt.ledger.begin_attempt(p.id)
        clock.now = at
        done = result if result is not None else {"changed": draft.params.get("instances", [])}
        return rt.ledger.finish(p.id, ok=True, result=done)
    finally:
        rt.close()


def _report_rows(home: Path, now: datetime, **config: Any) -> dict[str, SavingsRow]:
    rt = _runtime(home, now, **config)
    try:
        refresh_savings(rt.tool_context("test", None))
        return {r.resource_id: r for r in load_savings(rt.tool_context("test", None))}
    finally:
        rt.close()


def _mean(values: Sequence[str]) -> Decimal:
    return sum((Decimal(v) for v in values), Decimal(0)) / len(values)


BASELINE = ["9.50", "10.50"] * 7  # Oct 27 .. Nov 9: 14 days, mean 10.00
POST = ["3.30", "3.40"] * 4 + ["3.35"]  # Nov 11 .. Nov 19: 9 days, mean 3.35
B_FIRST, P_FIRST = date(2026, 10, 27), date(2026, 11, 11)


def test_measured_saving_is_baseline_minus_actual_to_the_cent(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(
        home,
        _days(date(2026, 10, 13), ["80.00"] * 14, "i-aaa")  # before the baseline window
        + _days(B_FIRST, BASELINE, "i-aaa")
        + _days(EXEC.date(), ["7.00"], "i-aaa")  # execution day: partial, in no window
        + _days(P_FIRST, POST, "i-aaa")
        + _days(B_FIRST, ["55.00"] * 24, "i-other"),
    )
    p = _execute(home, _draft(["i-aaa"], "resize_ec2_instance", "250.00"))
    row = _report_rows(home, _at(date(2026, 11, 20)))["i-aaa"]

    expected_daily = _mean(BASELINE) - _mean(POST)
    assert row.proposal_id == p.id and row.status == "measured"
    assert row.baseline_daily == Decimal("10.00") and row.actual_daily == Decimal("3.35")
    assert row.measured_daily is not None
    assert row.measured_daily.quantize(CENT) == expected_daily.quantize(CENT) == Decimal("6.65")
    assert row.measured_monthly == (expected_daily * Decimal("30.4")).quantize(CENT)
    assert row.measured_monthly == Decimal("202.16")
    assert row.realized == Decimal("59.85")  # 6.65 × 9 days
    assert row.estimated_monthly == Decimal("250.00")  # the estimate is kept apart
    assert (row.baseline_start, row.baseline_end) == (B_FIRST, date(2026, 11, 9))
    assert (row.post_start, row.post_end) == (P_FIRST, date(2026, 11, 19))
    assert (row.baseline_days, row.baseline_rows, row.post_days, row.post_rows) == (14, 14, 9, 9)
    assert row.currency == "USD" and row.metric == "effective"
    assert row.executed_at == EXEC and row.month == "2026-11"


def test_stopped_resource_with_no_rows_after_saves_its_whole_baseline(tmp_path: Path) -> None:
    """A stopped instance stops appearing in the bills: on days its billing source covers, no
    row means zero cost."""
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(
        home,
        _days(B_FIRST, ["12.00"] * 14, "i-bbb")
        + _days(B_FIRST, ["5.00"] * 24, "i-other"),  # the source has bills through Nov 19
    )
    _execute(home, _draft(["i-bbb"]))
    row = _report_rows(home, _at(date(2026, 11, 25)))["i-bbb"]
    assert row.status == "measured"
    assert (row.actual_daily, row.measured_daily) == (Decimal(0), Decimal("12.00"))
    assert row.post_end == date(2026, 11, 19) and row.post_days == 9 and row.post_rows == 0
    assert row.measured_monthly == Decimal("364.80")


def test_no_bills_after_the_action_yet_is_measuring_not_a_saving(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(home, _days(B_FIRST, ["12.00"] * 14, "i-bbb"))  # nothing billed after Nov 9
    _execute(home, _draft(["i-bbb"]))
    row = _report_rows(home, _at(date(2026, 11, 25)))["i-bbb"]
    assert row.status == "measuring"
    assert row.post_days == 0 and row.post_end is None
    assert row.actual_daily is None and row.measured_daily is None
    assert row.measured_monthly is None and row.realized is None


def test_measuring_until_min_post_days(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(home, _days(B_FIRST, BASELINE, "i-aaa") + _days(P_FIRST, ["4.00"], "i-aaa"))
    _execute(home, _draft(["i-aaa"]))

    row = _report_rows(home, _at(date(2026, 11, 12)))["i-aaa"]
    assert (row.status, row.post_days) == ("measuring", 1)
    assert row.measured_daily == Decimal("6.00") and row.measured_monthly is None

    _bills(home, _days(date(2026, 11, 12), ["4.00", "4.00"], "i-aaa"))
    row = _report_rows(home, _at(date(2026, 11, 13)))["i-aaa"]
    assert (row.status, row.post_days) == ("measuring", 2)  # Nov 13 is today: not a full day
    row = _report_rows(home, _at(date(2026, 11, 14)))["i-aaa"]
    assert (row.status, row.post_days) == ("measured", 3)
    assert row.measured_monthly == Decimal("182.40")  # 6.00 × 30.4

    stricter = _report_rows(home, _at(date(2026, 11, 14)), savings={"min_post_days": 4})
    assert stricter["i-aaa"].status == "measuring"


def test_baseline_days_is_configurable(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    recent = ["20.00"] * 7  # Nov 3 .. Nov 9
    _bills(
        home,
        _days(B_FIRST, ["6.00"] * 7, "i-aaa")
        + _days(date(2026, 11, 3), recent, "i-aaa")
        + _days(P_FIRST, ["5.00"] * 3, "i-aaa"),
    )
    _execute(home, _draft(["i-aaa"]))
    now = _at(date(2026, 11, 20))
    assert _report_rows(home, now)["i-aaa"].baseline_daily == Decimal("13.00")
    row = _report_rows(home, now, savings={"baseline_days": 7})["i-aaa"]
    assert row.baseline_daily == Decimal("20.00") and row.baseline_start == date(2026, 11, 3)
    assert row.measured_daily == Decimal("15.00") and row.post_days == 3


def test_bad_savings_config_is_refused() -> None:
    with pytest.raises(ValueError, match="min_post_days"):
        SavingsConfig(min_post_days=0)
    with pytest.raises(ConfigError, match=r"unknown key 'savings\.days'"):
        parse_config({"savings": {"days": 3}})


def test_a_rolled_back_action_stops_accruing_at_the_rollback(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(
        home,
        _days(B_FIRST, ["10.00"] * 14, "i-bbb")
        + _days(date(2026, 11, 15), ["10.00"] * 5, "i-bbb")  # billed again after the rollback
        + _days(B_FIRST, ["1.00"] * 24, "i-other"),
    )
    original = _execute(home, _draft(["i-bbb"]))
    reverse = ProposalDraft(
        action=ROLLBACK,
        target="aws/ec2/i-bbb",
        params={
            "provider": "AWS",
            "rollback_of": original.id,
            "action": "start_ec2_instances",
            "instances": [_instance("i-bbb")],
        },
        summary=f"Roll back {original.id}",
        rollback="stop again",
    )
    back = _execute(home, reverse, at=datetime(2026, 11, 15, 10, tzinfo=UTC))

    rows = _report_rows(home, _at(date(2026, 11, 25)))
    assert set(rows) == {"i-bbb"}  # the rollback itself is not a saving of its own
    row = rows["i-bbb"]
    assert row.status == "rolled_back" and row.rollback_id == back.id
    assert row.rolled_back_at == datetime(2026, 11, 15, 10, tzinfo=UTC)
    assert (row.post_start, row.post_end, row.post_days) == (P_FIRST, date(2026, 11, 14), 4)
    assert row.measured_daily == Decimal("10.00") and row.measured_monthly is None
    assert row.realized == Decimal("40.00")  # Nov 11-14 only: the later bills do not count


def test_resource_without_baseline_bills_is_no_bills(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(home, _days(B_FIRST, ["3.00"] * 24, "i-other"))
    _execute(home, _draft(["i-ccc"], saving="80.00"))
    row = _report_rows(home, _at(date(2026, 11, 25)))["i-ccc"]
    assert row.status == "no_bills"
    assert row.baseline_rows == 0 and row.baseline_daily is None and row.measured_daily is None
    assert row.estimated_monthly == Decimal("80.00")


def test_failed_resources_dry_runs_and_non_saving_actions_are_not_measured(
    tmp_path: Path,
) -> None:
    home = tmp_path / "h"
    _runtime(home, EXEC).close()
    _bills(home, _days(B_FIRST, ["3.00"] * 24, "i-a") + _days(B_FIRST, ["3.00"] * 24, "i-b"))
    _execute(
        home,
        _draft(["i-a", "i-b"]),
        result={"changed": [_instance("i-a")], "failed": [{"instance_id": "i-b"}]},
    )
    _execute(home, _draft(["i-c"]), result={"dry_run": True, "would": "stop i-c"})
    _execute(home, _draft(["i-d"], "start_ec2_instances", "0"))
    rows = _report_rows(home, _at(date(2026, 11, 25)))
    assert set(rows) == {"i-a"}
    assert rows["i-a"].estimated_monthly == Decimal("150.00")  # half of the proposal's 300


def _fleet(home: Path) -> dict[str, Proposal]:
    """Four executed proposals over two months, three owners (one from a virtual tag)."""
    _runtime(home, EXEC).close()
    team = {"tags": {"team": "search"}}
    oct_exec = datetime(2026, 10, 20, 9, tzinfo=UTC)
    _bills(
        home,
        _days(date(2026, 10, 6), ["10.00"] * 14, "i-oct")
        + _days(B_FIRST, ["20.00"] * 14, "i-pay1")
        + _days(B_FIRST, ["30.00"] * 14, "i-pay2")
        + _days(B_FIRST, ["8.00"] * 14, "i-srch", **team)
        + _days(P_FIRST, ["2.00"] * 9, "i-srch", **team)
        + _days(B_FIRST, ["4.00"] * 14, "i-none")
        + _days(date(2026, 10, 6), ["1.00"] * 45, "i-other"),
    )
    return {
        "oct": _execute(home, _draft(["i-oct"], saving="250.00", owner="payments"), at=oct_exec),
        "pay": _execute(
            home,
            _draft(
                ["i-pay1", "i-pay2"], saving="1500.00", owner="payments", per_item=["600", None]
            ),
        ),
        "srch": _execute(home, _draft(["i-srch"], "resize_ec2_instance", "150.00")),
        "none": _execute(home, _draft(["i-none"], saving="100.00")),
    }


VTAGS = {"virtual_tags": {"team": {"sources": ["team"]}}}


def test_aggregates_by_owner_action_and_month_with_totals(tmp_path: Path) -> None:
    home = tmp_path / "h"
    made = _fleet(home)
    rt = _runtime(home, _at(date(2026, 11, 20)), **VTAGS)
    try:
        ctx = rt.tool_context("test", None)
        by_owner = build_report(ctx, by="owner")
        by_action = build_report(ctx, by="action", refresh=False)
        by_month = build_report(ctx, by="month", refresh=False)
    finally:
        rt.close()
    rows = {r.resource_id: r for r in by_owner.rows}
    assert rows["i-pay1"].estimated_monthly == Decimal("600")
    assert rows["i-pay2"].estimated_monthly == Decimal("900.00")  # the rest of 1500
    assert rows["i-srch"].owner == "search"  # from the `team` virtual tag
    assert rows["i-none"].owner is None

    owners = {g.key: g for g in by_owner.groups}
    assert set(owners) == {"payments", "search", "unassigned"}
    pay = owners["payments"]
    assert (pay.resources, pay.proposals) == (3, 2)
    assert pay.estimated_monthly == Decimal("1750.00")
    # i-oct: 10.00/day, stopped, no rows after → 304.00; i-pay1 608.00; i-pay2 912.00
    assert pay.measured_monthly == Decimal("1824.00")
    assert pay.estimated_of_measured == Decimal("1750.00")
    assert owners["search"].measured_monthly == Decimal("182.40")  # (8 − 2) × 30.4
    assert owners["unassigned"].statuses == {"measured": 1}

    actions = {g.key: g for g in by_action.groups}
    assert set(actions) == {"stop_ec2_instances", "resize_ec2_instance"}
    assert actions["resize_ec2_instance"].estimated_monthly == Decimal("150.00")
    assert actions["stop_ec2_instances"].resources == 4

    months = [g.key for g in by_month.groups]
    assert months == ["2026-10", "2026-11"]
    assert by_month.groups[0].realized == Decimal("10.00") * 30  # Oct 21 .. Nov 19

    for report in (by_owner, by_action, by_month):
        total = report.total
        assert total.resources == 5 and total.proposals == 4
        assert total.estimated_monthly == sum(g.estimated_monthly for g in report.groups)
        assert total.measured_monthly == sum(g.measured_monthly for g in report.groups)
        assert total.estimated_monthly == Decimal("2000.00")
    assert made["oct"].id in {r.proposal_id for r in by_month.rows}


def test_refresh_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _fleet(home)
    rt = _runtime(home, _at(date(2026, 11, 20)), **VTAGS)
    try:
        ctx = rt.tool_context("test", None)
        refresh_savings(ctx)
        first = [r.model_dump(exclude={"last_measured_at"}) for r in load_savings(ctx)]
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        refresh_savings(ctx)
        refresh_savings(ctx)
        again = load_savings(ctx)
        count = rt.store.query("SELECT count(*) FROM savings")[0][0]
    finally:
        rt.close()
    assert [r.model_dump(exclude={"last_measured_at"}) for r in again] == first
    assert count == len(first) == 5
    assert {r.last_measured_at for r in again} == {_at(date(2026, 11, 20)) + timedelta(minutes=5)}


def test_unknown_grouping_or_status_is_refused(tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "h", EXEC)
    try:
        ctx = rt.tool_context("test", None)
        with pytest.raises(QueryError, match="valid: owner, action, month"):
            build_report(ctx, by="team")
        with pytest.raises(QueryError, match="unknown savings status"):
            load_savings(ctx, "done")
        assert rt.store.query("SELECT count(*) FROM savings")[0][0] == 0
    finally:
        rt.close()


def test_savings_report_tool_is_a_read_tool_for_the_agent(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _fleet(home)
    assert registry().get("savings_report").effect == "read"
    rt = _runtime(home, _at(date(2026, 11, 20)), **VTAGS)
    try:
        ctx = rt.tool_context("agent", None)
        out = invoke_tool(registry(), ctx, "savings_report", {"by": "action", "top_rows": 2})
        bad = invoke_tool(registry(), ctx, "savings_report", {"by": "team"})
    finally:
        rt.close()
    assert out.ok and out.proposal_id is None
    data = out.content["data"]
    assert data["currency"] == "USD" and data["by"] == "action"
    assert len(data["rows"]) == 2
    assert data["rows"][0]["resource_id"] == "i-pay2"  # biggest measured saving first
    assert data["total"]["measured_monthly"] == "2128.00"  # 1824.00 + 182.40 + 121.60
    assert not bad.ok and bad.error


def test_cli_savings_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI runs on the real clock: the action executed 12 days ago."""
    home = tmp_path / "h"
    today = datetime.now(UTC).date()
    executed = _at(today - timedelta(days=12), 15)
    first = executed.date() - timedelta(days=14)
    _runtime(home, executed).close()
    _bills(
        home,
        _days(first, ["10.00"] * 14, "i-cli")
        + _days(executed.date() + timedelta(days=1), ["4.00"] * 10, "i-cli"),
    )
    p = _execute(home, _draft(["i-cli"], owner="payments"), at=executed)

    before = run_cli(capsys, "--home", str(home), "savings", "--json", "--no-refresh")
    assert before.code == 0 and before.json()["rows"] == []

    res = run_cli(capsys, "--home", str(home), "savings", "--json", "--by", "month")
    assert res.code == 0 and res.err == ""
    doc = res.json()
    assert set(doc) >= {"currency", "metric", "by", "as_of", "groups", "total", "rows", "notes"}
    assert (doc["currency"], doc["metric"], doc["by"], doc["month_days"]) == (
        "USD",
        "effective",
        "month",
        "30.4",
    )
    assert [g["key"] for g in doc["groups"]] == [executed.strftime("%Y-%m")]
    [row] = doc["rows"]
    assert row["proposal_id"] == p.id and row["status"] == "measured"
    assert (row["baseline_daily"], row["measured_daily"]) == ("10.000000", "6.000000")
    assert row["measured_monthly"] == "182.40" and row["post_days"] == 10
    assert doc["total"]["measured_monthly"] == "182.40"

    again = run_cli(capsys, "--home", str(home), "savings", "--json", "--no-refresh")
    assert again.json()["rows"][0]["measured_monthly"] == "182.40"

    text = run_cli(capsys, "--home", str(home), "savings", "--by", "owner")
    assert text.code == 0
    assert "USD" in text.out and "30.4 days" in text.out and "payments" in text.out
    assert "measured USD 182.40/month on 1 measured resource(s)" in text.out

    bad = run_cli(capsys, "--home", str(home), "savings", "--by", "team")
    assert bad.code == 1 and bad.out == ""
    assert bad.err.strip() == "error: unknown --by 'team'; valid: owner, action, month"
