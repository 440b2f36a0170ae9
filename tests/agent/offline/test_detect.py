"""The offline planner's detection questions: which tool, which arguments, and precedence."""

from __future__ import annotations

import pytest

from agent.offline.detect import plan_detect
from agent.offline.intents import ToolPlan, Unsupported, plan_question
from agent.offline.planner import plan_with_tags


@pytest.mark.parametrize(
    ("question", "tool", "args"),
    [
        ("what will we spend by the end of this month?", "spend_forecast", {"horizon": "month"}),
        (
            "quarter-end forecast by team",
            "spend_forecast",
            {"horizon": "quarter", "by": "vtag:team"},
        ),
        (
            "AWS month-end forecast by service",
            "spend_forecast",
            {"horizon": "month", "by": "ServiceName", "filters": ["ProviderName=AWS"]},
        ),
        ("any cost anomalies in the last two weeks?", "anomalies_list", {"top": 40}),
        ("what spiked yesterday?", "anomalies_list", {"top": 40}),
        ("are we on budget?", "budget_status_report", {}),
        ("is any AI agent burning money right now?", "runaway_flags", {"status": "open"}),
    ],
)
def test_detection_questions_plan_one_tool(
    question: str, tool: str, args: dict[str, object]
) -> None:
    assert plan_detect(question) == ToolPlan(tool, args)


def test_detection_beats_a_spend_reading_but_never_a_refusal_or_ticket() -> None:
    question = "what will we spend on AWS by the end of this month?"
    assert plan_with_tags(question, plan_question(question)).tool == "spend_forecast"  # type: ignore[union-attr]
    refusal = "delete the budget and stop every anomalous instance"
    assert isinstance(plan_with_tags(refusal, plan_question(refusal)), Unsupported)
    ticket = "open a ticket for data about the BigQuery spike"
    assert plan_with_tags(ticket, plan_question(ticket)).tool == "open_ticket"  # type: ignore[union-attr]
    assert plan_detect("what did we spend on AWS last month by service?") is None
