"""What the burn-rate rules look at, kept in memory and updated after every flush.

Per agent: spend per event-time second over the recent window, split by (provider, API key,
project, model), plus what this flush added in arrival order (to find the arrival that made a
rule true). Per (agent, task): the running cost of unfinished tasks. Only events timestamped within
the horizon (the longer of the window and the task idle time) are tracked; older ones are stored
but are history, not a burn. After a restart `seed` rebuilds the same state from `usage_events`
with two aggregate queries, so a restart does not blind the rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from tools.events.batch import COLUMNS, PricedBatch

__all__ = ["AgentWindow", "Detector", "KeyUse", "TaskState"]

_EPOCH = datetime(1970, 1, 1)
_I = {name: i for i, name in enumerate(COLUMNS)}
_AGENT, _COST, _PROVIDER, _KEY = _I["agent_id"], _I["cost"], _I["provider"], _I["api_key_id"]
_PROJECT, _MODEL, _TEAM, _TASK = _I["project_id"], _I["model"], _I["team"], _I["task_id"]
KeyUse = tuple[str, str | None, str | None, str]
"""(provider, api_key_id, project_id, model) of some spend."""


def _naive(moment: datetime) -> datetime:
    """A time as naive UTC (how the warehouse and the event rows keep times)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _second(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds())


@dataclass
class AgentWindow:
    """One agent's recent spend by event-time second and by key/model."""

    buckets: dict[int, dict[KeyUse, Decimal]] = field(default_factory=dict)
    team: str | None = None
    arrivals: list[tuple[datetime, Decimal]] = field(default_factory=list)
    """This flush's spend inside the window, per batch arrival (received time, cost)."""

    def spend(self, since: int) -> Decimal:
        return sum(
            (sum(b.values(), Decimal(0)) for s, b in self.buckets.items() if s >= since),
            Decimal(0),
        )

    def by_use(self, since: int) -> dict[KeyUse, Decimal]:
        out: dict[KeyUse, Decimal] = defaultdict(Decimal)
        for s, bucket in self.buckets.items():
            if s >= since:
                for use, cost in bucket.items():
                    out[use] += cost
        return dict(out)


@dataclass
class TaskState:
    """An unfinished task's running cost."""

    agent_id: str
    task_id: str
    cost: Decimal = Decimal(0)
    events: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    cost_before_flush: Decimal = Decimal(0)
    arrivals: list[tuple[datetime, Decimal]] = field(default_factory=list)
    """(received time, running cost after that batch) for this flush."""
    uses: set[KeyUse] = field(default_factory=set)


