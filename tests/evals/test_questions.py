"""The question suite on bills the agent has never seen: its shape, truths that can tell a right
answer from a wrong one, and the regression gate against `evals/questions/baseline.json`.

Refresh the baseline deliberately, after reviewing what changed:
`finops eval --suite questions --write-baseline`.
"""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from evals.questions.company import ACCOUNTS
from evals.questions.datasets import DATASETS, truth_connection
from evals.questions.runner import QuestionOutcome, QuestionRun, load_questions, run_questions
from evals.questions.schema import KINDS
from evals.questions.scorecard import gate, load_baseline, tallies, write_baseline
from evals.questions.truth import compute, where_sql
from tests.helpers.cli import run_cli
from warehouse.clock import utc_now
from warehouse.demo.catalog import ACCOUNTS as DEMO_ACCOUNTS
from warehouse.demo.catalog import TEAMS as DEMO_TEAMS


@pytest.fixture(scope="module")
def suite_run() -> QuestionRun:
    return run_questions("offline")


def test_suite_shape() -> None:
    selected = load_questions()
    assert len(selected) >= 150
    per_dataset = Counter(s.dataset for s in selected)
    assert len(per_dataset) >= 3 and min(per_dataset.values()) >= 40, per_dataset
    holdout = sum(s.split == "holdout" for s in selected) / len(selected)
    assert 0.2 <= holdout <= 0.3, holdout
    assert {s.question.kind for s in selected} == set(KINDS)
    assert sum(s.question.expect == "clarify" for s in selected) >= 20
    assert sum(len(s.question.messages) > 1 for s in selected) >= 10


def test_datasets_are_not_the_demo_company() -> None:
    demo_names = {name for _, name, _ in DEMO_ACCOUNTS.values()}
    assert not set(ACCOUNTS) & demo_names
    teams: set[str] = set()
    for sel in load_questions(dataset="granite"):
        value = sel.question.truth.where.get("team", []) if sel.question.truth else []
        teams |= {value} if isinstance(value, str) else set(value)
    assert teams and not teams & set(DEMO_TEAMS)


@pytest.mark.parametrize("name", list(DATASETS))
def test_truths_discriminate(name: str, tmp_path: Path) -> None:
    """A figure truth is non-zero (but for charge words, where none is an answer), differs from
    the unfiltered total when the question filters, and a ranking has no tie at its cut."""
    ds = DATASETS[name]
    con = truth_connection(ds, ds.files(tmp_path))
    problems = []
    for sel in load_questions(dataset=name):
        q, e = sel.question, compute(con, sel.question)
        t = q.truth
        if t is None:
            continue
        if q.expect == "total" and e.value is not None:
            if abs(e.value) < Decimal("0.05") and q.kind != "charge":
                problems.append(f"{q.id}: truth {e.value} too small to tell answers apart")
            if t.where or t.exclude or t.metric != "billed":
                sql = f"SELECT sum(billed) FROM bill WHERE {where_sql(t, t.period, filters=False)}"
                unfiltered = Decimal(str(con.execute(sql).fetchone()[0]))  # type: ignore[index]
                if abs(unfiltered - e.value) < Decimal("0.02"):
                    problems.append(f"{q.id}: truth equals the unfiltered total")
        if q.expect in ("top", "growth"):
            n = e.top or 1
            key = [r.delta if q.expect == "growth" else r.value for r in e.rows]
            gaps = [abs(a - b) for a, b in itertools.pairwise(key[: n + 1])]
            if len(key) < n or any(g < Decimal("0.02") for g in gaps):
                problems.append(f"{q.id}: fewer than {n} groups or a tie within the top {n}")
        if q.expect == "rows" and not e.rows:
            problems.append(f"{q.id}: no groups")
    con.close()
    assert not problems, problems


def test_regression_gate(suite_run: QuestionRun) -> None:
    """No question correct in the baseline is lost, and `wrong` answers do not rise."""
    base = load_baseline()
    assert not gate(suite_run, base), gate(suite_run, base)
    missing = {o.id for o in suite_run.outcomes} - set(base.outcomes)
    assert not missing, f"questions without a baseline outcome (refresh it): {sorted(missing)}"


def test_scorecard_counts(suite_run: QuestionRun) -> None:
    total = tallies(suite_run.outcomes, lambda o: o.dataset)[-1]
    assert total.group == "all" and total.questions == len(suite_run.outcomes)
    assert total.correct + total.clarified + total.wrong == total.questions


def test_cli_runs_one_dataset_split(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "eval", "--suite", "questions", "--dataset", "focus-sample", "--split", "holdout",
        "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    doc = result.json()
    assert {o["split"] for o in doc["outcomes"]} == {"holdout"}
    assert {o["dataset"] for o in doc["outcomes"]} == {"focus-sample"}


def test_gate_flags_lost_answers_and_more_wrong_ones(tmp_path: Path) -> None:
    def run(**outcomes: str) -> QuestionRun:
        common = {"dataset": "granite", "split": "tuning", "kind": "total", "expect": "total"}
        items = [
            QuestionOutcome.model_validate(
                {
                    "id": qid,
                    "outcome": outcome,
                    "detail": "",
                    "messages": ["?"],
                    "truth": "",
                    "answer_head": "",
                    "understood": True,
                    **common,
                }
            )
            for qid, outcome in outcomes.items()
        ]
        return QuestionRun(model="offline", started_at=utc_now(), seconds=0.0, outcomes=items)

    base = write_baseline(run(a="correct", b="wrong", c="clarified"), tmp_path / "b.json")
    assert load_baseline(tmp_path / "b.json") == base and base.wrong == 1
    assert gate(run(a="correct", b="clarified", c="correct"), base) == []
    lost = gate(run(a="clarified", b="wrong", c="clarified"), base)
    assert len(lost) == 1 and lost[0].startswith("a: was correct")
    worse = gate(run(a="correct", b="wrong", c="wrong"), base)
    assert len(worse) == 1 and "from 1 to 2" in worse[0]
