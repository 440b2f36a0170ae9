"""`finops eval --suite questions`: run the question suite, print its scorecard, gate it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agent.cli.render import err_console, out_console, print_json, table
from evals.questions.answer import REFUSAL_PREFIXES
from evals.questions.runner import QuestionRun, run_questions
from evals.questions.scorecard import Tally, gate, load_baseline, tallies, write_baseline
from warehouse.errors import ConfigError

__all__ = ["question_suite", "render_scorecard"]

_HEAD = ["", "n", "correct", "clarif.", "wrong", "corr.%", "clar.%", "wrong%"]


def _rows(items: list[Tally]) -> list[list[str]]:
    return [
        [
            t.group,
            str(t.questions),
            str(t.correct),
            str(t.clarified),
            str(t.wrong),
            f"{t.correct_rate}%",
            f"{t.clarified_rate}%",
            f"{t.wrong_rate}%",
        ]
        for t in items
    ]


def render_scorecard(run: QuestionRun) -> None:
    """Tables per dataset and split, per kind (each split), then every wrong answer."""
    o = run.outcomes
    right = tuple(range(1, len(_HEAD)))
    by_dataset = tallies(o, lambda x: f"{x.dataset} / {x.split}", total=False)
    splits = tallies(o, lambda x: f"all / {x.split}")
    title = f"Question suite, model {run.model} ({len(o)} questions, {run.seconds:.0f} s)"
    out_console.print(
        table(title, ["dataset / split", *_HEAD[1:]], _rows(by_dataset + splits), right=right)
    )
    for split in ("tuning", "holdout", "fresh"):
        mine = [x for x in o if x.split == split]
        if mine:
            kinds = tallies(mine, lambda x: x.kind)
            out_console.print(
                table(f"By kind, {split}", ["kind", *_HEAD[1:]], _rows(kinds), right=right)
            )
    bare = [x.id for x in o if not x.understood and not x.answer_head.startswith(REFUSAL_PREFIXES)]
    if bare:
        more = " …" if len(bare) > 8 else ""
        out_console.print(
            f"{len(bare)} answer(s) neither `Understood:` nor `Not answered:`: "
            f"{', '.join(bare[:8])}{more}",
            markup=False,
            soft_wrap=True,
        )
    for x in o:
        if x.outcome == "wrong":
            head = " | ".join(x.answer_head.splitlines()[:2])
            out_console.print(
                f"WRONG {x.id} ({x.split}): {x.messages[-1]!r} → {x.detail}\n    {head[:300]}",
                markup=False,
                soft_wrap=True,
            )


def question_suite(
    model: str,
    dataset: str | None,
    split: str | None,
    out: Path | None,
    as_json: bool,
    refresh_baseline: bool,
) -> None:
    """Run, save, print; exit 1 when the run is worse than the committed baseline."""
    with err_console.status("running the question suite", spinner="dots") as status:
        run = run_questions(
            model,
            dataset=dataset,
            split=split,
            on_progress=None if as_json else lambda s: status.update(s),
        )
    if out is not None:
        try:
            out.write_text(run.model_dump_json(indent=2))
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc}") from None
    if refresh_baseline:
        if dataset or split:
            raise ConfigError("--write-baseline needs the whole suite (no --dataset / --split)")
        write_baseline(run)
    if as_json:
        print_json(json.loads(run.model_dump_json()))
    else:
        render_scorecard(run)
    problems = gate(run, load_baseline())
    for problem in problems:
        err_console.print(f"regression: {problem}", markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
