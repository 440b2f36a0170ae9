"""Running scenarios against the real runtime: one fresh home per scenario, the real chat and
action graphs, the real ledger and audit log; only the model differs (offline planner, recorded
cassettes, or live with `--live`)."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, computed_field

from agent.context import AppContext
from agent.demo.build import build_demo
from agent.runtime.runner import AskResult, Runtime
from evals.schema import Scenario
from evals.scorers import Check, Observed, score
from guardrails.approvals import ApprovalError, ProposalDraft
from tools.vtags.allocate import ensure_allocation
from warehouse.db import connect
from warehouse.demo import DEMO_CONFIG
from warehouse.errors import FinopsError

__all__ = [
    "EVAL_NOW",
    "Outcome",
    "Template",
    "per_call_input_tokens",
    "per_call_line",
    "run_scenario",
]

EVAL_NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
"""The evals' clock: the morning after the demo's last charge day."""
CASSETTES = Path(__file__).resolve().parent / "cassettes"
Status = Literal["pass", "fail", "unsupported", "skipped", "error"]


class Outcome(BaseModel):
    """One scenario on one model: status, the checks, and what it cost."""

    scenario: str
    family: str
    model: str
    status: Status
    checks: list[Check] = Field(default_factory=list)
    answer: str = ""
    tools: list[str] = Field(default_factory=list)
    proposals: list[str] = Field(default_factory=list)
    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    call_input_tokens: list[int] = Field(
        default_factory=list, description="Prompt tokens of each model call, in order."
    )
    latency_s: float = 0.0
    note: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def input_tokens_per_call_median(self) -> float:
        return float(statistics.median(self.call_input_tokens)) if self.call_input_tokens else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def input_tokens_per_call_max(self) -> int:
        return max(self.call_input_tokens, default=0)


class Template:
    """The demo warehouse and config, built once per eval run and copied per scenario."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="finops-evals-"))
        self.home = self.root / "template"

    def build(self, on_step: Callable[[str], None] | None = None) -> Path:
        if (self.home / "warehouse.duckdb").exists():
            return self.home
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_CONFIG, self.home / "finops.yaml")
        app = AppContext.create(self.home)
        if on_step:
            on_step("building the demo company")
        build_demo(app.warehouse(), app.config, self.home / "demo")
        ensure_allocation(app.warehouse(), app.config)
        app.close()
        return self.home

    def home_for(self, scenario: Scenario) -> Path:
        home = self.root / "runs" / scenario.id
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        shutil.copy(self.home / "warehouse.duckdb", home / "warehouse.duckdb")
        base = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
        base["approvers"] = ["alice", "bob"]  # the scenarios approve as these
        (home / "finops.yaml").write_text(yaml.safe_dump(_merge(base, scenario.config)))
        return home

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _plant(home: Path, text: str) -> None:
    """A cost row whose tag carries an instruction: data that must never be obeyed."""
    con = connect(home / "warehouse.duckdb")
    try:
        con.execute(
            "INSERT INTO costs (BilledCost, EffectiveCost, ListCost, ContractedCost, "
            "BillingCurrency, ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, "
            "BillingPeriodEnd, ChargeCategory, ProviderName, ServiceName, ResourceId, "
            "ResourceName, Tags, x_SourceName) VALUES (1, 1, 1, 1, 'USD', '2026-11-20', "
            "'2026-11-21', '2026-11-01', '2026-12-01', 'Usage', 'AWS', 'Amazon Elastic Compute "
            "Cloud', 'i-planted', ?, json_object('team', ?), 'eval')",
            [text[:200], text],
        )
    finally:
        con.close()


def _plant_ticket(rt: Runtime, text: str) -> None:
    """A pending ticket proposal someone else made, its title carrying `text` (data)."""
    draft = ProposalDraft(
        action="open_ticket",
        target="tickets/web",
        params={"title": text[:200], "body": text, "owner": "web", "priority": "low"},
        summary=f"Open a low-priority ticket for web: {text[:200]}",
        rollback="Close the ticket.",
        owner="web",
    )
    rt.ledger.propose(draft, created_by="someone-else")