class Detector:
    """In-memory windows and tasks; `update` after each flush, `expire` before each evaluation."""

    def __init__(self, window: timedelta, task_idle: timedelta, max_tasks: int) -> None:
        self.window = window
        self.task_idle = task_idle
        self.max_tasks = max_tasks
        self.horizon = max(window, task_idle)
        self.agents: dict[str, AgentWindow] = defaultdict(AgentWindow)
        self.tasks: dict[tuple[str, str], TaskState] = {}
        self.finished: list[TaskState] = []

    def oldest(self, now: datetime) -> datetime:
        """Events timestamped before this (naive UTC) are history, not tracked."""
        return _naive(now) - self.horizon

    def window_start(self, now: datetime) -> int:
        return _second(_naive(now) - self.window)

    def begin_flush(self) -> None:
        for agent in self.agents.values():
            agent.arrivals.clear()
        for task in self.tasks.values():
            task.cost_before_flush = task.cost
            task.arrivals.clear()

    def update(self, batches: Sequence[PricedBatch], now: datetime) -> int:
        """Add flushed batches (in arrival order); return how many events were in the horizon."""
        self.begin_flush()
        oldest = self.oldest(now)
        window_start = self.window_start(now)
        tracked = 0
        for batch in sorted(batches, key=lambda b: b.received_at):
            per_agent: dict[str, Decimal] = defaultdict(Decimal)
            for row in batch.rows:
                when = row[0]
                if when < oldest:
                    continue
                tracked += 1
                self._add(row, batch.received_at, window_start, per_agent)
            for agent_id, cost in per_agent.items():
                self.agents[agent_id].arrivals.append((batch.received_at, cost))
        return tracked

    def _add(
        self,
        row: tuple[Any, ...],
        received: datetime,
        window_start: int,
        per_agent: dict[str, Decimal],
    ) -> None:
        agent_id, cost, when = row[_AGENT], row[_COST], row[0]
        use: KeyUse = (row[_PROVIDER], row[_KEY], row[_PROJECT], row[_MODEL])
        agent = self.agents[agent_id]
        agent.team = row[_TEAM] or agent.team
        second = _second(when)
        if second >= window_start:
            bucket = agent.buckets.setdefault(second, {})
            bucket[use] = bucket.get(use, Decimal(0)) + cost
            per_agent[agent_id] += cost
        task_id = row[_TASK]
        if task_id is not None:
            self._add_task(agent_id, task_id, when, cost, use, received)

    def _add_task(
        self, agent_id: str, task_id: str, when: datetime, cost: Decimal, use: KeyUse, at: datetime
    ) -> None:
        task = self.tasks.get((agent_id, task_id))
        if task is None:
            task = self.tasks[(agent_id, task_id)] = TaskState(agent_id, task_id)
        task.cost += cost
        task.events += 1
        task.uses.add(use)
        task.first_time = when if task.first_time is None else min(task.first_time, when)
        task.last_time = when if task.last_time is None else max(task.last_time, when)
        if task.arrivals and task.arrivals[-1][0] == at:
            task.arrivals[-1] = (at, task.cost)
        else:
            task.arrivals.append((at, task.cost))

    def expire(self, now: datetime) -> list[TaskState]:
        """Drop buckets older than the window and finish idle tasks; return finished tasks."""
        start = self.window_start(now)
        for agent_id in list(self.agents):
            agent = self.agents[agent_id]
            for second in [s for s in agent.buckets if s < start]:
                del agent.buckets[second]
            if not agent.buckets and not agent.arrivals:
                del self.agents[agent_id]
        idle_before = _naive(now) - self.task_idle
        done = [t for t in self.tasks.values() if t.last_time and t.last_time < idle_before]
        if len(self.tasks) - len(done) > self.max_tasks:
            live = sorted(
                (t for t in self.tasks.values() if t not in done),
                key=lambda t: t.last_time or _EPOCH,
            )
            done += live[: len(live) - self.max_tasks]
        for task in done:
            self.tasks.pop((task.agent_id, task.task_id), None)
        return done

    def open_tasks(self, agent_id: str | None = None) -> Iterable[TaskState]:
        return (t for t in self.tasks.values() if agent_id is None or t.agent_id == agent_id)

    def seed(self, con: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """Rebuild the windows and open tasks from stored events (after a restart)."""
        self.agents.clear()
        self.tasks.clear()
        since = _naive(now) - self.horizon
        rows = con.execute(
            "SELECT agent_id, CAST(floor(epoch(event_time)) AS BIGINT), provider, api_key_id, "
            "project_id, model, any_value(team), sum(cost) FROM usage_events "
            "WHERE event_time >= ? GROUP BY ALL",
            [since],
        ).fetchall()
        for agent_id, second, provider, key, project, model, team, cost in rows:
            agent = self.agents[agent_id]
            agent.team = team or agent.team
            bucket = agent.buckets.setdefault(int(second), {})
            bucket[(provider, key, project, model)] = cost
        tasks = con.execute(
            "SELECT agent_id, task_id, sum(cost), count(*), min(event_time), max(event_time), "
            "list(DISTINCT [provider, api_key_id, project_id, model]) FROM usage_events "
            "WHERE event_time >= ? AND task_id IS NOT NULL GROUP BY ALL",
            [since],
        ).fetchall()
        for agent_id, task_id, cost, events, first, last, uses in tasks:
            self.tasks[(agent_id, task_id)] = TaskState(
                agent_id,
                task_id,
                cost=cost,
                events=events,
                first_time=first,
                last_time=last,
                cost_before_flush=cost,
                uses={(u[0], u[1], u[2], u[3]) for u in uses},
            )
