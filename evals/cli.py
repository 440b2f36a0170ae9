"""`finops eval`: run the scenario suite (or, with `--suite questions`, the question suite on
unseen bills), print the scorecard, save and compare results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.render import err_console, out_console, print_json, table
from evals.runner import per_call_line
from evals.suite import EvalRun, compare, run_suite
from warehouse.errors import ConfigError
from warehouse.format import percent

__all__ = ["register"]


def _print(run: EvalRun) -> None:
    rows = [
        [
            f.family,
            str(f.scenarios),
            f"{f.passed}/{f.passed + f.failed}",
            str(f.unsupported + f.skipped),
            percent(f.pass_rate * 100) if f.pass_rate is not None else "n/a",
            f"{f.mean_cost_usd:.4f}",
            f"{f.mean_tokens:.0f}",
            f"{f.mean_model_calls:.1f}",
            f"{f.mean_latency_s:.2f}",
        ]
        for f in run.families
    ]
    head = ["family", "n", "passed", "unsupp.", "rate", "USD/run", "tokens", "calls", "s"]
    out_console.print(
        table(f"Eval scorecard, model {run.model}", head, rows, right=tuple(range(1, 9)))
    )
    if (line := per_call_line(run.outcomes)) is not None:
        out_console.print(line, markup=False)
    for o in run.outcomes:
        if o.status in ("fail", "error"):
            failed = "; ".join(f"{c.name} ({c.detail})" for c in o.checks if not c.ok)
            out_console.print(f"FAIL {o.scenario}: {o.note or failed}", markup=False)


def eval_command(
    model: Annotated[
        str, typer.Option("--model", help="offline, anthropic[:MODEL] or openai[:MODEL].")
    ] = "offline",
    scenario: Annotated[
        str, typer.Option("--scenario", help="Glob over scenario ids or families.")
    ] = "*",
    live: Annotated[
        bool, typer.Option("--live", help="Call the real API (key needed); records cassettes.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Save results as JSON here.")] = None,
    compare_with: Annotated[
        tuple[Path, Path] | None,
        typer.Option("--compare", help="Compare two saved result files A B.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    suite: Annotated[
        str, typer.Option("--suite", help="scenarios (the demo company) or questions.")
    ] = "scenarios",
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="questions: only this dataset.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="questions: only tuning, holdout or fresh.")
    ] = None,
    refresh_baseline: Annotated[
        bool,
        typer.Option(
            "--write-baseline",
            help="questions: save this run as evals/questions/baseline.json (deliberately).",
        ),
    ] = False,
) -> None:
    """Score the agent on the scenario suite (figures, tools, proposals, safety, cost) or on the
    question suite (correct / clarified / wrong on bills it has never seen)."""
    if suite == "questions":
        from evals.questions.cli import question_suite

        question_suite(model, dataset, split, out, as_json, refresh_baseline)
        return
    if suite != "scenarios":
        raise ConfigError(f"unknown suite {suite!r}; valid: scenarios, questions")
    if compare_with is not None:
        result = compare(*compare_with)
        if as_json:
            print_json(result)
        else:
            out_console.print(
                f"{result.b} vs {result.a}: {len(result.regressions)} regression(s) "
                f"{', '.join(result.regressions)}; {len(result.fixes)} fix(es) "
                f"{', '.join(result.fixes)}; cost delta USD {result.cost_delta_usd:.4f}",
                markup=False,
                soft_wrap=True,
            )
        if result.regressions:
            raise typer.Exit(1)
        return
    with err_console.status("running scenarios", spinner="dots") as status:
        run = run_suite(
            model,
            scenario,
            live=live,
            on_progress=None if as_json else lambda s: status.update(s),
        )
    if out is not None:
        try:
            out.write_text(run.model_dump_json(indent=2))
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc}") from None
    if as_json:
        print_json(json.loads(run.model_dump_json()))
    else:
        _print(run)
    if any(o.status in ("fail", "error") for o in run.outcomes):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
