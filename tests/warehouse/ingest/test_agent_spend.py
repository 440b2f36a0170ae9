"""The agent's own LLM spend lands in the warehouse as FOCUS rows of source `finops-agent`,
adding up exactly to what the self-budget meter recorded, and a re-sync never double-counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from agent.config import Config
from guardrails.budget import BudgetMeter, Usage
from guardrails.settings import BudgetConfig
from tests.helpers.agent import Clock
from warehouse.ingest.agent_spend import SOURCE, agent_spend_records, sync_agent_spend
from warehouse.ingest.ai_common import load_price_table
from warehouse.ingest.runner import IngestReport
from warehouse.state.store import StateStore

DAY1 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1)


@pytest.fixture
def meter(store: StateStore, clock: Clock) -> BudgetMeter:
    return BudgetMeter(store, BudgetConfig(), load_price_table(), clock)


def record_calls(meter: BudgetMeter, clock: Clock) -> Decimal:
    """A few calls over two UTC days, two providers and a free model; their total cost."""
    total = Decimal(0)
    clock.now = DAY1
    meter.start_run("r1", "t1", "anthropic")
    total += meter.record_model_call(
        "r1",
        "anthropic",
        "claude-sonnet-4-6",
        Usage(
            input_tokens=1200, cache_read_tokens=30_000, cache_write_tokens=2000, output_tokens=450
        ),
        "h1",
    )
    total += meter.record_model_call(
        "r1",
        "openai",
        "gpt-5-mini",
        Usage(input_tokens=1000, cache_read_tokens=4000, output_tokens=800),
        "h2",
    )
    total += meter.record_model_call(
        "r1", "offline", "planner", Usage(input_tokens=10**6, output_tokens=10**6), "h3"
    )
    clock.now = DAY2
    meter.start_run("r2", "t2", "anthropic")
    total += meter.record_model_call(
        "r2",
        "anthropic",
        "claude-sonnet-4-6-20260218",
        Usage(input_tokens=7, output_tokens=3),
        "h4",
    )
    total += meter.record_model_call(
        "r2", "anthropic", "claude-haiku-4-5", Usage(input_tokens=123, cache_read_tokens=45), "h5"
    )
    return total


def meter_total(store: StateStore) -> Decimal:
    return sum((Decimal(r[0]) for r in store.query("SELECT cost_usd FROM model_calls")), Decimal(0))


def agent_total(con: duckdb.DuckDBPyConnection) -> tuple[int, Decimal]:
    row = con.execute(
        "SELECT count(*), coalesce(sum(BilledCost), 0) FROM costs WHERE x_SourceName = ?", [SOURCE]
    ).fetchone()
    assert row is not None
    return int(row[0]), Decimal(row[1])


def sync(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    tmp_path: Path,
    days: list[date] | None = None,
) -> IngestReport | None:
    return sync_agent_spend(con, store, Config(), out_dir=tmp_path / "agent-spend", days=days)


def test_sync_writes_agent_rows_that_equal_the_meter_exactly(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    expected = record_calls(meter, clock)
    assert expected == meter_total(store)
    # hand-computed: sonnet 0.02685, gpt-5-mini 0.00195, offline 0,
    # sonnet (7 × 3 + 3 × 15) / 1e6 = 0.000066, haiku (123 × 1 + 45 × 0.10) / 1e6 = 0.0001275
    assert expected == Decimal("0.02685") + Decimal("0.00195") + Decimal("0.000066") + Decimal(
        "0.0001275"
    )
    report = sync(con, store, tmp_path)
    assert report is not None
    rows, total = agent_total(con)
    assert total == expected
    assert rows == report.rows
    # one row per day × provider × model × token kind present:
    # day 1: sonnet 4 kinds + gpt-5-mini 3 kinds; day 2: sonnet 2 kinds + haiku 2 kinds
    assert rows == 11


def test_agent_rows_are_marked_as_the_agent(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    record_calls(meter, clock)
    sync(con, store, tmp_path)
    rows = con.execute(
        "SELECT DISTINCT ProviderName, PublisherName, InvoiceIssuerName, ServiceName, SubAccountId,"
        " SubAccountType, json_extract_string(Tags, '$.\"finops:agent\"'), BillingCurrency,"
        " ConsumedUnit, ChargeCategory FROM costs WHERE x_SourceName = ? ORDER BY 1",
        [SOURCE],
    ).fetchall()
    assert rows == [
        (
            "Anthropic",
            "Anthropic",
            "Anthropic",
            "Claude API",
            SOURCE,
            "Agent",
            "true",
            "USD",
            "Tokens",
            "Usage",
        ),
        (
            "OpenAI",
            "OpenAI",
            "OpenAI",
            "OpenAI API",
            SOURCE,
            "Agent",
            "true",
            "USD",
            "Tokens",
            "Usage",
        ),
    ]
    assert con.execute(
        "SELECT count(*) FROM costs WHERE x_SourceName = ?"
        " AND ProviderName NOT IN ('Anthropic', 'OpenAI')",
        [SOURCE],
    ).fetchone() == (0,)


def test_free_calls_produce_no_rows_and_tokens_match_per_kind(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    record_calls(meter, clock)
    sync(con, store, tmp_path)
    assert con.execute(
        "SELECT count(*) FROM costs WHERE x_SourceName = ? AND SkuId = 'planner'", [SOURCE]
    ).fetchone() == (0,)
    by_meter = dict(
        con.execute(
            "SELECT SkuMeter, CAST(sum(ConsumedQuantity) AS BIGINT) FROM costs"
            " WHERE x_SourceName = ? AND SkuId LIKE 'claude-sonnet-4-6%' GROUP BY 1",
            [SOURCE],
        ).fetchall()
    )
    assert by_meter == {
        "Input Tokens": 1207,
        "Cache Read Tokens": 30_000,
        "Cache Write Tokens": 2000,
        "Output Tokens": 453,
    }
    day2 = con.execute(
        "SELECT sum(BilledCost) FROM costs WHERE x_SourceName = ?"
        " AND CAST(ChargePeriodStart AS DATE) = DATE '2026-11-28'",
        [SOURCE],
    ).fetchone()
    assert day2 is not None and Decimal(day2[0]) == Decimal("0.0001935")


def test_a_second_sync_does_not_double_count(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    expected = record_calls(meter, clock)
    first = sync(con, store, tmp_path)
    assert first is not None
    second = sync(con, store, tmp_path)
    assert second is not None
    assert second.replaced_rows == first.rows
    assert agent_total(con) == (first.rows, expected)


def test_syncing_today_again_after_more_calls_keeps_other_days(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    record_calls(meter, clock)
    sync(con, store, tmp_path)
    clock.now = DAY2.replace(hour=22)
    extra = meter.record_model_call(
        "r2", "anthropic", "claude-sonnet-4-6", Usage(output_tokens=1000), "h6"
    )
    assert extra == Decimal("0.015")
    report = sync(con, store, tmp_path, days=[DAY2.date()])
    assert report is not None
    _, total = agent_total(con)
    assert total == meter_total(store)
    day1 = con.execute(
        "SELECT sum(BilledCost) FROM costs WHERE x_SourceName = ?"
        " AND CAST(ChargePeriodStart AS DATE) = DATE '2026-11-27'",
        [SOURCE],
    ).fetchone()
    assert day1 is not None and Decimal(day1[0]) == Decimal("0.02880")


def test_other_sources_are_left_alone(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    con.execute(
        "INSERT INTO costs (BilledCost, EffectiveCost, ListCost, ContractedCost, BillingCurrency,"
        " ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, BillingPeriodEnd,"
        " ChargeCategory, ProviderName, ServiceName, x_SourceName) VALUES (10, 10, 10, 10,"
        " 'USD', '2026-11-28', '2026-11-29', '2026-11-01', '2026-12-01', 'Usage', 'Anthropic',"
        " 'Claude API', 'anthropic')"
    )
    record_calls(meter, clock)
    sync(con, store, tmp_path)
    sync(con, store, tmp_path)
    assert con.execute(
        "SELECT count(*), sum(BilledCost) FROM costs WHERE x_SourceName = 'anthropic'"
    ).fetchone() == (1, Decimal(10))


def test_only_free_calls_sync_nothing(
    con: duckdb.DuckDBPyConnection, store: StateStore, meter: BudgetMeter, tmp_path: Path
) -> None:
    meter.start_run("r", "t", "offline")
    meter.record_model_call("r", "offline", "planner", Usage(input_tokens=50), "h")
    meter.record_model_call("r", "scripted", "script", Usage(input_tokens=50), "h")
    assert sync(con, store, tmp_path) is None
    assert agent_total(con) == (0, Decimal(0))
    assert not (tmp_path / "agent-spend").exists()


def test_records_file_is_the_provenance(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    meter: BudgetMeter,
    clock: Clock,
    tmp_path: Path,
) -> None:
    record_calls(meter, clock)
    sync(con, store, tmp_path)
    (path,) = con.execute(
        "SELECT DISTINCT x_SourceFile FROM costs WHERE x_SourceName = ?", [SOURCE]
    ).fetchone() or (None,)
    assert path is not None and Path(path).name == "agent-spend-2026-11-27-2026-11-28.json"
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    assert records == agent_spend_records(store, [DAY1.date(), DAY2.date()])
    assert sum(Decimal(r["billed_cost"]) for r in records) == meter_total(store)
