"""The question suite's scorecard (per dataset, kind and split), its baseline, and the gate."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from evals.questions.runner import QuestionOutcome, QuestionRun
from warehouse.errors import ConfigError

__all__ = [
    "BASELINE",
    "Baseline",
    "Tally",
    "gate",
    "load_baseline",
    "markdown",
    "tallies",
    "tally",
    "write_baseline",
]

BASELINE = Path(__file__).resolve().parent / "baseline.json"


class Tally(BaseModel):
    """Counts and rates of one group of questions."""

    group: str
    questions: int
    correct: int
    clarified: int
    wrong: int

    def rate(self, count: int) -> Decimal:
        if not self.questions:
            return Decimal(0)
        return (Decimal(100 * count) / self.questions).quantize(Decimal("0.1"))

    @property
    def correct_rate(self) -> Decimal:
        return self.rate(self.correct)

    @property
    def clarified_rate(self) -> Decimal:
        return self.rate(self.clarified)

    @property
    def wrong_rate(self) -> Decimal:
        return self.rate(self.wrong)


def tally(group: str, outcomes: Iterable[QuestionOutcome]) -> Tally:
    items = list(outcomes)
    return Tally(
        group=group,
        questions=len(items),
        correct=sum(o.outcome == "correct" for o in items),
        clarified=sum(o.outcome == "clarified" for o in items),
        wrong=sum(o.outcome == "wrong" for o in items),
    )


def tallies(
    outcomes: list[QuestionOutcome], key: Callable[[QuestionOutcome], str], *, total: bool = True
) -> list[Tally]:
    """One tally per distinct `key`, in first-seen order, then `all`."""
    groups: dict[str, list[QuestionOutcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o), []).append(o)
    out = [tally(name, items) for name, items in groups.items()]
    return [*out, tally("all", outcomes)] if total else out


class Baseline(BaseModel):
    """Per-question outcomes of a deliberate earlier run: the gate's reference."""

    model: str
    date: date
    wrong: int
    note: str = ""
    outcomes: dict[str, str]


def load_baseline(path: Path = BASELINE) -> Baseline:
    try:
        return Baseline.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the question baseline {path}: {exc}") from None


def write_baseline(run: QuestionRun, path: Path = BASELINE, note: str = "") -> Baseline:
    """Save the run as the new baseline (refresh deliberately, after reviewing the changes)."""
    base = Baseline(
        model=run.model,
        date=run.started_at.date(),
        wrong=sum(o.outcome == "wrong" for o in run.outcomes),
        note=note,
        outcomes={o.id: o.outcome for o in run.outcomes},
    )
    path.write_text(base.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return base


def gate(run: QuestionRun, base: Baseline) -> list[str]:
    """What got worse than the baseline, on the questions both contain: a question that was
    correct and is not any more, or more `wrong` answers than the baseline had."""
    problems = [
        f"{o.id}: was correct, now {o.outcome} ({o.detail})"
        for o in run.outcomes
        if base.outcomes.get(o.id) == "correct" and o.outcome != "correct"
    ]
    shared = [o for o in run.outcomes if o.id in base.outcomes]
    wrong_now = sum(o.outcome == "wrong" for o in shared)
    wrong_before = sum(base.outcomes[o.id] == "wrong" for o in shared)
    if wrong_now > wrong_before:
        newly = [o.id for o in shared if o.outcome == "wrong" and base.outcomes[o.id] != "wrong"]
        problems.append(
            f"wrong answers rose from {wrong_before} to {wrong_now}: {', '.join(newly[:10])}"
        )
    return problems


def _cells(t: Tally) -> list[str]:
    return [str(t.questions), str(t.correct), str(t.clarified), str(t.wrong)]


def markdown(run: QuestionRun) -> str:
    """The scorecard as two Markdown tables (per dataset and split; per kind and split), the
    form `evals/README.md` publishes."""
    o = run.outcomes
    lines = [
        "| dataset | split | questions | correct | clarified | wrong | correct % | wrong % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = [*tallies(o, lambda x: f"{x.dataset}|{x.split}", total=False)]
    groups += tallies(o, lambda x: f"**all**|{x.split}", total=False)
    groups.append(tally("**all**|both", o))
    for t in groups:
        dataset, split = t.group.split("|")
        cells = " | ".join(_cells(t))
        lines.append(f"| {dataset} | {split} | {cells} | {t.correct_rate}% | {t.wrong_rate}% |")
    lines += [
        "",
        "| kind | tuning | correct | clarified | wrong | holdout | correct | clarified | wrong |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in dict.fromkeys(x.kind for x in o):
        parts = [
            tally(kind, [x for x in o if x.kind == kind and x.split == split])
            for split in ("tuning", "holdout")
        ]
        lines.append(f"| {kind} | {' | '.join(_cells(parts[0]) + _cells(parts[1]))} |")
    return "\n".join(lines)
