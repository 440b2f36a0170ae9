"""The self-budget meter: every cap refuses before the call and names itself, day and month
windows follow the injected clock, usage is read the way each provider reports it, and costs
are exact decimals from the bundled price table (`warehouse/data/ai_model_prices.csv`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from guardrails.budget import (
    BudgetExceeded,
    BudgetMeter,
    Usage,
    cost_of,
    estimate_tokens,
    usage_from_message,
)
from guardrails.settings import BudgetConfig
from tests.helpers.agent import Clock
from warehouse.ingest.ai_common import load_price_table
from warehouse.state.store import StateStore

SONNET = ("anthropic", "claude-sonnet-4-6")  # 3.00 in, 0.30 cache read, 3.75 cache write, 15 out
# 2,000 output tokens of claude-sonnet-4-6: 2000 × 15 / 1e6
THREE_CENTS = Usage(output_tokens=2000)
# with max_output_tokens=1000 and an empty prompt the worst case is 1000 × 15 / 1e6
WORST = Decimal("0.015")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))


def meter(store: StateStore, clock: Clock, **caps: Any) -> BudgetMeter:
    caps.setdefault("per_run_usd", "100")
    caps.setdefault("per_day_usd", "100")
    caps.setdefault("per_month_usd", "100")
    caps.setdefault("max_output_tokens", 1000)
    return BudgetMeter(store, BudgetConfig(**caps), load_price_table(), clock)


def record(m: BudgetMeter, run_id: str, usage: Usage = THREE_CENTS) -> Decimal:
    return m.record_model_call(run_id, *SONNET, usage, "h")


def call_count(store: StateStore) -> int:
    return int(store.query("SELECT count(*) FROM model_calls")[0][0])


# --- worst case and per-run USD ------------------------------------------------------------------


def test_worst_case_prices_prompt_at_the_dearest_input_rate(
    store: StateStore, clock: Clock
) -> None:
    m = meter(store, clock)
    m.start_run("r", "t", "anthropic")
    # 1000 prompt tokens × max(3.00 input, 3.75 cache write) + 1000 output × 15, per 1M tokens
    assert m.check_model_call("r", *SONNET, 1000) == Decimal("0.01875")
    # OpenAI has no cache-write price: the prompt is priced at input (gpt-5-mini 0.25, out 2.00)
    assert m.check_model_call("r", "openai", "gpt-5-mini", 1000) == Decimal("0.00225")
    assert call_count(store) == 0  # a check records nothing


def test_per_run_cap_refuses_before_the_call(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, per_run_usd="0.05")
    m.start_run("r", "t", "anthropic")
    assert record(m, "r") == Decimal("0.03")
    assert m.check_model_call("r", *SONNET, 0) == WORST  # 0.03 + 0.015 <= 0.05
    record(m, "r")
    before = call_count(store)
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("r", *SONNET, 0)
    exc = info.value
    assert exc.limit == "per_run_usd"
    assert exc.cap == Decimal("0.05") and exc.value == Decimal("0.075")
    assert "per_run_usd cap of $0.0500" in str(exc)
    assert "this run's agent spend to $0.0750" in str(exc)
    assert call_count(store) == before
    # another run starts from zero
    m.start_run("s", "t", "anthropic")
    assert m.check_model_call("s", *SONNET, 0) == WORST


def test_reaching_a_cap_exactly_is_allowed(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, per_run_usd="0.045")
    m.start_run("r", "t", "anthropic")
    record(m, "r")
    assert m.check_model_call("r", *SONNET, 0) == WORST  # 0.03 + 0.015 == 0.045
    with pytest.raises(BudgetExceeded, match="per_run_usd"):
        m.check_model_call("r", *SONNET, 1)  # one prompt token more


def test_zero_usd_caps_refuse_every_priced_call(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, per_run_usd="0")
    m.start_run("r", "t", "anthropic")
    with pytest.raises(BudgetExceeded, match="per_run_usd"):
        m.check_model_call("r", *SONNET, 0)


# --- day and month windows --------------------------------------------------------------------


def test_per_day_cap_counts_every_run_of_the_day_and_rolls_over(
    store: StateStore, clock: Clock
) -> None:
    m = meter(store, clock, per_day_usd="0.05")
    clock.now = datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
    record(m, "yesterday")  # 0.03 the day before: not today's
    clock.now = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    record(m, "a")
    clock.now = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert m.check_model_call("b", *SONNET, 0) == WORST  # 0.03 today + 0.015
    record(m, "b")
    clock.now = datetime(2026, 11, 28, 23, 59, 59, 999999, tzinfo=UTC)
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("c", *SONNET, 0)
    assert info.value.limit == "per_day_usd"
    assert info.value.value == Decimal("0.075") and info.value.cap == Decimal("0.05")
    assert "today's agent spend" in str(info.value)
    clock.now = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    assert m.check_model_call("c", *SONNET, 0) == WORST
    assert m.spent(datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)) == (
        Decimal("0.06")
    )


def test_per_month_cap_refuses_and_december_starts_fresh(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, per_month_usd="0.10")
    for moment in (
        datetime(2026, 10, 31, 23, 0, tzinfo=UTC),  # last month: not counted
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 15, 8, 0, tzinfo=UTC),
    ):
        clock.now = moment
        record(m, f"r-{moment.day}")
    clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert m.check_model_call("x", *SONNET, 0) == WORST  # 0.06 this month + 0.015
    record(m, "x")
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("y", *SONNET, 0)  # 0.09 + 0.015 = 0.105
    assert info.value.limit == "per_month_usd"
    assert info.value.value == Decimal("0.105")
    assert "this month's agent spend" in str(info.value)
    clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert m.check_model_call("y", *SONNET, 0) == WORST


def test_the_first_cap_crossed_is_the_one_named(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, per_run_usd="0.01", per_day_usd="0.01", per_month_usd="0.01")
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("r", *SONNET, 0)
    assert info.value.limit == "per_run_usd"
    m = meter(store, clock, per_day_usd="0.01", per_month_usd="0.01")
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("r", *SONNET, 0)
    assert info.value.limit == "per_day_usd"


# --- call caps ---------------------------------------------------------------------------------


def test_model_call_cap_refuses_the_next_call(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, max_model_calls_per_run=2)
    m.start_run("r", "t", "anthropic")
    for _ in range(2):
        m.check_model_call("r", *SONNET, 0)
        record(m, "r", Usage(output_tokens=1))
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("r", *SONNET, 0)
    assert info.value.limit == "max_model_calls_per_run"
    assert (info.value.cap, info.value.value) == (2, 3)
    assert "already made 2 model call(s)" in str(info.value)
    assert "max_model_calls_per_run cap is 2" in str(info.value)
    assert m.run_usage("r").model_calls == 2


def test_model_call_cap_applies_to_free_providers_too(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, max_model_calls_per_run=1)
    m.start_run("r", "t", "offline")
    assert m.check_model_call("r", "offline", "planner", 10_000) == Decimal(0)
    m.record_model_call("r", "offline", "planner", Usage(), "h")
    with pytest.raises(BudgetExceeded, match="max_model_calls_per_run"):
        m.check_model_call("r", "offline", "planner", 0)


def test_tool_call_cap_refuses_the_next_call(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, max_tool_calls_per_run=3)
    m.start_run("r", "t", "anthropic")
    for _ in range(3):
        m.check_tool_call("r")
        m.record_tool_call("r")
    with pytest.raises(BudgetExceeded) as info:
        m.check_tool_call("r")
    assert info.value.limit == "max_tool_calls_per_run"
    assert (info.value.cap, info.value.value) == (3, 4)
    assert "already made 3 tool call(s)" in str(info.value)
    assert m.run_usage("r").tool_calls == 3
    m.start_run("s", "t", "anthropic")
    m.check_tool_call("s")  # per run


def test_zero_tool_calls_allowed_refuses_the_first(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock, max_tool_calls_per_run=0)
    m.start_run("r", "t", "anthropic")
    with pytest.raises(BudgetExceeded, match="max_tool_calls_per_run cap is 0"):
        m.check_tool_call("r")


# --- prices: unknown fails closed, free providers are free ----------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", "claude-imaginary-9"), ("openai", "gpt-99"), ("mistral", "mistral-large")],
)
def test_unknown_model_is_refused_not_free(
    store: StateStore, clock: Clock, provider: str, model: str
) -> None:
    m = meter(store, clock)
    m.start_run("r", "t", provider)
    with pytest.raises(BudgetExceeded) as info:
        m.check_model_call("r", provider, model, 10)
    assert info.value.limit == "price"
    assert f"no price for {provider} model {model!r}" in str(info.value)
    assert "ai_model_prices.csv" in str(info.value)
    with pytest.raises(BudgetExceeded, match="no price"):
        m.price(provider, model)


def test_dated_snapshot_is_priced_like_its_model(store: StateStore, clock: Clock) -> None:
    m = meter(store, clock)
    assert m.price("openai", "gpt-5-mini-2025-08-07") == m.price("openai", "gpt-5-mini")
    assert m.price("anthropic", "claude-haiku-4-5-20251001") == m.price(
        "anthropic", "claude-haiku-4-5"
    )
    assert m.price("openai", "gpt-5-mini") != m.price("openai", "gpt-5")


@pytest.mark.parametrize("provider", ["offline", "scripted"])
def test_free_providers_cost_nothing_and_pass_zero_caps(
    store: StateStore, clock: Clock, provider: str
) -> None:
    m = meter(store, clock, per_run_usd="0", per_day_usd="0", per_month_usd="0")
    m.start_run("r", "t", provider)
    assert m.price(provider, "anything") is None
    assert m.check_model_call("r", provider, "anything", 1_000_000) == Decimal(0)
    usage = Usage(input_tokens=10**6, output_tokens=10**6)
    assert m.record_model_call("r", provider, "anything", usage, "h") == Decimal(0)
    assert m.run_usage("r").cost_usd == Decimal(0)
    assert m.run_usage("r").input_tokens == 10**6


# --- usage extraction and exact cost ------------------------------------------------------------


def test_anthropic_raw_usage_counts_cache_outside_input_tokens(
    store: StateStore, clock: Clock
) -> None:
    raw = {
        "input_tokens": 1200,
        "cache_read_input_tokens": 30_000,
        "cache_creation_input_tokens": 2000,
        "output_tokens": 450,
    }
    # langchain's normalized metadata includes the cache in input_tokens; raw usage wins
    normalized = {
        "input_tokens": 33_200,
        "output_tokens": 450,
        "total_tokens": 33_650,
        "input_token_details": {"cache_read": 30_000, "cache_creation": 2000},
    }
    message = AIMessage("", response_metadata={"usage": raw}, usage_metadata=normalized)
    usage = usage_from_message(message)
    assert usage == Usage(
        input_tokens=1200, cache_read_tokens=30_000, cache_write_tokens=2000, output_tokens=450
    )
    # 1200 × 3.00 + 30000 × 0.30 + 2000 × 3.75 + 450 × 15.00 = 3600 + 9000 + 7500 + 6750
    expected = Decimal("0.02685")
    m = meter(store, clock)
    m.start_run("r", "t", "anthropic")
    cost = m.record_model_call("r", *SONNET, usage, "h")
    assert cost == expected
    assert store.query("SELECT cost_usd FROM model_calls")[0][0] == "0.02685"
    run = m.run_usage("r")
    assert run.cost_usd == expected
    assert (run.input_tokens, run.cache_read_tokens, run.cache_write_tokens) == (
        1200,
        30_000,
        2000,
    )


def test_openai_token_usage_counts_cached_inside_prompt_tokens(
    store: StateStore, clock: Clock
) -> None:
    token_usage = {
        "prompt_tokens": 5000,
        "completion_tokens": 800,
        "total_tokens": 5800,
        "prompt_tokens_details": {"cached_tokens": 4000},
    }
    usage = usage_from_message(AIMessage("", response_metadata={"token_usage": token_usage}))
    assert usage == Usage(input_tokens=1000, cache_read_tokens=4000, output_tokens=800)
    # gpt-5-mini: 1000 × 0.25 + 4000 × 0.025 + 800 × 2.00 = 250 + 100 + 1600
    m = meter(store, clock)
    m.start_run("r", "t", "openai")
    assert m.record_model_call("r", "openai", "gpt-5-mini", usage, "h") == Decimal("0.00195")


def test_openai_token_usage_without_details(store: StateStore, clock: Clock) -> None:
    token_usage = {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": None}
    usage = usage_from_message(AIMessage("", response_metadata={"token_usage": token_usage}))
    assert usage == Usage(input_tokens=10, output_tokens=5)


def test_usage_metadata_fallback_splits_out_the_cache(store: StateStore, clock: Clock) -> None:
    normalized = {
        "input_tokens": 1500,
        "output_tokens": 100,
        "total_tokens": 1600,
        "input_token_details": {"cache_read": 1000, "cache_creation": 200},
    }
    usage = usage_from_message(AIMessage("", usage_metadata=normalized))
    assert usage == Usage(
        input_tokens=300, cache_read_tokens=1000, cache_write_tokens=200, output_tokens=100
    )
    # claude-haiku-4-5: 300 × 1.00 + 1000 × 0.10 + 200 × 1.25 + 100 × 5.00 = 300+100+250+500
    m = meter(store, clock)
    m.start_run("r", "t", "anthropic")
    cost = m.record_model_call("r", "anthropic", "claude-haiku-4-5", usage, "h")
    assert cost == Decimal("0.00115")


def test_a_reply_without_usage_counts_zero() -> None:
    assert usage_from_message(AIMessage("hello")) == Usage()


def test_cost_of_is_exact_and_zero_for_no_usage() -> None:
    price = load_price_table().lookup("openai", "gpt-4o-mini")
    assert price is not None
    # 7 × 0.15 + 3 × 0.075 + 11 × 0.60 = 1.05 + 0.225 + 6.6 = 7.875 per 1M
    assert cost_of(Usage(input_tokens=7, cache_read_tokens=3, output_tokens=11), price) == (
        Decimal("0.000007875")
    )
    assert cost_of(Usage(), price) == Decimal(0)
    one = cost_of(Usage(input_tokens=1), price)
    assert one == Decimal("1.5E-7")
    assert sum((one for _ in range(1000)), Decimal(0)) == Decimal("0.00015")  # no float drift


def test_estimate_tokens_over_estimates_per_message() -> None:
    assert estimate_tokens([]) == 0
    assert estimate_tokens([""]) == 4
    assert estimate_tokens(["abcd"]) == 6  # ceil(4 / 3) + 4
    assert estimate_tokens(["abc", "abcdefg"]) == (1 + 4) + (3 + 4)
