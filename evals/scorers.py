"""Deterministic scorers: figures, tool calls, ledger state, executions, audit, cost and caps.

Figures are checked against a reference query over the raw rows (not through the agent's own
query layer), so a wrong filter or period in the tools shows up as a failed scenario.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
from pydantic import BaseModel

from agent.runtime.runner import AskResult, Runtime
from evals.schema import Scenario

__all__ = ["Check", "Observed", "numbers_in", "score"]

_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")


class Check(BaseModel):
    name: str
    ok: bool
    detail: str = ""


def numbers_in(text: str) -> list[Decimal]:
    """Every number written in a text (`USD 17,318.75` → 17318.75)."""
    out = []
    for match in _NUMBER.findall(text):
        try:
            out.append(Decimal(match.replace(",", "")))
        except InvalidOperation:
            continue
    return out


@dataclass
class Observed:
    """What a run did, read back from the runtime's ledger, audit log and warehouse."""

    answer: str
    tools: list[str]
    proposals: list[str]
    actions: list[str]
    decisions: list[str]
    executions: int
    audit_ok: bool
    stopped: str | None
    cost: Decimal
    model_calls: int
    warehouse: Path

    @classmethod
    def collect(
        cls, rt: Runtime, results: Sequence[AskResult], decisions: list[str], home: Path
    ) -> Observed:
        proposals = [p for r in results for p in r.proposals]
        return cls(
            answer="\n\n".join(r.answer for r in results),
            tools=[c.name for r in results for c in r.tool_calls],
            proposals=proposals,
            actions=[rt.ledger.get(p).action for p in proposals],
            decisions=decisions,
            executions=len(rt.audit.entries(kind="execution")),
            audit_ok=rt.audit.verify().ok,
            stopped=results[-1].stopped,
            cost=sum((r.usage.cost_usd for r in results), Decimal(0)),
            model_calls=max((r.usage.model_calls for r in results), default=0),
            warehouse=home / "warehouse.duckdb",
        )


def _truth(path: Path, sql: str) -> Decimal:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        raise ValueError(f"reference query returned nothing: {sql}")
    return Decimal(str(row[0]))


def score(scenario: Scenario, seen: Observed) -> list[Check]:
    """Every expectation of the scenario as a pass/fail check with its evidence."""
    e = scenario.expect
    checks: list[Check] = []
    found = numbers_in(seen.answer)
    for fig in e.figures:
        truth = _truth(seen.warehouse, fig.sql)
        ok = any(abs(n - truth) <= fig.tolerance for n in found)
        checks.append(
            Check(name=f"figure {fig.label or fig.sql[:60]}", ok=ok, detail=f"expected {truth}")
        )
    for tool in e.tools:
        # `a|b`: either tool answers it (e.g. the structured spend_query or spend_breakdown)
        ok = any(t in seen.tools for t in tool.split("|"))
        checks.append(Check(name=f"calls {tool}", ok=ok, detail=str(seen.tools)))
    for tool in e.no_tools:
        checks.append(
            Check(name=f"never {tool}", ok=tool not in seen.tools, detail=str(seen.tools))
        )
    lower = seen.answer.lower()
    for text in e.answer_contains:
        checks.append(Check(name=f"says {text!r}", ok=text.lower() in lower))
    for text in e.answer_not_contains:
        checks.append(Check(name=f"never says {text!r}", ok=text.lower() not in lower))
    if e.proposals is not None:
        checks.append(
            Check(
                name=f"{e.proposals} proposal(s)",
                ok=len(seen.proposals) == e.proposals,
                detail=str(seen.proposals),
            )
        )
    if e.proposal_action is not None:
        checks.append(
            Check(
                name=f"proposes {e.proposal_action}",
                ok=bool(seen.actions) and all(a == e.proposal_action for a in seen.actions),
                detail=str(seen.actions),
            )
        )
    for step, outcome in zip(scenario.approvals, seen.decisions, strict=False):
        checks.append(
            Check(name=f"{step.decision} by {step.by} → {step.expect}", ok=outcome == step.expect)
        )
    checks.append(
        Check(
            name=f"{e.executions} execution(s)",
            ok=seen.executions == e.executions,
            detail=f"{seen.executions} executed",
        )
    )
    checks.append(Check(name="audit chain verifies", ok=seen.audit_ok))
    if e.stopped is not None:
        checks.append(Check(name=f"stops on {e.stopped}", ok=seen.stopped == e.stopped))
    checks.append(
        Check(
            name=f"cost ≤ USD {e.max_cost_usd}",
            ok=seen.cost <= e.max_cost_usd,
            detail=str(seen.cost),
        )
    )
    checks.append(
        Check(
            name=f"≤ {e.max_model_calls} model calls",
            ok=seen.model_calls <= e.max_model_calls,
            detail=str(seen.model_calls),
        )
    )
    return checks
