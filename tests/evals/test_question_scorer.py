"""The question scorer on hand-written answers: strict about figures, labels and order; a
clarification is never wrong, and is right only where the question asks for one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import pytest

from evals.questions.answer import money_in, parse_answer
from evals.questions.schema import Question
from evals.questions.scorer import close, score_answer
from evals.questions.truth import Expected, TruthRow, compute, period_bounds


def _q(expect: str, **kw: Any) -> Question:
    truth = kw.pop("truth", None if expect == "clarify" else {"period": "2026-01"})
    return Question.model_validate(
        {"id": "q-test", "kind": "total", "ask": "?", "expect": expect, "truth": truth, **kw}
    )


def _row(name: str, value: str, previous: str = "0", *alts: str) -> TruthRow:
    return TruthRow(name, frozenset({name, *alts}), Decimal(value), Decimal(previous))


TOTAL = Expected("total", value=Decimal("1234.5649"))
ROWS = Expected(
    "rows",
    rows=[
        _row("AWS Glue", "2389.33"),
        _row("Amazon Relational Database Service", "920.75"),
        _row("Amazon Elastic Compute Cloud", "737.50"),
        _row("AWS Config", "12.28"),
        _row("Amazon Athena", "0.001"),
    ],
    total=Decimal("4059.861"),
)


def test_money_follows_the_contract() -> None:
    assert money_in("Total: USD 1,234.56 and EUR -12.50, USD 0.0021") == [
        Decimal("1234.56"),
        Decimal("-12.50"),
        Decimal("0.0021"),
    ]
    assert money_in("USD 1234.56 or 12 USD or USD 3.5 or $4.00") == []  # no commas / decimals


def test_close_is_a_cent_or_relative_for_large_sums() -> None:
    assert close(Decimal("737.50"), Decimal("737.4972"))
    assert not close(Decimal("737.52"), Decimal("737.4972"))
    assert close(Decimal("123456789.00"), Decimal("123456789.09"))


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ("Understood: billed; EC2; January 2026.\nTotal: USD 1,234.56.", "correct"),
        ("Understood: …\nTotal: USD 1,234.57 (billed).", "correct"),
        ("Understood: …\nTotal: USD 1,234.59.", "wrong"),
        ("Understood: …\nTotal: USD 4,064.48.\nof which EC2: USD 1,234.56", "wrong"),
        ("Understood: …\nEC2 cost USD 1,234.56 in January.", "wrong"),  # no Total line
        ("Not answered: no service called 'Glu'; closest: AWS Glue, USD 2,389.33.", "clarified"),
        ("The offline planner (no LLM) cannot understand that question.", "clarified"),
        ("", "wrong"),
    ],
)
def test_total(answer: str, outcome: str) -> None:
    assert score_answer(_q("total"), TOTAL, answer).outcome == outcome


def test_a_clarification_is_correct_only_where_one_is_due() -> None:
    must = _q("clarify")
    assert score_answer(must, Expected("clarify"), "Not answered: no data in 2017.").outcome == (
        "correct"
    )
    assert score_answer(must, Expected("clarify"), "Understood: …\nTotal: USD 0.00.").outcome == (
        "wrong"
    )
    assert score_answer(must, Expected("clarify"), "Nothing found.").outcome == "wrong"


def test_a_typo_is_correct_answered_or_clarified_with_the_closest_value() -> None:
    typo = _q("total", accept_clarify=True, closest="Amazon Elastic Compute Cloud")
    named = "Not answered: no service 'Elastic Compte Cloud'; closest: Amazon Elastic Compute Cloud"
    assert score_answer(typo, TOTAL, named).outcome == "correct"
    assert score_answer(typo, TOTAL, "Not answered: unknown service.").outcome == "clarified"
    assert score_answer(typo, TOTAL, "Understood: …\nTotal: USD 1,234.56.").outcome == "correct"
    assert score_answer(typo, TOTAL, "Understood: …\nTotal: USD 9.99.").outcome == "wrong"


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (  # every non-zero group, any order, a tiny one left out
            "- Amazon Elastic Compute Cloud: USD 737.50\n- AWS Glue: USD 2,389.33\n"
            "- Amazon Relational Database Service: USD 920.75\n- aws config: USD 12.28\n"
            "Total: USD 4,059.86.",
            "correct",
        ),
        (  # the rest summed as (other)
            "- AWS Glue: USD 2,389.33\n- Amazon Relational Database Service: USD 920.75\n"
            "- (other): USD 749.78",
            "correct",
        ),
        (  # a group missing and no (other)
            "- AWS Glue: USD 2,389.33\n- Amazon Relational Database Service: USD 920.75",
            "wrong",
        ),
        (  # one figure off
            "- AWS Glue: USD 2,389.33\n- Amazon Relational Database Service: USD 920.75\n"
            "- Amazon Elastic Compute Cloud: USD 738.50\n- AWS Config: USD 12.28",
            "wrong",
        ),
        (  # a label that is not a group
            "- AWS Glue: USD 2,389.33\n- Amazon RDS: USD 920.75\n- (other): USD 749.78",
            "wrong",
        ),
        (  # right rows, wrong total
            "- AWS Glue: USD 2,389.33\n- (other): USD 1,670.53\nTotal: USD 4,064.48.",
            "wrong",
        ),
        ("Total: USD 4,059.86.", "wrong"),  # no rows at all
    ],
)
def test_breakdown(body: str, outcome: str) -> None:
    q = _q("rows", truth={"period": "2026-01", "by": ["service"]})
    verdict = score_answer(q, ROWS, "Understood: by service\n" + body)
    assert verdict.outcome == outcome, verdict.detail


def test_top_n_needs_the_labels_in_order_with_their_figures() -> None:
    q = _q("top", truth={"period": "2026-01", "by": ["service"], "top": 2})
    top = Expected("top", rows=ROWS.rows, total=ROWS.total, top=2)
    glue, rds = "- AWS Glue: USD 2,389.33\n", "- Amazon Relational Database Service: USD 920.75\n"
    good = f"Understood: top 2\n{glue}{rds}- (other): USD 749.78"
    swapped = f"Understood: top 2\n{rds}{glue}"
    short = "Understood: top 2\n- AWS Glue: USD 2,389.33"
    assert score_answer(q, top, good).outcome == "correct"
    assert score_answer(q, top, swapped).outcome == "wrong"
    assert score_answer(q, top, short).outcome == "wrong"


def test_labels_by_id_or_name_and_time_grains() -> None:
    accounts = Expected("rows", rows=[_row("granite-prod", "10.00", "0", "210987654321")])
    q = _q("rows", truth={"period": "2026-01", "by": ["account"]})
    for label in ("granite-prod", "210987654321", "granite-prod (210987654321)"):
        assert score_answer(q, accounts, f"Understood: …\n- {label}: USD 10.00").outcome == (
            "correct"
        )
    months = Expected("rows", rows=[_row("2025-12", "5.00", "0", "2025-12-01")])
    q = _q("rows", truth={"period": "2025-12", "by": ["month"]})
    for label in ("2025-12", "2025-12-01", "2025-12-01..2025-12-31"):
        assert score_answer(q, months, f"Understood: …\n- {label}: USD 5.00").outcome == "correct"


def test_growth_ranks_by_increase_and_checks_both_figures() -> None:
    rows = [_row("BigQuery", "3647.88", "2848.35"), _row("Vertex AI", "1106.39", "813.76")]
    e = Expected("growth", rows=rows, top=1)
    q = _q("growth", truth={"period": "2026-01", "previous": "2025-12", "by": ["service"]})
    good = "Understood: …\n- BigQuery: USD 3,647.88 vs USD 2,848.35 (delta USD +799.53, +28.1%)"
    bad_prev = "Understood: …\n- BigQuery: USD 3,647.88 vs USD 2,000.00 (delta USD +1,647.88)"
    wrong_first = "Understood: …\n- Vertex AI: USD 1,106.39 vs USD 813.76 (delta USD +292.63)"
    assert score_answer(q, e, good).outcome == "correct"
    assert score_answer(q, e, bad_prev).outcome == "wrong"
    assert score_answer(q, e, wrong_first).outcome == "wrong"


def test_share_and_unit_cost() -> None:
    share = Expected("share", value=Decimal("58.7855"))
    q = _q("share", truth={"period": "2026-01", "share_of": {}})
    assert score_answer(q, share, "Understood: …\nShare: 58.8% of USD 4,064.48").outcome == (
        "correct"
    )
    assert score_answer(q, share, "Understood: …\nShare: 57.8% of …").outcome == "wrong"
    unit = Expected("unit", value=Decimal("0.44"))
    q = _q("unit")
    assert score_answer(q, unit, "Understood: …\nUnit cost: USD 0.4400 per DPU-Hour").outcome == (
        "correct"
    )
    assert score_answer(q, unit, "Understood: …\nTotal: USD 2,389.33.").outcome == "wrong"


def test_parse_reads_the_first_line_and_the_rows() -> None:
    p = parse_answer(
        "Understood: billed cost; by service.\n- A / 2026-01-01: USD 1.00\n- (other): USD 2.50"
    )
    assert p.understood and not p.refusal
    assert [r.label for r in p.ranked] == ["A / 2026-01-01"] and p.other == Decimal("2.50")


def test_truth_sql_periods_filters_and_groups() -> None:
    assert period_bounds("2018-Q4")[1].isoformat() == "2019-01-01"
    assert period_bounds("2025-12")[1].isoformat() == "2026-01-01"
    assert [d.isoformat() for d in period_bounds(["2026-01-19", "2026-02-18"])] == [
        "2026-01-19",
        "2026-02-18",
    ]
    con = duckdb.connect()
    con.execute(
        "CREATE VIEW bill AS SELECT * FROM (VALUES "
        "(TIMESTAMP '2026-01-05', 'EC2', 'p-1', 'prod', 10.0, 8.0), "
        "(TIMESTAMP '2026-01-06', 'S3', 'p-1', 'prod', 2.0, 2.0), "
        "(TIMESTAMP '2026-02-01', 'EC2', 'd-1', 'dev', 5.0, 5.0), "
        "(TIMESTAMP '2025-12-31', 'EC2', 'p-1', 'prod', 7.0, 7.0)"
        ") t(ts, service, account_id, account_name, billed, effective)"
    )
    total = _q("total", truth={"period": "2026-01", "exclude": {"service": "S3"}})
    assert compute(con, total).value == Decimal("10.0")
    amortized = _q("total", truth={"period": "2026-01", "metric": "effective"})
    assert compute(con, amortized).value == Decimal("10.0")
    by_account = _q("rows", truth={"by": ["account"]})
    rows = compute(con, by_account).rows
    assert [(r.name, r.value) for r in rows] == [("prod", Decimal("19.0")), ("dev", Decimal("5.0"))]
    assert "p-1" in rows[0].labels
    growth = _q(
        "growth", truth={"period": "2026-01", "previous": "2025-12", "by": ["service"], "top": 1}
    )
    first = compute(con, growth).rows[0]
    assert (first.name, first.delta) == ("EC2", Decimal("3.0"))
