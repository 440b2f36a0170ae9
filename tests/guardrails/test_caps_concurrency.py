"""Every cap holds with many processes at once, on SQLite and on PostgreSQL.

Real processes (multiprocessing, spawn) released together by a barrier:

- `approvals.max_executions_per_day: 1` and two approvals at the same moment, in two processes,
  each driving the full runtime (approve → action graph → claim → re-validate → execute): one
  execution, the other proposal fails naming the cap. Several rounds, one UTC day each.
- the self-budget `per_day_usd: 0.10` and six processes each making model calls (check, a slow
  call, record) until refused: what is recorded never exceeds the cap.

Before reservations, both executions ran and the six callers spent about twice the cap.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.runtime.runner import Runtime
from guardrails.budget import BudgetExceeded, BudgetMeter, Usage
from guardrails.settings import BudgetConfig
from tests.helpers.agent import START, Clock, call, make_runtime, scripted
from warehouse.ingest.ai_common import load_price_table
from warehouse.state.store import StateStore

ROUNDS = 3
SPENDERS = 6
SONNET = ("anthropic", "claude-sonnet-4-6")  # 3.00 in, 3.75 cache write, 15 out per 1M tokens
# one call: 1,000 input + 2,000 output tokens = 0.003 + 0.030 USD
CALL = Usage(input_tokens=1000, output_tokens=2000)
DAY_CAP = Decimal("0.10")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A `state.url`: a SQLite file shared by every process, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


def _store_target(url: str) -> str:
    return url.removeprefix("sqlite://")


def _day(n: int) -> datetime:
    return START + timedelta(days=n)


def _run_together(target: Callable[..., None], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Start one spawned process per job, released together by a barrier; their results."""
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(len(jobs)), spawn.Queue()
    procs = [spawn.Process(target=target, args=(*job, barrier, out)) for job in jobs]
    for p in procs:
        p.start()
    results: list[Any] = []
    try:
        while len(results) < len(jobs):
            results.append(out.get(timeout=240))
            assert results[-1][0] != "error", results[-1][1]
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    return results


# --- approvals.max_executions_per_day ---------------------------------------------------------


def _approve_at_once(home: str, url: str, day: int, pid: str, barrier: Any, out: Any) -> None:
    try:
        rt = make_runtime(
            Path(home),
            Clock(_day(day)),
            state={"url": url},
            approvals={"max_executions_per_day": 1},
        )
        barrier.wait(timeout=120)
        status = rt.approve(pid, "alice").proposal.status
        out.put((pid, status))
        rt.close()
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc()))
        raise


def _propose_ticket(rt: Runtime, title: str) -> str:
    ticket = {"title": title, "owner": "payments", "priority": "low"}
    rt._models = [scripted(call("open_ticket", ticket), AIMessage("Proposed."))]
    result = rt.ask("open a ticket for payments")
    assert result.proposals, result
    return result.proposals[0]


def test_two_approvals_at_once_run_at_most_the_daily_cap(tmp_path: Path, state_url: str) -> None:
    clock = Clock()
    rt = make_runtime(
        tmp_path / "main", clock, state={"url": state_url}, approvals={"max_executions_per_day": 1}
    )
    executed = []
    for day in range(ROUNDS):
        clock.now = _day(day)
        pids = [_propose_ticket(rt, f"Idle EC2 day {day} #{n}") for n in range(2)]
        jobs = [(str(tmp_path / f"p{n}-{day}"), state_url, day, pid) for n, pid in enumerate(pids)]
        _run_together(_approve_at_once, jobs)
        final = [rt.ledger.get(pid) for pid in pids]
        done = [p for p in final if p.status == "done"]
        tickets = rt.store.query(
            "SELECT count(*) FROM tickets WHERE proposal_id IN (?, ?)", tuple(pids)
        )[0][0]
        executed.append(len(done))
        assert len(done) == 1 and tickets == 1, [(p.id, p.status, p.result) for p in final]
        failed = next(p for p in final if p.status == "failed")
        assert failed.result is not None
        assert "max_executions_per_day cap is 1" in failed.result["error"]
    assert executed == [1] * ROUNDS
    print(f"execution cap rounds: {executed} execution(s) of 2 approvals, cap 1")
    assert rt.audit.verify().ok
    rt.close()


