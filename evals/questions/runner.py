"""Running the question suite: each dataset loaded once as a user would, every question asked
through the real runtime (as `evals/runner.py` runs scenarios), and scored against its truth."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from agent.context import AppContext
from agent.runtime.runner import Runtime
from evals.questions.datasets import DATASETS, Dataset, build_home, truth_connection
from evals.questions.schema import Question, QuestionFile
from evals.questions.scorer import Outcome, Verdict, score_answer
from evals.questions.truth import Expected, compute
from warehouse.clock import utc_now
from warehouse.errors import ConfigError, FinopsError

__all__ = [
    "QUESTIONS",
    "SPLITS",
    "QuestionOutcome",
    "QuestionRun",
    "Selected",
    "load_questions",
    "run_questions",
]

QUESTIONS = Path(__file__).resolve().parent
SPLITS = ("tuning", "holdout", "fresh")
"""`tuning`: the questions a change may be developed against; `holdout`: measured, never tuned;
`fresh`: written after tuning and run once, to measure generality again."""
Progress = Callable[[str], None]


class Selected(BaseModel):
    """A question with where it comes from."""

    split: str
    dataset: str
    question: Question


def load_questions(
    folder: Path = QUESTIONS, *, dataset: str | None = None, split: str | None = None
) -> list[Selected]:
    """Every question of `<split>/<dataset>.yaml`, optionally only one dataset or split."""
    if dataset is not None and dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if split is not None and split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    out: list[Selected] = []
    seen: set[str] = set()
    for part in SPLITS:
        for path in sorted((folder / part).glob("*.yaml")):
            try:
                doc = QuestionFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            except (yaml.YAMLError, ValidationError) as exc:
                raise ConfigError(f"{part}/{path.name}: invalid question file: {exc}") from None
            if doc.dataset not in DATASETS:
                raise ConfigError(f"{part}/{path.name}: unknown dataset {doc.dataset!r}")
            for q in doc.questions:
                if q.id in seen:
                    raise ConfigError(f"{part}/{path.name}: duplicate question id {q.id}")
                seen.add(q.id)
                if (dataset or doc.dataset) == doc.dataset and (split or part) == part:
                    out.append(Selected(split=part, dataset=doc.dataset, question=q))
    return out


class QuestionOutcome(BaseModel):
    """One question's result: the verdict, the truth in short, and the answer's first lines."""

    id: str
    dataset: str
    split: str
    kind: str
    expect: str
    outcome: Outcome
    detail: str
    messages: list[str]
    truth: str
    answer_head: str
    understood: bool
    tools: list[str] = Field(default_factory=list)
    latency_s: float = 0.0


class QuestionRun(BaseModel):
    """A whole run of the question suite on one model."""

    model: str
    started_at: datetime
    seconds: float
    outcomes: list[QuestionOutcome]


def _head(answer: str, lines: int = 3) -> str:
    return "\n".join([ln for ln in answer.strip().splitlines() if ln.strip()][:lines])


def _ask(rt: Runtime, q: Question, model: str) -> tuple[str, list[str]]:
    thread: str | None = None
    answer, tools = "", []
    for message in q.messages:
        result = rt.ask(message, thread_id=thread, model=model)
        thread = result.thread_id
        answer = result.answer
        tools = [c.name for c in result.tool_calls]
    return answer, tools


def _run_one(rt: Runtime, sel: Selected, expected: Expected, model: str) -> QuestionOutcome:
    q = sel.question
    started = time.perf_counter()
    try:
        answer, tools = _ask(rt, q, model)
        verdict = score_answer(q, expected, answer)
    except FinopsError as exc:
        answer, tools = f"error: {exc}", []
        verdict = Verdict("clarified", f"error: {exc}"[:200])
    return QuestionOutcome(
        id=q.id,
        dataset=sel.dataset,
        split=sel.split,
        kind=q.kind,
        expect=q.expect,
        outcome=verdict.outcome,
        detail=verdict.detail,
        messages=q.messages,
        truth=expected.describe(),
        answer_head=_head(answer),
        understood=answer.lstrip().startswith("Understood:"),
        tools=tools,
        latency_s=round(time.perf_counter() - started, 3),
    )


def _fixed(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def _run_dataset(
    ds: Dataset,
    selected: list[Selected],
    workdir: Path,
    model: str,
    env: Mapping[str, str],
    on_progress: Progress | None,
) -> list[QuestionOutcome]:
    if on_progress:
        on_progress(f"{ds.name}: loading")
    home, files = build_home(ds, workdir / ds.name)
    con = truth_connection(ds, files)
    try:
        expected = {s.question.id: compute(con, s.question) for s in selected}
    finally:
        con.close()
    out: list[QuestionOutcome] = []
    for which, now in (("now", ds.now), ("later", ds.later)):
        batch = [s for s in selected if s.question.clock == which]
        if not batch:
            continue
        rt = Runtime(AppContext.create(home), clock=_fixed(now), environ=env)
        try:
            for sel in batch:
                if on_progress:
                    on_progress(f"{ds.name}: [{len(out) + 1}/{len(selected)}] {sel.question.id}")
                out.append(_run_one(rt, sel, expected[sel.question.id], model))
        finally:
            rt.close()
    return out


def run_questions(
    model: str = "offline",
    *,
    dataset: str | None = None,
    split: str | None = None,
    workdir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    on_progress: Progress | None = None,
) -> QuestionRun:
    """Ask every selected question on its dataset; homes are built once under `workdir`
    (a temporary folder, removed afterwards, when none is given)."""
    selected = load_questions(dataset=dataset, split=split)
    if not selected:
        raise ConfigError("no question matches the selection")
    root = workdir or Path(tempfile.mkdtemp(prefix="finops-questions-"))
    env = dict(os.environ if environ is None else environ)
    started_at, started = utc_now(), time.perf_counter()
    outcomes: list[QuestionOutcome] = []
    try:
        for name, ds in DATASETS.items():
            mine = [s for s in selected if s.dataset == name]
            if mine:
                outcomes += _run_dataset(ds, mine, root, model, env, on_progress)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    order = {s.question.id: i for i, s in enumerate(selected)}
    outcomes.sort(key=lambda o: order[o.id])
    return QuestionRun(
        model=model,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 1),
        outcomes=outcomes,
    )
