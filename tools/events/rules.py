"""The burn-rate rules: which agents are running away right now, with the evidence.

- `spike`: the agent's spend over the last `window_minutes`, as an hourly rate, is at least
  `spike_ratio` × its hourly norm and the window spend is at least `min_window_usd`.
- `new_agent_rate`: an agent without a norm yet burns more than `new_agent_max_hourly_usd`
  (only when configured).
- `task_cost`: one unfinished task has cost more than `task_ratio` × the p95 of the agent's
  finished task costs and more than `min_task_usd`.

Each finding carries the arrival time of the batch that made the rule true (the detection latency
is measured from it), the keys the spend went through (for a `disable_api_key` proposal) and the
evidence a human needs: window spend, norm, ratio, the thresholds, top tasks, spend by key/model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tools.events.config import RunawayConfig
from tools.events.detector import AgentWindow, Detector, KeyUse, TaskState
from tools.events.norms import AgentNorm

__all__ = ["Finding", "evaluate"]

_RATE = Decimal("0.000001")
_RATIO = Decimal("0.01")


@dataclass
class Finding:
    """A rule that holds now for one agent (and task)."""

    agent_id: str
    rule: str
    task_id: str | None
    team: str | None
    trigger_received_at: datetime
    trigger_exact: bool
    burn_rate_per_hour: Decimal
    uses: set[KeyUse]
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _trigger(
    before: Decimal, arrivals: Sequence[tuple[datetime, Decimal]], threshold: Decimal, now: datetime
) -> tuple[datetime, bool]:
    """Arrival of the batch that took the running amount over `threshold`."""
    if before >= threshold or not arrivals:
        return (arrivals[0][0] if arrivals else now), False
    running = before
    for at, amount in arrivals:
        running += amount
        if running >= threshold:
            return at, True
    return arrivals[-1][0], False


def _money(value: Decimal) -> str:
    return str(value.quantize(_RATE))


def _breakdown(win: AgentWindow, start: int) -> dict[str, Any]:
    by_key: dict[tuple[str, str | None, str | None], Decimal] = defaultdict(Decimal)
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    for (provider, key, project, model), cost in win.by_use(start).items():
        by_key[(provider, key, project)] += cost
        by_model[model] += cost
    return {
        "by_key": [
            {"provider": p, "api_key_id": k, "project_id": j, "cost_usd": _money(c)}
            for (p, k, j), c in sorted(by_key.items(), key=lambda kv: -kv[1])
        ],
        "by_model": [
            {"model": m, "cost_usd": _money(c)}
            for m, c in sorted(by_model.items(), key=lambda kv: -kv[1])
        ],
    }


def _top_tasks(tasks: Sequence[TaskState], n: int = 5) -> list[dict[str, Any]]:
    ranked = sorted(tasks, key=lambda t: -t.cost)[:n]
    return [
        {
            "task_id": t.task_id,
            "cost_usd": _money(t.cost),
            "events": t.events,
            "started": t.first_time.isoformat() if t.first_time else None,
        }
        for t in ranked
    ]


@dataclass
class _Context:
    cfg: RunawayConfig
    detector: Detector
    norms: dict[str, AgentNorm]
    now: datetime
    start: int
    window_hours: Decimal
    per_hour: Decimal
    tasks_by_agent: dict[str, list[TaskState]]


def _window_evidence(ctx: _Context, agent_id: str, spend: Decimal, rate: Decimal) -> dict[str, Any]:
    win = ctx.detector.agents[agent_id]
    return {
        "window_minutes": ctx.cfg.window_minutes,
        "window_end": ctx.now.isoformat(),
        "window_spend_usd": _money(spend),
        "burn_rate_usd_per_hour": _money(rate),
        "top_tasks": _top_tasks(ctx.tasks_by_agent.get(agent_id, [])),
        **_breakdown(win, ctx.start),
    }


def _spike(ctx: _Context, agent_id: str, win: AgentWindow) -> Finding | None:
    cfg = ctx.cfg
    spend = win.spend(ctx.start)
    if spend <= 0:
        return None
    rate = spend * ctx.per_hour
    norm = ctx.norms.get(agent_id, AgentNorm())
    if norm.hourly_median is not None and norm.hourly_median > 0:
        rule, per_hour = "spike", norm.hourly_median * cfg.spike_ratio
    elif norm.hourly_median is None and cfg.new_agent_max_hourly_usd is not None:
        rule, per_hour = "new_agent_rate", cfg.new_agent_max_hourly_usd
    else:
        return None
    threshold = max(cfg.min_window_usd, per_hour * ctx.window_hours)
    if spend < threshold:
        return None
    arrived = sum((a for _, a in win.arrivals), Decimal(0))
    at, exact = _trigger(spend - arrived, win.arrivals, threshold, ctx.now)
    evidence = _window_evidence(ctx, agent_id, spend, rate)
    evidence.update(
        rule=rule,
        threshold_window_usd=_money(threshold),
        min_window_usd=str(cfg.min_window_usd),
        norm_hourly_usd=None if norm.hourly_median is None else _money(norm.hourly_median),
        norm_active_hours=norm.active_hours,
        norm_days=cfg.norm_days,
    )
    if rule == "spike":
        assert norm.hourly_median is not None
        ratio = (rate / norm.hourly_median).quantize(_RATIO)
        evidence.update(ratio=str(ratio), spike_ratio=str(cfg.spike_ratio))
        reason = f"burning USD {rate:.2f}/h, {ratio}× its norm of USD {norm.hourly_median:.2f}/h"
    else:
        evidence.update(max_hourly_usd=str(cfg.new_agent_max_hourly_usd))
        reason = f"new agent burning USD {rate:.2f}/h, over the cap for agents without a norm"
    return Finding(
        agent_id=agent_id,
        rule=rule,
        task_id=None,
        team=win.team,
        trigger_received_at=at,
        trigger_exact=exact,
        burn_rate_per_hour=rate,
        uses={u for u in win.by_use(ctx.start)},
        reason=reason,
        evidence=evidence,
    )


def _task(ctx: _Context, task: TaskState) -> Finding | None:
    cfg = ctx.cfg
    norm = ctx.norms.get(task.agent_id, AgentNorm())
    if norm.task_p95 is None:
        return None
    threshold = max(cfg.min_task_usd, cfg.task_ratio * norm.task_p95)
    if task.cost < threshold or task.cost <= 0:
        return None
    increments, previous = [], task.cost_before_flush
    for at, running in task.arrivals:
        increments.append((at, running - previous))
        previous = running
    at, exact = _trigger(task.cost_before_flush, increments, threshold, ctx.now)
    win = ctx.detector.agents.get(task.agent_id, AgentWindow())
    spend = win.spend(ctx.start)
    rate = spend * ctx.per_hour
    ratio = (task.cost / norm.task_p95).quantize(_RATIO) if norm.task_p95 > 0 else None
    evidence = _window_evidence(ctx, task.agent_id, spend, rate)
    evidence.update(
        rule="task_cost",
        task_id=task.task_id,
        task_cost_usd=_money(task.cost),
        task_events=task.events,
        task_started=task.first_time.isoformat() if task.first_time else None,
        task_p95_usd=_money(norm.task_p95),
        finished_tasks=norm.finished_tasks,
        task_history_days=cfg.task_history_days,
        ratio=None if ratio is None else str(ratio),
        threshold_task_usd=_money(threshold),
    )
    return Finding(
        agent_id=task.agent_id,
        rule="task_cost",
        task_id=task.task_id,
        team=win.team,
        trigger_received_at=at,
        trigger_exact=exact,
        burn_rate_per_hour=rate,
        uses=set(task.uses),
        reason=f"task {task.task_id} cost USD {task.cost:.2f}, {ratio}× the p95 of its tasks "
        f"(USD {norm.task_p95:.2f})",
        evidence=evidence,
    )


def evaluate(
    detector: Detector, norms: dict[str, AgentNorm], cfg: RunawayConfig, now: datetime
) -> list[Finding]:
    """Every rule that holds now, per agent (and task)."""
    tasks_by_agent: dict[str, list[TaskState]] = defaultdict(list)
    for task in detector.open_tasks():
        tasks_by_agent[task.agent_id].append(task)
    ctx = _Context(
        cfg=cfg,
        detector=detector,
        norms=norms,
        now=now,
        start=detector.window_start(now),
        window_hours=Decimal(str(cfg.window_minutes)) / 60,
        per_hour=Decimal(60) / Decimal(str(cfg.window_minutes)),
        tasks_by_agent=tasks_by_agent,
    )
    exempt = set(cfg.exempt_agents)
    findings = []
    for agent_id, win in list(detector.agents.items()):
        if agent_id not in exempt and (found := _spike(ctx, agent_id, win)):
            findings.append(found)
    for agent_id, tasks in tasks_by_agent.items():
        if agent_id in exempt:
            continue
        findings += [f for t in tasks if (f := _task(ctx, t))]
    return findings
