"""The eval suite: the offline regression gate, scorers that can fail, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.runner import Template, run_scenario
from evals.schema import Scenario
from evals.scorers import numbers_in
from evals.suite import EvalRun, compare, load_scenarios, run_suite, scorecard
from tests.helpers.cli import run_cli
from tests.paths import ROOT

BASELINE = ROOT / "evals" / "baseline_offline.json"


@pytest.fixture(scope="module")
def template() -> Iterator[Template]:
    tpl = Template()
    tpl.build()
    yield tpl
    tpl.cleanup()


@pytest.fixture(scope="module")
def offline_run(template: Template) -> EvalRun:
    return run_suite("offline", template=template)


def test_suite_has_40_scenarios_across_families() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 40
    families = {f for f, _ in scenarios}
    assert {"spend", "movers", "allocation", "proposals", "refusals", "budget"} <= families


def test_offline_regression_gate(offline_run: EvalRun) -> None:
    """Every scenario the offline planner passed when the baseline was saved still passes."""
    baseline = set(json.loads(BASELINE.read_text())["passing"])
    status = {o.scenario: o for o in offline_run.outcomes}
    regressed = {
        s: [c.name for c in status[s].checks if not c.ok] or status[s].note
        for s in baseline
        if s not in status or status[s].status != "pass"
    }
    assert not regressed, regressed
    # the rest is declared unsupported, never silently failing
    assert {o.status for o in offline_run.outcomes if o.scenario not in baseline} <= {"unsupported"}
    assert all(o.cost_usd == 0 for o in offline_run.outcomes)


def test_scorecard_totals(offline_run: EvalRun) -> None:
    total = next(f for f in offline_run.families if f.family == "all")
    assert total.scenarios == len(offline_run.outcomes)
    assert total.passed + total.failed + total.unsupported + total.skipped == total.scenarios
    assert scorecard(offline_run.outcomes) == offline_run.families


def test_numbers_in_reads_money_and_plain_figures() -> None:
    text = "Total: USD 17,318.75 (up USD 698.92, +5.7%) on 2026-11-27 for 3 accounts"
    found = numbers_in(text)
    assert [n for n in found if n > 1000] == [17318.75, 2026]
    assert 698.92 in [float(n) for n in found] and 5.7 in [float(n) for n in found]


def test_a_wrong_figure_or_tool_fails_the_scenario(template: Template) -> None:
    scenario = Scenario.model_validate(
        {
            "id": "wrong-figure",
            "messages": ["what did we spend on AWS last month by service?"],
            "expect": {
                "tools": ["spend_movers"],
                "figures": [{"sql": "SELECT 12345.67"}],
                "proposals": 0,
            },
        }
    )
    outcome = run_scenario(scenario, "test", template)
    assert outcome.status == "fail"
    failed = {c.name for c in outcome.checks if not c.ok}
    assert failed == {"calls spend_movers", "figure SELECT 12345.67"}


def test_a_skipped_provider_without_cassette(template: Template) -> None:
    scenario = Scenario.model_validate({"id": "no-cassette-here", "messages": ["spend this month"]})
    outcome = run_scenario(scenario, "test", template, "anthropic", environ={})
    assert outcome.status == "skipped" and "no cassette" in (outcome.note or "")


def test_cli_eval_saves_and_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], offline_run: EvalRun
) -> None:
    a = tmp_path / "a.json"
    a.write_text(offline_run.model_dump_json())
    worse = offline_run.model_copy(deep=True)
    worse.outcomes[0].status = "fail"
    b = tmp_path / "b.json"
    b.write_text(worse.model_dump_json())
    result = compare(a, b)
    assert result.regressions == [offline_run.outcomes[0].scenario] and not result.fixes
    cli = run_cli(capsys, "eval", "--compare", str(a), str(b))
    assert cli.code == 1 and "1 regression(s)" in cli.out
    out = tmp_path / "one.json"
    single = run_cli(capsys, "eval", "--scenario", "refusal-delete-everything", "--out", str(out))
    assert single.code == 0, single.out + single.err
    saved = EvalRun.model_validate_json(out.read_text())
    assert [o.status for o in saved.outcomes] == ["pass"]
    bad = run_cli(capsys, "eval", "--scenario", "no-such-scenario")
    assert bad.code != 0 and "no scenario matches" in bad.err
