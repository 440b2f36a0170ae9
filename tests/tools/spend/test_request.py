"""The structured spend query: validated against the catalog, answered by the engine, checked
against independent sums over the source file."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from agent.config import Config
from tests.helpers.warehouse import ingest
from tools.query import DuckDBEngine
from tools.spend.request import RequestFilter, SpendRequest, check_request, run_request
from tools.vocab.catalog import Vocabulary, load_vocabulary
from warehouse.errors import QueryError

TODAY = date(2024, 10, 5)
LAST = date(2024, 9, 30)


@pytest.fixture
def rows(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "focus/focus_sample_1000.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def engine(con: duckdb.DuckDBPyConnection, shared_data: Path) -> DuckDBEngine:
    ingest(con, shared_data / "focus/focus_sample_1000.csv")
    return DuckDBEngine(con)


@pytest.fixture
def vocab(engine: DuckDBEngine) -> Vocabulary:
    return load_vocabulary(engine, Config())


def _sum(rows: list[dict[str, str]], column: str = "BilledCost", **where: str) -> Decimal:
    total = Decimal(0)
    for r in rows:
        if all(r[k] == v for k, v in where.items()):
            total += Decimal(r[column] if r[column] != "NULL" else 0)
    return total


def _run(engine: DuckDBEngine, vocab: Vocabulary, **fields: object) -> dict[str, object]:
    request = check_request(SpendRequest.model_validate(fields), Config(), vocab)
    return run_request(engine, Config(), request, today=TODAY, last_day=LAST)


def test_an_unknown_value_names_the_closest_known_ones(vocab: Vocabulary) -> None:
    bad = SpendRequest(filters=[RequestFilter(dimension="ServiceName", values=["Amazon EC"])])
    with pytest.raises(QueryError) as info:
        check_request(bad, Config(), vocab)
    message = str(info.value)
    assert "no ServiceName called 'Amazon EC'" in message
    assert "closest:" in message and "USD " in message


def test_values_come_back_in_their_exact_spelling(vocab: Vocabulary) -> None:
    loose = SpendRequest(filters=[RequestFilter(dimension="ProviderName", values=["aws"])])
    checked = check_request(loose, Config(), vocab)
    assert checked.filters[0].values == ["AWS"]


def test_an_unknown_dimension_is_refused(vocab: Vocabulary) -> None:
    with pytest.raises(QueryError, match="unknown dimension"):
        check_request(SpendRequest(by=["Colour"]), Config(), vocab)


def test_inconsistent_requests_are_refused() -> None:
    with pytest.raises(ValidationError, match="both since and until"):
        SpendRequest(since=date(2024, 9, 1))
    with pytest.raises(ValidationError, match="before since"):
        SpendRequest(since=date(2024, 9, 2), until=date(2024, 9, 1))
    with pytest.raises(ValidationError, match="needs a unit"):
        SpendRequest(measure="unit_cost")
    with pytest.raises(ValidationError):
        SpendRequest.model_validate({"measure": "cost", "colour": "red"})


def test_cost_with_inclusion_and_exclusion_matches_the_file(
    engine: DuckDBEngine, vocab: Vocabulary, rows: list[dict[str, str]]
) -> None:
    out = _run(
        engine,
        vocab,
        since="2024-09-01",
        until="2024-09-30",
        filters=[
            {"dimension": "ProviderName", "values": ["AWS"]},
            {
                "dimension": "ServiceName",
                "values": ["Amazon Elastic Compute Cloud"],
                "exclude": True,
            },
        ],
    )
    expected = _sum(rows, ProviderName="AWS") - _sum(
        rows, ProviderName="AWS", ServiceName="Amazon Elastic Compute Cloud"
    )
    assert Decimal(out["result"]["total"]) == expected  # type: ignore[index]
    assert out["period"] == {
        "label": "2024-09-01..2024-09-30",
        "since": "2024-09-01",
        "until": "2024-09-30",
        "as_of": "2024-09-30",
    }
    assert out["sql"] and "NOT IN" in out["sql"][0]  # type: ignore[index]


def test_contracted_metric(
    engine: DuckDBEngine, vocab: Vocabulary, rows: list[dict[str, str]]
) -> None:
    out = _run(engine, vocab, metric="contracted", since="2024-09-01", until="2024-09-30")
    assert Decimal(out["result"]["total"]) == _sum(rows, "ContractedCost")  # type: ignore[index]


def test_share_of_a_whole(
    engine: DuckDBEngine, vocab: Vocabulary, rows: list[dict[str, str]]
) -> None:
    aws = {"dimension": "ProviderName", "values": ["AWS"]}
    ec2 = {"dimension": "ServiceName", "values": ["Amazon Elastic Compute Cloud"]}
    out = _run(
        engine, vocab, measure="share", period="2024-09", filters=[aws, ec2], share_within=[aws]
    )
    part = _sum(rows, ProviderName="AWS", ServiceName="Amazon Elastic Compute Cloud")
    whole = _sum(rows, ProviderName="AWS")
    share = out["share"]
    assert Decimal(share["part"]) == part and Decimal(share["whole"]) == whole  # type: ignore[index]
    assert Decimal(share["percent"]) == (part / whole * 100).quantize(Decimal("0.01"))  # type: ignore[index]


def test_growth_compares_the_named_windows_largest_increase_first(
    engine: DuckDBEngine, vocab: Vocabulary, rows: list[dict[str, str]]
) -> None:
    out = _run(
        engine,
        vocab,
        measure="growth",
        since="2024-09-16",
        until="2024-09-30",
        compare_since="2024-09-01",
        compare_until="2024-09-10",
        direction="increase",
        by=["ServiceName"],
    )
    result = out["result"]
    deltas: dict[str, Decimal] = {}
    for r in rows:
        day = r["ChargePeriodStart"][:10]
        cost = Decimal(r["BilledCost"])
        sign = 1 if day >= "2024-09-16" else -1 if day <= "2024-09-10" else 0
        deltas[r["ServiceName"]] = deltas.get(r["ServiceName"], Decimal(0)) + sign * cost
    best = max(deltas.values())
    assert Decimal(result["rows"][0]["delta"]) == best  # type: ignore[index]
    ranked = [Decimal(r["delta"]) for r in result["rows"]]  # type: ignore[index]
    assert ranked == sorted(ranked, reverse=True)
    assert out["compare_period"] == {"since": "2024-09-01", "until": "2024-09-10"}


def test_growth_refuses_an_overlapping_previous_window(
    engine: DuckDBEngine, vocab: Vocabulary
) -> None:
    with pytest.raises(QueryError, match="must end before"):
        _run(
            engine,
            vocab,
            measure="growth",
            since="2024-09-10",
            until="2024-09-30",
            compare_since="2024-09-01",
            compare_until="2024-09-15",
        )