# --- the self-budget --------------------------------------------------------------------------


def _meter(target: str, clock: Clock) -> tuple[StateStore, BudgetMeter]:
    store = StateStore(target)
    caps = BudgetConfig(
        per_run_usd=Decimal("1"),
        per_day_usd=DAY_CAP,
        per_month_usd=Decimal("100"),
        max_output_tokens=2048,
    )
    return store, BudgetMeter(store, caps, load_price_table(), clock)


def _spend_at_once(target: str, day: int, n: int, barrier: Any, out: Any) -> None:
    """One `finops ask`: model calls (check, a slow call, record) until the self-budget refuses."""
    try:
        store, meter = _meter(target, Clock(_day(day)))
        run = f"r-{day}-{n}"
        meter.start_run(run, f"t-{n}", "anthropic")
        barrier.wait(timeout=120)
        calls, spent, refused = 0, Decimal(0), ""
        for _ in range(4):
            try:
                meter.check_model_call(run, *SONNET, 1000)
            except BudgetExceeded as exc:
                refused = exc.limit
                break
            time.sleep(0.3)  # the provider answering
            spent += meter.record_model_call(run, *SONNET, CALL, "h")
            calls += 1
        meter.finish_run(run, "stopped" if refused else "done")
        out.put((run, calls, str(spent), refused))
        store.close()
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc(), "", ""))
        raise


def test_concurrent_asks_never_spend_past_the_daily_cap(state_url: str) -> None:
    target = _store_target(state_url)
    store, meter = _meter(target, Clock())
    totals = []
    for day in range(ROUNDS):
        results = _run_together(_spend_at_once, [(target, day, n) for n in range(SPENDERS)])
        start = _day(day).replace(hour=0, minute=0, second=0, microsecond=0)
        spent = meter.spent(start, start + timedelta(days=1))
        totals.append(spent)
        assert spent == sum(Decimal(r[2]) for r in results)
        assert spent <= DAY_CAP, (spent, results)
        assert sum(r[1] for r in results) >= 1  # the cap refuses only what would cross it
        assert {r[3] for r in results if r[3]} <= {"per_day_usd"}
    assert store.query("SELECT count(*) FROM model_call_reservations")[0][0] == 0
    assert all(t <= DAY_CAP for t in totals), totals
    print(f"self-budget rounds: {[str(t) for t in totals]} USD spent, cap {DAY_CAP}")
    store.close()


# --- reservations, one process ------------------------------------------------------------------


def test_a_reservation_counts_until_settled_or_expired(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    store, meter = _meter(str(tmp_path / "state.db"), clock)
    meter.start_run("dead", "t", "anthropic")
    worst = meter.check_model_call("dead", *SONNET, 1000)  # then the process dies mid-call
    assert worst == Decimal("0.03447")
    day = clock.now.replace(hour=0)
    assert meter.reserved(day, day + timedelta(days=1)) == worst
    meter.start_run("live", "t2", "anthropic")
    meter.check_model_call("live", *SONNET, 1000)
    with pytest.raises(BudgetExceeded) as refused:
        meter.start_run("third", "t3", "anthropic")
        meter.check_model_call("third", *SONNET, 1000)  # 3 × 0.03447 > 0.10
    assert refused.value.limit == "per_day_usd"
    assert meter.record_model_call("live", *SONNET, CALL, "h") == Decimal("0.033")
    assert meter.reserved(day, day + timedelta(days=1)) == worst  # settled to the actual
    clock.advance(minutes=16)  # the dead call's reservation expires
    assert meter.reserved(day, day + timedelta(days=1)) == 0
    assert meter.check_model_call("third", *SONNET, 1000) == worst
    meter.finish_run("third", "done")
    assert store.query("SELECT run_id FROM model_call_reservations")[0][0] == "dead"
    store.close()
