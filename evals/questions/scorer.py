"""Scoring one answer: correct, clarified, or wrong — strict and simple.

* `clarified`: the first line is a clarification/refusal (`Not answered:`). Never wrong; it is
  `correct` for a question that must be clarified, and for a typo question (`accept_clarify`)
  when the clarification names the closest value.
* `correct`: the figures match the truth — money within 0.01 (relative 1e-6 for large sums),
  shares within 0.1 percentage point, unit costs within 0.5%; rankings list the right labels in
  order with their figures; a breakdown's rows each match a group of the truth and leave out
  only what an `(other)` row sums up (or groups worth 0.00).
* `wrong`: any other figure answer — including one to a question that must be clarified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from evals.questions.answer import AnswerRow, ParsedAnswer, normalize_label, parse_answer
from evals.questions.schema import Question
from evals.questions.truth import Expected, TruthRow

__all__ = ["Verdict", "close", "score_answer"]

Outcome = Literal["correct", "clarified", "wrong"]
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    detail: str


def close(answer: Decimal, truth: Decimal) -> bool:
    """Money equality: within a cent, or a relative 1e-6 for large sums."""
    return abs(answer - truth) <= max(_CENT, abs(truth) * Decimal("1e-6"))


def _fmt(value: Decimal | None) -> str:
    return "none" if value is None else f"{value:,.2f}"


def _matches(row: AnswerRow, truth: TruthRow) -> bool:
    label = normalize_label(row.label)
    spellings = {normalize_label(s) for s in truth.labels}
    if label in spellings:
        return True
    if label.endswith(")") and "(" in label:  # "Amazon EC2 (AmazonEC2)", "123 (prod)"
        return label[: label.rindex("(")].strip() in spellings
    return False


def _find(row: AnswerRow, rows: Iterable[TruthRow]) -> TruthRow | None:
    return next((t for t in rows if _matches(row, t)), None)


def _scalar(found: Decimal | None, what: str, e: Expected, tolerance: Decimal | None) -> Verdict:
    assert e.value is not None
    if found is None:
        return Verdict("wrong", f"no `{what}` line; expected {_fmt(e.value)}")
    ok = close(found, e.value) if tolerance is None else abs(found - e.value) <= tolerance
    detail = f"{what} {found} vs truth {e.value:.4f}"
    return Verdict("correct" if ok else "wrong", detail)


def _total_ok(p: ParsedAnswer, e: Expected) -> str | None:
    if p.total is not None and e.total is not None and not close(p.total, e.total):
        return f"Total {_fmt(p.total)} vs truth {_fmt(e.total)}"
    return None


def _score_rows(p: ParsedAnswer, e: Expected) -> Verdict:
    """A full breakdown: every shown row right, nothing non-zero missing but `(other)`."""
    if not p.ranked:
        return Verdict("wrong", "no `- label: amount` rows")
    shown: set[int] = set()
    for row in p.ranked:
        truth = _find(row, e.rows)
        if truth is None and any(t.null for t in e.rows):
            truth = next(t for t in e.rows if t.null)  # "(none)", "(untagged)", …
        if truth is None:
            return Verdict("wrong", f"row {row.label!r} is not a group of the truth")
        amount = row.amounts[0] if row.amounts else None
        if id(truth) in shown or amount is None or not close(amount, truth.value):
            return Verdict(
                "wrong", f"row {row.label!r} {_fmt(amount)} vs truth {_fmt(truth.value)}"
            )
        shown.add(id(truth))
    rest = [t for t in e.rows if id(t) not in shown]
    rest_sum = sum((t.value for t in rest), Decimal(0))
    if p.other is not None and not close(p.other, rest_sum):
        return Verdict("wrong", f"(other) {_fmt(p.other)} vs truth {_fmt(rest_sum)}")
    if p.other is None and any(not close(t.value, Decimal(0)) for t in rest):
        missing = [t.label for t in rest if not close(t.value, Decimal(0))]
        return Verdict("wrong", f"missing rows: {', '.join(missing[:4])}")
    bad_total = _total_ok(p, e)
    if bad_total:
        return Verdict("wrong", bad_total)
    return Verdict("correct", f"{len(shown)} rows match")


def _score_ranked(p: ParsedAnswer, e: Expected, growth: bool) -> Verdict:
    """The top N labels in order, each with its figure (growth: current and previous)."""
    n = e.top or 1
    want = e.rows[:n]
    got = p.ranked[:n]
    if len(got) < len(want):
        return Verdict("wrong", f"{len(got)} ranked row(s), expected {len(want)}")
    for i, (row, truth) in enumerate(zip(got, want, strict=False), 1):
        if not _matches(row, truth):
            return Verdict("wrong", f"#{i} is {row.label!r}, truth {truth.label!r}")
        figures = [truth.value, truth.previous] if growth else [truth.value]
        if len(row.amounts) < len(figures) or not all(
            close(a, f) for a, f in zip(row.amounts, figures, strict=False)
        ):
            shown = ", ".join(_fmt(a) for a in row.amounts)
            wanted = ", ".join(_fmt(f) for f in figures)
            return Verdict("wrong", f"#{i} {truth.label!r}: {shown} vs truth {wanted}")
    bad_total = None if growth else _total_ok(p, e)
    if bad_total:
        return Verdict("wrong", bad_total)
    return Verdict("correct", f"top {len(want)} match")


def _clarified(q: Question, answer: str) -> Verdict:
    first = answer.strip().splitlines()[0] if answer.strip() else ""
    if q.expect == "clarify":
        return Verdict("correct", f"clarified: {first[:80]}")
    if q.accept_clarify and q.closest and q.closest.casefold() in answer.casefold():
        return Verdict("correct", f"clarified with the closest value {q.closest!r}")
    return Verdict("clarified", first[:120])


def score_answer(q: Question, expected: Expected, answer: str) -> Verdict:
    """Score the final answer of a question (or thread) against its expected figures."""
    p = parse_answer(answer)
    if p.refusal:
        return _clarified(q, answer)
    if q.expect == "clarify":
        return Verdict("wrong", "answered a question that must be clarified")
    if q.expect == "total":
        return _scalar(p.total, "Total", expected, None)
    if q.expect == "share":
        return _scalar(p.share, "Share", expected, Decimal("0.1"))
    if q.expect == "unit":
        assert expected.value is not None
        return _scalar(p.unit, "Unit cost", expected, abs(expected.value) * Decimal("0.005"))
    if q.expect == "rows":
        return _score_rows(p, expected)
    return _score_ranked(p, expected, growth=q.expect == "growth")
