"""Runaway detection end to end over a real socket on 127.0.0.1: two agents with 48 h of normal
history, one starts looping; the spike and task-cost rules flag it within a flush of the events'
arrival (injected clock) with evidence, the normal agent is never flagged, and the proposal goes
through the approvals ledger to a provider admin-API double: approve → exactly one disable call,
reject → none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import tools.events.agent_tools  # noqa: F401  (registers the disable_api_key action)
from tests.helpers.agent import START, Clock
from tests.helpers.events import (
    ANTHROPIC_ADMIN,
    OPENAI_ADMIN,
    SEARCH,
    AdminApi,
    body,
    event,
    runaway_burst,
    seeded,
    serve_admin_api,
    start_stack,
)
from tools.catalog import registry
from tools.events.alerts import AlertWorker, flag_alert
from tools.events.config import RunawayConfig
from tools.events.flags import Flag
from tools.invoke import invoke_tool
from tools.notify.config import NotifyConfig
from warehouse.db import connect


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminApi]:
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN", ANTHROPIC_ADMIN)
    monkeypatch.setenv("TEST_OPENAI_ADMIN", OPENAI_ADMIN)
    yield from serve_admin_api()


def test_runaway_is_flagged_within_60s_with_evidence_and_normal_agent_is_not(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    s = seeded(tmp_path, clock, api)
    try:
        assert s.service.norms["triage-bot"].hourly_median == Decimal("0.4")
        received = runaway_burst(s)
        flags = {f["rule"]: f for f in s.flags()}
        assert set(flags) == {"spike", "task_cost"}
        assert all(f["agent_id"] == "triage-bot" for f in flags.values())
        spike, task = flags["spike"], flags["task_cost"]
        # the spike rule needs USD 1 in the window: true from the 2nd batch on
        assert spike["trigger_received_at"] == received[1]
        assert spike["latency_seconds"] <= 60
        ev = spike["evidence"]
        assert ev["norm_hourly_usd"] == "0.400000" and ev["norm_active_hours"] == 48
        assert Decimal(ev["window_spend_usd"]) >= Decimal(1)
        assert Decimal(ev["ratio"]) >= 5
        assert ev["top_tasks"][0]["task_id"] == "t-loop"
        assert ev["by_key"][0]["api_key_id"] == "apikey_triage01"
        # the task rule needs max(USD 5, 10 × p95 0.20): true from the 9th batch (USD 5.40)
        assert task["task_id"] == "t-loop" and task["trigger_received_at"] == received[8]
        assert task["latency_seconds"] <= 60
        assert task["evidence"]["task_p95_usd"] == "0.200000"
        assert spike["proposal_ids"] == task["proposal_ids"] and len(spike["proposal_ids"]) == 1
        kinds = [e.kind for e in s.rt.audit.entries()]
        assert kinds.count("runaway_flag") == 2
    finally:
        s.stop()


def test_flags_stay_deduplicated_and_resolve_when_the_burn_stops(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    s = seeded(tmp_path, clock, api)
    try:
        runaway_burst(s)
        runaway_burst(s)
        assert len(s.flags()) == 2
        assert len(s.rt.ledger.proposals()) == 1
        s.clock.advance(minutes=50)
        s.post(body(event("search-bot", at=s.clock(), **SEARCH)))
        assert s.flags("open") == []
        assert {f["rule"] for f in s.flags("resolved")} == {"spike", "task_cost"}
    finally:
        s.stop()


def test_approve_disables_the_key_exactly_once(tmp_path: Path, clock: Clock, api: AdminApi) -> None:
    s = seeded(tmp_path, clock, api)
    try:
        runaway_burst(s)
        [pid] = s.flags()[0]["proposal_ids"]
        p = s.rt.ledger.get(pid)
        assert (p.action, p.target, p.status, p.owner) == (
            "disable_api_key",
            "anthropic:api_keys/apikey_triage01",
            "pending",
            "web",
        )
        assert p.params == {
            "provider": "anthropic",
            "api_key_id": "apikey_triage01",
            "project_id": None,
            "agent_id": "triage-bot",
        }
        burn = Decimal(p.evidence["burn_rate_usd_per_hour"])
        assert p.expected_monthly_saving == (burn * 24).quantize(Decimal("0.01"))
        assert '"status": "active"' in p.rollback
        assert api.requests == []
        done = s.rt.approve(pid, "alice").proposal
        assert done.status == "done", done.result
        posts = api.calls("POST")
        assert len(posts) == 1
        assert posts[0][1] == "/v1/organizations/api_keys/apikey_triage01"
        assert posts[0][3] == {"status": "inactive"}
        assert api.anthropic_keys["apikey_triage01"] == "inactive"
        s.rt.run_action(pid)
        runaway_burst(s)
        assert len(api.calls("POST")) == 1
    finally:
        s.stop()


def test_reject_disables_nothing(tmp_path: Path, clock: Clock, api: AdminApi) -> None:
    s = seeded(tmp_path, clock, api)
    try:
        runaway_burst(s)
        [pid] = s.flags()[0]["proposal_ids"]
        assert s.rt.reject(pid, "bob", "expected load test").status == "rejected"
        assert api.requests == []
        assert api.anthropic_keys["apikey_triage01"] == "active"
    finally:
        s.stop()


def test_openai_runaway_key_is_deleted_once_and_precheck_sees_deleted_keys(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    s = seeded(tmp_path, clock, api, action="propose")
    try:
        burst = [event("search-bot", task="s-loop", at=s.clock(), **SEARCH) for _ in range(10)]
        s.post(body(*burst))
        [flag] = [f for f in s.flags() if f["rule"] == "spike"]
        assert flag["agent_id"] == "search-bot"
        [pid] = flag["proposal_ids"]
        p = s.rt.ledger.get(pid)
        assert p.target == "openai:projects/proj_search/api_keys/key_search01"
        assert p.risk == "high" and "new key" in p.rollback
        assert s.rt.approve(pid, "alice").proposal.status == "done"
        deletes = api.calls("DELETE")
        assert [d[1] for d in deletes] == [
            "/v1/organization/projects/proj_search/api_keys/key_search01"
        ]
        assert deletes[0][2]["authorization"] == f"Bearer {OPENAI_ADMIN}"
    finally:
        s.stop()


def test_precheck_refuses_a_key_that_is_no_longer_active(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    s = seeded(tmp_path, clock, api)
    try:
        runaway_burst(s)
        [pid] = s.flags()[0]["proposal_ids"]
        api.anthropic_keys["apikey_triage01"] = "inactive"
        p = s.rt.approve(pid, "alice").proposal
        assert p.status == "failed" and "already inactive" in str(p.result)
        assert api.calls("POST") == []
    finally:
        s.stop()


def test_action_none_flags_without_proposing(tmp_path: Path, clock: Clock, api: AdminApi) -> None:
    s = seeded(tmp_path, clock, api, action="none")
    try:
        runaway_burst(s)
        assert {f["rule"] for f in s.flags()} == {"spike", "task_cost"}
        assert all(f["proposal_ids"] == [] for f in s.flags())
        assert s.rt.ledger.proposals() == []
    finally:
        s.stop()


def test_restart_rebuilds_windows_from_stored_events(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    s = seeded(tmp_path, clock, api, action="none")
    s.post(body(*[event("triage-bot", task="t-loop", at=s.clock()) for _ in range(4)]))
    assert s.flags() == []  # USD 0.80 < USD 1 in the window
    s.stop()
    again = start_stack(tmp_path / "home", clock, api, runaway=RunawayConfig(action="none"))
    try:
        again.post(body(event("triage-bot", task="t-loop", at=clock())))
        [flag] = again.flags()
        assert flag["rule"] == "spike" and Decimal(flag["evidence"]["window_spend_usd"]) == 1
    finally:
        again.stop()


def test_agent_tools_read_flags_and_propose_a_key_disable(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    s = seeded(tmp_path, clock, api, action="none")
    try:
        runaway_burst(s)
        ctx = s.rt.tool_context("agent", None)
        out = invoke_tool(registry(), ctx, "runaway_flags", {"agent_id": "triage-bot"})
        assert out.ok and {f["rule"] for f in out.content["data"]["flags"]} == {
            "spike",
            "task_cost",
        }
        bad = {"provider": "openai", "api_key_id": "key_x", "agent_id": "a", "reason": "loop"}
        out = invoke_tool(registry(), ctx, "disable_api_key", bad)
        assert not out.ok and "project_id" in (out.error or "")
        args = {**bad, "project_id": "proj_search", "api_key_id": "key_search01"}
        out = invoke_tool(registry(), ctx, "disable_api_key", args)
        assert out.ok and out.proposal_id
        p = s.rt.ledger.get(out.proposal_id)
        assert p.status == "pending" and p.target.endswith("api_keys/key_search01")
        assert api.requests == []
    finally:
        s.stop()


def test_norm_from_provider_rows_and_the_demo_runaway_replayed(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    """The demo's `runaway-ticket-triage` incident: baseline USD 1.42/h from the provider's
    hourly rows (tag agent_id), the first runaway hour at USD 39.87/h. Hours seen both in the
    provider rows and in usage events count once (the larger), never summed."""
    home = tmp_path / "home"
    home.mkdir()
    con = connect(home / "warehouse.duckdb")
    for h in range(1, 49):
        start = (START - timedelta(hours=h)).replace(tzinfo=None)
        con.execute(
            "INSERT INTO costs (BilledCost, ChargePeriodStart, ChargePeriodEnd, Tags, "
            "x_SourceName) VALUES (1.42, ?, ?, ?, 'anthropic')",
            [start, start + timedelta(hours=1), '{"agent_id": "ticket-triage-agent"}'],
        )
    con.close()
    both = [
        event(
            "ticket-triage-agent",
            input_tokens=420_000,
            output_tokens=200_000,
            at=START - timedelta(hours=h, minutes=-20),
        )
        for h in range(1, 31)
    ]
    api.anthropic_keys["apikey_triage01"] = "active"
    s = start_stack(home, clock, api, seed=body(*both))
    try:
        assert s.service.norms["ticket-triage-agent"].hourly_median == Decimal("1.42")
        per_5_minutes = Decimal("39.87") / 12
        burst = [event("ticket-triage-agent", at=clock()) for _ in range(17)]
        assert Decimal("0.2") * 17 > per_5_minutes
        s.post(body(*burst))
        [flag] = s.flags()
        assert (flag["agent_id"], flag["rule"]) == ("ticket-triage-agent", "spike")
        assert Decimal(flag["evidence"]["ratio"]) > 25
        p = s.rt.ledger.get(flag["proposal_ids"][0])
        assert p.target == "anthropic:api_keys/apikey_triage01"
    finally:
        s.stop()


def test_flag_changes_reach_the_owner_alert_hook(
    tmp_path: Path, clock: Clock, api: AdminApi
) -> None:
    seen: list[tuple[Flag, str]] = []
    s = seeded(tmp_path, clock, api, on_flag=lambda flag, event: seen.append((flag, event)))
    try:
        runaway_burst(s)
        opened = {f.rule: f for f, e in seen if e == "trigger"}
        assert set(opened) == {"spike", "task_cost"}
        alert = flag_alert(opened["spike"], "trigger", clock())
        assert (alert.kind, alert.owner, alert.severity) == ("runaway_agent", "web", "critical")
        assert alert.dedupe_key == f"runaway_agent:{opened['spike'].id}"
        labels = {f.label: f.amount for f in alert.figures}
        assert labels["Norm per hour"] == Decimal("0.4")
        assert any("finops approve p-" in line for line in alert.evidence)
        s.clock.advance(minutes=50)
        s.post(body(event("search-bot", at=s.clock(), **SEARCH)))
        assert sorted(f.rule for f, e in seen if e == "resolve") == ["spike", "task_cost"]
        assert flag_alert(seen[-1][0], "resolve", clock()).event == "resolve"
    finally:
        s.stop()


def test_alert_worker_delivers_flags_to_the_owner_webhook(
    tmp_path: Path, clock: Clock, api: AdminApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret-0123456789")
    notify = NotifyConfig.model_validate(
        {
            "channels": {
                "ops": {
                    "type": "webhook",
                    "url": f"{api.base_url}/hooks/finops",
                    "secret_env": "TEST_HOOK_SECRET",
                }
            },
            "routes": [{"kind": "runaway_agent", "owner": "web", "channels": ["ops"]}],
        }
    )
    s = seeded(tmp_path, clock, api)
    worker = AlertWorker(notify, s.rt.store, clock).start()
    s.service.flagbook.on_change = worker
    try:
        runaway_burst(s)
    finally:
        worker.stop()
        s.stop()
    hooks = [r for r in api.calls("POST") if r[1] == "/hooks/finops"]
    assert len(hooks) == 2
    assert {h[3]["alert"]["kind"] for h in hooks} == {"runaway_agent"}
    assert {h[3]["alert"]["scope"]["rule"] for h in hooks} == {"spike", "task_cost"}
    assert all("x-finops-signature" in h[2] for h in hooks)
