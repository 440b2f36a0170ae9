"""Each agent's norm, read from the warehouse: typical hourly spend and typical task cost.

Hourly norm: the median spend of the agent's *active* hours (hours with spend) over the trailing
`norm_days`, up to the start of the current hour. It is read from `costs` rows whose tags name the
agent (`runaway.agent_tag_keys`, default `agent_id`) and whose charge period is at most an hour:
the `usage-events` roll-up and any provider rows tagged the same way (the demo's OpenAI and
Anthropic rows are). When two sources describe the same agent-hour, the larger one counts, never
their sum (they are two views of the same calls). Active hours only: an agent that works office
hours is not judged against its idle nights.

Task norm: the p95 of the agent's finished task costs over the trailing `task_history_days`, from
`usage_event_tasks` (tasks the detector retired after `task_idle_minutes` without events, and the
tasks of backfilled events), so the refresh never scans the raw events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb

from tools.events.config import RunawayConfig

__all__ = ["AgentNorm", "load_norms"]


@dataclass(frozen=True)
class AgentNorm:
    """An agent's norm; None where there is not enough history."""

    hourly_median: Decimal | None = None
    active_hours: int = 0
    task_p95: Decimal | None = None
    finished_tasks: int = 0


def _tag_expr(keys: list[str]) -> str:
    parts = []
    for key in keys:
        escaped = key.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
        parts.append(f"json_extract_string(Tags, '$.\"{escaped}\"')")
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _hourly(
    con: duckdb.DuckDBPyConnection, cfg: RunawayConfig, now: datetime
) -> dict[str, tuple[Decimal, int]]:
    until = now.replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(days=cfg.norm_days)
    sql = f"""
    WITH per_source AS (
        SELECT {_tag_expr(cfg.agent_tag_keys)} AS agent, x_SourceName AS source,
               date_trunc('hour', ChargePeriodStart) AS hour, sum(BilledCost) AS cost
        FROM costs
        WHERE ChargePeriodStart >= ? AND ChargePeriodStart < ?
          AND ChargePeriodEnd <= ChargePeriodStart + INTERVAL 1 HOUR
        GROUP BY ALL
    ), per_hour AS (
        SELECT agent, hour, max(cost) AS cost FROM per_source
        WHERE agent IS NOT NULL GROUP BY ALL
    )
    SELECT agent, quantile_disc(cost, 0.5), count(*) FROM per_hour WHERE cost > 0 GROUP BY agent
    """
    rows = con.execute(sql, [since, until]).fetchall()
    return {r[0]: (Decimal(str(r[1])), int(r[2])) for r in rows}


def _tasks(
    con: duckdb.DuckDBPyConnection, cfg: RunawayConfig, now: datetime
) -> dict[str, tuple[Decimal, int]]:
    since = now - timedelta(days=cfg.task_history_days)
    rows = con.execute(
        """
        WITH tasks AS (
            SELECT agent_id, task_id, sum(cost) AS cost FROM usage_event_tasks
            WHERE last_time >= ? GROUP BY ALL
        )
        SELECT agent_id, quantile_cont(cost, 0.95), count(*) FROM tasks GROUP BY agent_id
        """,
        [since],
    ).fetchall()
    return {r[0]: (Decimal(str(r[1])), int(r[2])) for r in rows}


def load_norms(
    con: duckdb.DuckDBPyConnection, cfg: RunawayConfig, now: datetime
) -> dict[str, AgentNorm]:
    """Norms of every agent with history, keyed by agent id."""
    naive = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    hourly = _hourly(con, cfg, naive)
    tasks = _tasks(con, cfg, naive)
    norms = {}
    for agent in hourly.keys() | tasks.keys():
        median, hours = hourly.get(agent, (None, 0))
        p95, count = tasks.get(agent, (None, 0))
        norms[agent] = AgentNorm(
            hourly_median=median if hours >= cfg.min_norm_hours else None,
            active_hours=hours,
            task_p95=p95 if count >= cfg.min_task_history else None,
            finished_tasks=count,
        )
    return norms
