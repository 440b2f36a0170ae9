"""The offline planner's optimization intents: which questions map to which findings."""

from __future__ import annotations

import pytest

from agent.offline.optimize import OPTIMIZE_RENDERERS, plan_optimize


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("find idle EC2 instances and propose stopping them", "idle"),
        ("any unattached volumes?", "idle"),
        ("which instances are oversized?", "rightsize"),
        ("what should we rightsize?", "rightsize"),
        ("should we buy a Savings Plan?", "commitment"),
        ("where can we save?", None),
    ],
)
def test_savings_questions_call_optimization_findings(question: str, kind: str | None) -> None:
    plan = plan_optimize(question)
    assert plan is not None and plan.tool == "optimization_findings"
    assert plan.args.get("kind") == kind


@pytest.mark.parametrize(
    "question", ["what did we spend on AWS last month?", "top movers last week", "budget status"]
)
def test_other_questions_are_not_optimization(question: str) -> None:
    assert plan_optimize(question) is None


def test_answer_shows_saving_rule_evidence_owner_and_protected() -> None:
    finding = {
        "id": "opt-1",
        "kind": "idle",
        "rule": "ec2_low_utilization",
        "action": "stop_instance",
        "resource_id": "i-1",
        "resource_name": "old-batch",
        "owner": "payments",
        "saving": {"monthly": "140.16", "source": "bills"},
        "evidence": [
            {"metric": "cpu_percent", "statistic": "daily mean", "value": 1.2, "unit": "%",
             "threshold": "≤ 10%"},
        ],
    }  # fmt: skip
    data = {
        "currency": "USD",
        "kinds": ["idle"],
        "bills_since": "2026-10-29",
        "bills_until": "2026-11-27",
        "utilization_until": "2026-11-27",
        "findings": [finding],
        "findings_total": 1,
        "skipped_protected": [{"resource_id": "i-2", "resource_name": "finance-close"}],
    }
    text = OPTIMIZE_RENDERERS["optimization_findings"](data, None)
    assert "bills 2026-10-29..2026-11-27" in text and "USD 140.16/month (bills)" in text
    assert "rule ec2_low_utilization" in text and "cpu_percent daily mean 1.20%" in text
    assert "owner payments" in text and "never proposed: finance-close" in text
    empty = OPTIMIZE_RENDERERS["optimization_findings"](data | {"findings": []}, None)
    assert empty.endswith("none found.")


@pytest.mark.parametrize(
    ("question", "by"),
    [
        ("how much did we actually save, by team?", "owner"),
        ("did our savings materialize?", "owner"),
        ("realized savings by month", "month"),
    ],
)
def test_realized_savings_questions_call_savings_report(question: str, by: str) -> None:
    plan = plan_optimize(question)
    assert plan is not None and plan.tool == "savings_report" and plan.args == {"by": by}


def test_savings_answer_keeps_estimated_and_measured_apart() -> None:
    group = {
        "key": "payments",
        "resources": 2,
        "proposals": 1,
        "statuses": {"measured": 1, "measuring": 1},
        "estimated_monthly": "300.00",
        "estimated_of_measured": "140.16",
        "measured_monthly": "131.10",
        "realized": "43.70",
    }
    data = {
        "currency": "USD",
        "metric": "effective",
        "baseline_days": 14,
        "min_post_days": 3,
        "as_of": "2026-11-29T00:00:00",
        "groups": [group],
        "total": group | {"key": "total"},
    }
    text = OPTIMIZE_RENDERERS["savings_report"](data, None)
    assert "measured USD 131.10/month against USD 140.16/month estimated" in text
    assert "USD 43.70 saved so far" in text and "1 measured, 1 measuring" in text
    empty = data | {"total": group | {"resources": 0}, "groups": []}
    answer = OPTIMIZE_RENDERERS["savings_report"](empty, None)
    assert answer.endswith("no executed saving action yet.")
