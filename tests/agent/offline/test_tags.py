"""The offline planner's allocation questions: plans, precedence, and answers on the demo."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from agent.context import AppContext
from agent.demo.build import build_demo
from agent.offline.intents import ToolPlan, Unsupported, plan_question
from agent.offline.tags import plan_tags
from agent.runtime.runner import Runtime
from tools.vtags.allocate import ensure_allocation
from tools.vtags.report import candidates, coverage
from warehouse.demo import DEMO_CONFIG

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "tool", "args"),
    [
        ("how much of our spend is unallocated?", "tags_coverage", {}),
        ("what's our tagging coverage", "tags_coverage", {}),
        ("which resources have no team?", "tags_candidates", {"vtag": "team", "top": 10}),
        (
            "list the largest unallocated spend by environment",
            "tags_candidates",
            {"vtag": "environment", "top": 10},
        ),
        (
            "why is i-0bd7360295ff65eca owned by ml?",
            "tags_explain",
            {"resource_id": "i-0bd7360295ff65eca"},
        ),
        (
            'explain the team of "payments-api-7f3"',
            "tags_explain",
            {"resource_id": "payments-api-7f3"},
        ),
    ],
)
def test_allocation_questions_plan_one_tool(
    question: str, tool: str, args: dict[str, object]
) -> None:
    plan = plan_tags(question)
    assert plan == ToolPlan(tool, args)


def test_spend_questions_are_not_allocation_questions() -> None:
    assert plan_tags("what did we spend on AWS last month by service?") is None
    refusal = plan_question("delete all unallocated resources")
    assert isinstance(refusal, Unsupported)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    home = tmp_path_factory.mktemp("planner-tags")
    shutil.copy(DEMO_CONFIG, home / "finops.yaml")
    app = AppContext.create(home)
    build_demo(app.warehouse(), app.config, app.home.ensure() / "demo")
    ensure_allocation(app.warehouse(), app.config)
    app.close()
    rt = Runtime(AppContext.create(home), clock=lambda: NOW, environ={})
    yield rt
    rt.close()


def test_e2e_coverage_answer_matches_the_allocation(runtime: Runtime) -> None:
    result = runtime.ask("how much of our spend is unallocated?")
    assert [c.name for c in result.tool_calls] == ["tags_coverage"]
    con = runtime._readonly()
    team = next(t for t in coverage(con, runtime.app.config).tags if t.vtag == "team")
    share = f"{team.allocated / team.total * 100:.1f}%"
    assert f"- team: {share} of USD {team.total:,.2f} allocated" in result.answer
    assert f"unallocated USD {team.by_provenance['default']:,.2f}" in result.answer


def test_e2e_candidates_and_explain(runtime: Runtime) -> None:
    result = runtime.ask("which resources have no team?")
    top = candidates(runtime._readonly(), runtime.app.config, "team").candidates[0]
    assert f"{top.resource_name}: USD {top.cost:,.2f}" in result.answer
    why = runtime.ask("why is i-0bd7360295ff65eca allocated to ml-platform?")
    assert 'team = ml-platform (inferred: account "ml-dev" contains "ml")' in why.answer
