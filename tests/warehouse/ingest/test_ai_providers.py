"""OpenAI and Anthropic connectors: totals, token rows kept apart, cents, pricing, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.helpers.warehouse import ingest, snapshot
from tests.paths import FIXTURES
from warehouse.errors import IngestError
from warehouse.ingest import detect_format
from warehouse.ingest.base import LocalFile

OPENAI = FIXTURES / "openai"
ANTHROPIC = FIXTURES / "anthropic"


def _pages(path: Path) -> list[dict[str, Any]]:
    """Pages of a JSON or JSON-lines file, numbers as Decimal (independent of the connector)."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line, parse_float=Decimal) for line in text.splitlines() if line]
    return [json.loads(text, parse_float=Decimal)]


def _results(path: Path) -> list[tuple[Any, dict[str, Any]]]:
    return [(b, r) for p in _pages(path) for b in p["data"] for r in b["results"]]


def _by_day(con: duckdb.DuckDBPyConnection) -> dict[str, Decimal]:
    rows = con.execute(
        "SELECT strftime(ChargePeriodStart, '%Y-%m-%d'), sum(BilledCost) FROM costs GROUP BY 1"
    ).fetchall()
    return {str(r[0]): r[1] for r in rows}


def test_openai_costs_pages_match_source(con: duckdb.DuckDBPyConnection) -> None:
    path = OPENAI / "costs_pages.jsonl"
    report = ingest(con, path, fmt="openai")
    expected: dict[str, Decimal] = {}
    for bucket, result in _results(path):
        day = datetime.fromtimestamp(int(bucket["start_time"]), UTC).strftime("%Y-%m-%d")
        expected[day] = expected.get(day, Decimal(0)) + result["amount"]["value"]
    assert (
        _by_day(con)
        == expected
        == {"2025-08-01": Decimal("6.152067"), "2025-08-02": Decimal("1.8")}
    )
    assert report.rows == len(_results(path)) == 7
    row = con.execute(
        "SELECT SkuId, SkuMeter, SubAccountId, ConsumedQuantity, ConsumedUnit, BillingCurrency,"
        " ProviderName, PublisherName, InvoiceIssuerName, ServiceCategory, ChargeCategory,"
        " Tags->>'project_id' FROM costs WHERE BilledCost = 4.82"
    ).fetchone()
    assert row == (
        "gpt-4o-2024-08-06", "Output Tokens", "proj_research", Decimal(482000), "Tokens", "USD",
        "OpenAI", "OpenAI", "OpenAI", "AI and Machine Learning", "Usage", "proj_research",
    )  # fmt: skip
    credit = con.execute("SELECT ChargeCategory FROM costs WHERE BilledCost < 0").fetchall()
    assert credit == [("Credit",)]