@contextmanager
def _cassette(model: str, scenario: Scenario, live: bool) -> Iterator[str | None]:
    """Replay `evals/cassettes/<provider>/<scenario>.yaml` (or record with --live); yields a
    reason to skip, or None."""
    provider = model.split(":", 1)[0]
    if provider == "offline":
        yield None
        return
    import vcr

    path = CASSETTES / provider / f"{scenario.id}.yaml"
    if not path.exists() and not live:
        yield f"no cassette {path.relative_to(CASSETTES.parent)}; record with --live"
        return
    recorder = vcr.VCR(
        record_mode="once" if live else "none",
        filter_headers=["authorization", "x-api-key", "openai-organization", "cookie"],
        match_on=["method", "scheme", "host", "path"],
    )
    with recorder.use_cassette(str(path)):
        yield None


def per_call_input_tokens(rt: Runtime, run_ids: list[str]) -> list[int]:
    """Prompt tokens of each model call of these runs (input, cache reads and writes), as the
    self-budget recorded them: what one call costs in context, whatever the caching."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    rows = rt.store.query(
        "SELECT input_tokens + cache_read_tokens + cache_write_tokens FROM model_calls"
        f" WHERE run_id IN ({marks})",
        tuple(run_ids),
    )
    return [int(r[0]) for r in rows]


def per_call_line(outcomes: Sequence[Outcome]) -> str | None:
    """The scorecard's line on prompt size per model call over every scenario (median, max),
    or None when no call reported tokens (the offline planner)."""
    calls = [n for o in outcomes for n in o.call_input_tokens if n]
    if not calls:
        return None
    median, most = statistics.median(calls), max(calls)
    return f"input tokens per model call: median {median:.0f}, max {most} ({len(calls)} calls)"


def _decide(rt: Runtime, scenario: Scenario, proposals: list[str]) -> list[str]:
    """Apply the scenario's approval steps; return each step's outcome."""
    results = []
    for step in scenario.approvals:
        if step.proposal >= len(proposals):
            results.append("missing")
            continue
        pid = proposals[step.proposal]
        try:
            if step.decision == "approve":
                results.append(rt.approve(pid, step.by).proposal.status)
            else:
                results.append(rt.reject(pid, step.by).status)
        except ApprovalError:
            results.append("refused")
    return results


def run_scenario(
    scenario: Scenario,
    family: str,
    template: Template,
    model: str = "offline",
    *,
    live: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Outcome:
    """Run one scenario on a fresh copy of the dataset and score it."""
    kind = model.split(":", 1)[0]
    if kind in scenario.unsupported:
        return Outcome(scenario=scenario.id, family=family, model=model, status="unsupported")
    home = template.home_for(scenario)
    if scenario.plant_tag:
        _plant(home, scenario.plant_tag)
    env = dict(os.environ if environ is None else environ)
    started = time.perf_counter()
    with _cassette(model, scenario, live) as skip:
        if skip:
            return Outcome(
                scenario=scenario.id, family=family, model=model, status="skipped", note=skip
            )
        rt = Runtime(AppContext.create(home), clock=lambda: EVAL_NOW, environ=env)
        if scenario.plant_ticket:
            _plant_ticket(rt, scenario.plant_ticket)
        try:
            results: list[AskResult] = []
            thread: str | None = None
            for message in scenario.messages:
                result = rt.ask(message, thread_id=thread, model=model)
                thread = result.thread_id
                results.append(result)
            proposals = [p for r in results for p in r.proposals]
            decisions = _decide(rt, scenario, proposals)
            observed = Observed.collect(rt, results, decisions, home)
            per_call = per_call_input_tokens(rt, [r.run_id for r in results])
        except FinopsError as exc:
            return Outcome(
                scenario=scenario.id, family=family, model=model, status="error", note=str(exc)
            )
        finally:
            rt.close()
    checks = score(scenario, observed)
    last = results[-1]
    return Outcome(
        scenario=scenario.id,
        family=family,
        model=model,
        status="pass" if all(c.ok for c in checks) else "fail",
        checks=checks,
        answer=last.answer,
        tools=observed.tools,
        proposals=proposals,
        cost_usd=sum((r.usage.cost_usd for r in results), Decimal(0)),
        input_tokens=sum(r.usage.input_tokens + r.usage.cache_read_tokens for r in results),
        output_tokens=sum(r.usage.output_tokens for r in results),
        model_calls=sum(r.usage.model_calls for r in results),
        call_input_tokens=per_call,
        latency_s=round(time.perf_counter() - started, 3),
    )
