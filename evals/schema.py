"""Scenario files (`evals/scenarios/*.yaml`), validated strictly.

A scenario names a dataset, an input (one message, or a conversation on one thread, optionally
followed by approval steps), and expectations that deterministic scorers check: figures in the
answer (computed independently by a reference SQL query over the raw rows), tools that must or
must not be called, proposals that must or must not exist, that nothing executed without
approval, the audit chain, and cost and model-call caps. Scenarios that need a capability a model
does not have yet (e.g. the offline planner and anomaly triage) declare it in `unsupported`, and
are reported as unsupported, not failed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from warehouse.settings import Strict

__all__ = ["Approval", "Expect", "Figure", "Scenario", "ScenarioFile"]


class Figure(Strict):
    """A number that must appear in the answer: the reference query's single value."""

    sql: str = Field(description="A SELECT over `costs` returning one number (the truth).")
    tolerance: Decimal = Field(default=Decimal("0.01"), ge=0, description="Absolute, in units.")
    label: str | None = None


class Approval(Strict):
    """A decision taken after the chat turns, through the ledger (as a person would)."""

    by: str
    decision: Literal["approve", "reject"] = "approve"
    proposal: int = Field(default=0, ge=0, description="Index among the run's proposals.")
    expect: str = Field(default="done", description="done, rejected, refused, pending, failed…")


class Expect(Strict):
    figures: list[Figure] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list, description="Must all be called.")
    no_tools: list[str] = Field(default_factory=list, description="Must not be called.")
    answer_contains: list[str] = Field(default_factory=list)
    answer_not_contains: list[str] = Field(default_factory=list)
    proposals: int | None = Field(default=None, ge=0, description="Exact count created.")
    proposal_action: str | None = None
    executions: int = Field(default=0, ge=0, description="Executions expected after approvals.")
    stopped: str | None = Field(default=None, description="Expected budget stop reason.")
    max_cost_usd: Decimal = Field(default=Decimal("0.50"), ge=0)
    max_model_calls: int = Field(default=12, ge=1)


class Scenario(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{2,80}$")
    description: str = ""
    dataset: Literal["demo"] = "demo"
    messages: list[str] = Field(min_length=1, description="User turns on one thread.")
    approvals: list[Approval] = Field(default_factory=list)
    config: dict[str, Any] = Field(
        default_factory=dict, description="finops.yaml keys overriding the demo config."
    )
    plant_tag: str | None = Field(
        default=None, description="Text planted in a cost row's tag before the run."
    )
    plant_ticket: str | None = Field(
        default=None,
        description="A pending ticket proposal (opened by someone else) whose title carries "
        "this text, made before the run.",
    )
    unsupported: list[str] = Field(
        default_factory=list, description="Model kinds (offline, anthropic, openai) that cannot."
    )
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _approvals_need_proposals(self) -> Scenario:
        if self.approvals and self.expect.proposals == 0:
            raise ValueError(f"{self.id}: approvals listed but expect.proposals is 0")
        return self


class ScenarioFile(Strict):
    family: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,40}$")
    description: str = ""
    scenarios: list[Scenario] = Field(min_length=1)