def test_openai_real_costs_example(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    ingest(con, shared_data / "openai/organization_costs.example_response.json", fmt="openai")
    row = con.execute(
        "SELECT BilledCost, EffectiveCost, BillingCurrency, ChargePeriodStart, ChargePeriodEnd,"
        " BillingPeriodStart, BillingPeriodEnd, ServiceName, BillingAccountId FROM costs"
    ).fetchall()
    assert row == [
        (
            Decimal("0.06"), Decimal("0.06"), "USD",
            datetime(2024, 11, 1), datetime(2024, 11, 2), datetime(2024, 11, 1),
            datetime(2024, 12, 1), "OpenAI API", "openai",
        )
    ]  # fmt: skip


def test_openai_usage_example_keeps_token_types_apart(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / "openai/organization_usage_completions.example_response.json"
    report = ingest(con, path, fmt="openai")
    (_, result), *_ = _results(path)
    got = dict(con.execute("SELECT SkuMeter, ConsumedQuantity FROM costs").fetchall())
    assert got == {
        "Input Tokens": result["input_uncached_tokens"],
        "Cached Input Tokens": result["input_cached_tokens"],
        "Cache Write Input Tokens": result["input_cache_write_tokens"],
        "Output Tokens": result["output_tokens"],
    }
    assert sum(got.values()) == result["input_tokens"] + result["output_tokens"]
    assert con.execute("SELECT sum(BilledCost), min(ConsumedUnit) FROM costs").fetchone() == (
        Decimal(0),
        "Tokens",
    )
    assert any("without a list price" in w and "not grouped" in w for w in report.warnings)


def test_openai_usage_priced_from_bundled_table(con: duckdb.DuckDBPyConnection) -> None:
    path = OPENAI / "usage_completions_by_model.json"
    report = ingest(con, path, fmt="openai", source="openai-usage")
    per_model = dict(con.execute("SELECT SkuId, sum(BilledCost) FROM costs GROUP BY 1").fetchall())
    # list prices per 1M tokens, by hand: gpt-4o-mini 0.15 / 0.075 cached / 0.60 out;
    # gpt-4o 2.50 / 10.00 at half price for batch; gpt-4.1 2.00 / 0.50 / 8.00; embeddings 0.02
    assert per_model == {
        "gpt-4o-mini-2024-07-18": Decimal("0.15") + Decimal("0.015") + Decimal("0.18"),
        "gpt-4o-2024-08-06": Decimal("0.125") + Decimal("0.25"),
        "gpt-4.1-2025-04-14": Decimal("0.6") + Decimal("0.15") + Decimal("0.2") + Decimal("0.08"),
        "text-embedding-3-small": Decimal("0.1"),
        "ft:gpt-4o-mini-2024-07-18:acme::abc123": Decimal(0),
    }
    meters = con.execute(
        "SELECT SkuMeter, ConsumedQuantity, ListUnitPrice * 1000000, ChargeDescription"
        " FROM costs WHERE SkuId = 'gpt-4.1-2025-04-14' ORDER BY SkuMeter"
    ).fetchall()
    assert [(m[0], m[1], m[2]) for m in meters] == [
        ("Cache Write Input Tokens", 100000, Decimal("2.00")),
        ("Cached Input Tokens", 300000, Decimal("0.50")),
        ("Input Tokens", 300000, Decimal("2.00")),
        ("Output Tokens", 10000, Decimal("8.00")),
    ]
    assert all("priced at list price" in m[3] for m in meters)
    tags = con.execute(
        "SELECT ResourceId, Tags->>'user_id' FROM costs WHERE SkuId LIKE 'gpt-4o-mini%'"
    ).fetchall()
    assert set(tags) == {("key_support01", "user_ana")}
    assert any("ft:gpt-4o-mini" in w for w in report.warnings)


def test_anthropic_cost_report_cents_converted_exactly(con: duckdb.DuckDBPyConnection) -> None:
    path = ANTHROPIC / "cost_report_pages.jsonl"
    ingest(con, path, fmt="anthropic")
    expected: dict[str, Decimal] = {}
    for bucket, result in _results(path):
        day = bucket["starting_at"][:10]
        expected[day] = expected.get(day, Decimal(0)) + Decimal(result["amount"]) / 100
    assert _by_day(con) == expected
    assert sum(expected.values()) == Decimal("3.599550001")
    amounts = dict(con.execute("SELECT ChargeDescription, BilledCost FROM costs").fetchall())
    assert amounts["Claude Sonnet 4 Usage - Input Tokens"] == Decimal("1.2345")
    assert amounts["Claude Sonnet 4 Usage - Cache Read"] == Decimal("0.270000001")
    meters = con.execute(
        "SELECT SkuMeter FROM costs WHERE SkuId LIKE 'claude-sonnet-4%' ORDER BY 1"
    ).fetchall()
    assert [m[0] for m in meters] == [
        "Cache Read Input Tokens",
        "Cache Write 1h Input Tokens",
        "Cache Write 5m Input Tokens",
        "Input Tokens",
        "Output Tokens",
    ]
    ws = con.execute("SELECT DISTINCT SubAccountId, ProviderName FROM costs ORDER BY 1").fetchall()
    assert ws == [
        ("wrkspc_01FinOps", "Anthropic"),
        ("wrkspc_01Support", "Anthropic"),
        (None, "Anthropic"),
    ]


def test_anthropic_usage_token_rows_and_pricing(con: duckdb.DuckDBPyConnection) -> None:
    path = ANTHROPIC / "usage_report_messages.json"
    report = ingest(con, path, fmt="anthropic", source="anthropic-usage")
    _, sonnet = _results(path)[0]
    rows = dict(
        con.execute(
            "SELECT SkuMeter, ConsumedQuantity FROM costs WHERE SkuId = 'claude-sonnet-4-20250514'"
        ).fetchall()
    )
    assert rows == {
        "Input Tokens": sonnet["uncached_input_tokens"],
        "Cache Read Input Tokens": sonnet["cache_read_input_tokens"],
        "Cache Write 5m Input Tokens": sonnet["cache_creation"]["ephemeral_5m_input_tokens"],
        "Cache Write 1h Input Tokens": sonnet["cache_creation"]["ephemeral_1h_input_tokens"],
        "Output Tokens": sonnet["output_tokens"],
        "Web Search Requests": sonnet["server_tool_use"]["web_search_requests"],
    }
    per_model = dict(con.execute("SELECT SkuId, sum(BilledCost) FROM costs GROUP BY 1").fetchall())
    # Sonnet 4: 0.15M x $3 + 0.9M x $0.30 + 0.04M x $3.75 + 0.02M x $6 + 0.06M x $15
    assert per_model["claude-sonnet-4-20250514"] == Decimal("1.89")
    # Haiku 3.5 batch (half price): 1M x $0.80 / 2 + 0.2M x $4 / 2
    assert per_model["claude-3-5-haiku-20241022"] == Decimal("0.80")
    assert per_model["claude-experimental-9"] == 0
    assert any("claude-experimental-9" in w and "web search" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("relative", "fmt"),
    [
        ("openai/organization_costs.example_response.json", "openai"),
        ("openai/organization_usage_completions.example_response.json", "openai"),
        ("opencost/allocation_compute_example_response.json", "opencost"),
    ],
)
def test_truncated_real_json_fails_and_changes_nothing(
    con: duckdb.DuckDBPyConnection, shared_data: Path, tmp_path: Path, relative: str, fmt: str
) -> None:
    ingest(con, OPENAI / "costs_pages.jsonl", fmt="openai")
    before = snapshot(con)
    text = (shared_data / relative).read_text()
    cut = tmp_path / Path(relative).name
    cut.write_text(text[: len(text) // 2])
    for chosen in (fmt, "auto"):
        with pytest.raises(IngestError) as caught:
            ingest(con, cut, fmt=chosen)
        assert str(cut) in str(caught.value)
        assert "invalid JSON" in str(caught.value)
    assert snapshot(con) == before


def test_truncated_anthropic_pages_fail(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    text = (ANTHROPIC / "cost_report_pages.jsonl").read_text()
    cut = tmp_path / "cost_report.jsonl"
    cut.write_text(text[: len(text) - 40])
    with pytest.raises(IngestError, match=r"cost_report\.jsonl, row 2: invalid JSON"):
        ingest(con, cut, fmt="anthropic")
    assert snapshot(con)[0] == 0


def test_reingest_replaces_only_overlapping_days(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, OPENAI / "costs_pages.jsonl", fmt="openai")
    day1 = con.execute(
        "SELECT count(*), sum(BilledCost) FROM costs WHERE ChargePeriodStart = '2025-08-01'"
    ).fetchone()
    report = ingest(con, OPENAI / "costs_restated_days_2_3.json", fmt="openai")
    assert report.replaced_rows == 3
    assert _by_day(con) == {
        "2025-08-01": Decimal("6.152067"),
        "2025-08-02": Decimal("2.75"),
        "2025-08-03": Decimal("0.5"),
    }
    assert (
        day1
        == con.execute(
            "SELECT count(*), sum(BilledCost) FROM costs WHERE ChargePeriodStart = '2025-08-01'"
        ).fetchone()
    )


def test_bad_amount_names_file_and_place(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    page = json.loads((OPENAI / "costs_restated_days_2_3.json").read_text())
    page["data"][1]["results"][0]["amount"]["value"] = "twelve"
    bad = tmp_path / "bad_costs.json"
    bad.write_text(json.dumps(page))
    before = snapshot(con)
    with pytest.raises(IngestError) as caught:
        ingest(con, bad, fmt="openai")
    message = str(caught.value)
    assert str(bad) in message and "page 1, bucket 2, result 1: amount.value" in message
    assert snapshot(con) == before


def test_bad_anthropic_timestamp_located(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    page = json.loads((ANTHROPIC / "usage_report_messages.json").read_text())
    page["data"][1]["starting_at"] = "yesterday"
    bad = tmp_path / "usage.json"
    bad.write_text(json.dumps(page))
    with pytest.raises(IngestError, match="cannot convert 'yesterday'"):
        ingest(con, bad, fmt="anthropic")
    assert snapshot(con)[0] == 0


def test_options_billing_account_and_price_table(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "# negotiated prices\n"
        "provider,model,input_usd_per_mtok,cached_input_usd_per_mtok,cache_write_5m_usd_per_mtok,"
        "cache_write_1h_usd_per_mtok,output_usd_per_mtok,as_of\n"
        "openai,text-embedding-3-small,0.01,,,,0,2025-09-01\n"
    )
    options: dict[str, object] = {"billing_account_id": "org-acme", "prices": str(prices)}
    ingest(con, OPENAI / "usage_completions_by_model.json", fmt="openai", options=options)
    rows = dict(con.execute("SELECT SkuId, sum(BilledCost) FROM costs GROUP BY 1").fetchall())
    assert rows["text-embedding-3-small"] == Decimal("0.05")
    assert rows["gpt-4o-2024-08-06"] == 0
    accounts = con.execute("SELECT DISTINCT BillingAccountId FROM costs").fetchall()
    assert accounts == [("org-acme",)]


def test_detect_format_of_each_json_shape(shared_data: Path) -> None:
    openai_files = sorted((shared_data / "openai").glob("organization_*.json"))
    assert len(openai_files) == 11
    cases = [(p, "openai") for p in openai_files] + [
        (OPENAI / "costs_pages.jsonl", "openai"),
        (OPENAI / "usage_completions_by_model.json", "openai"),
        (ANTHROPIC / "cost_report_pages.jsonl", "anthropic"),
        (ANTHROPIC / "usage_report_messages.json", "anthropic"),
    ]
    for path, fmt in cases:
        assert detect_format(LocalFile(path, str(path))) == fmt, path.name
