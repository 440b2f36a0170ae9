"""The demo company's business usage, for unit economics (`finops units`).

`write_demo_usage` writes `usage.csv` (`date,metric,vtag,value,quantity`) over the demo's days:

* `tasks` by virtual tag `agent`, one row per AI agent of the catalog (`WORKLOADS`) and day: the
  tasks each agent completed. They follow the agent's expected token volume (same diurnal and
  weekend shape as its bills) divided by its tokens per task, with their own noise. On the runaway
  day the retry loop burns tokens without finishing more tasks, so the tasks stay normal and the
  cost per task of `ticket-triage-agent` jumps: exactly what unit economics should show.
* `requests` by virtual tag `team`: API requests, search queries, page views and inference
  requests of the four teams that serve traffic, written the way a product-analytics export
  would (`Payments`, `ML Platform`) to exercise value normalization. `data` and `platform` serve
  no external requests: their spend shows as cost without usage.

A separate random stream (seeded from `seed`) keeps the billing files byte-identical whether or
not usage is written.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from warehouse.demo.catalog import WORKLOADS

__all__ = [
    "INPUT_TOKENS_PER_TASK",
    "TEAM_REQUESTS",
    "USAGE_SOURCE",
    "DemoUsage",
    "write_demo_usage",
]

USAGE_SOURCE = "demo-usage"
INPUT_TOKENS_PER_TASK = {
    "search-answerer": 4000,
    "support-reply-drafter": 6000,
    "fraud-explainer": 5000,
    "eval-grader": 3000,
    "ticket-triage-agent": 2500,
    "dispute-summarizer": 8000,
}
"""Input tokens one task of each agent consumes on average (RAG context, transcripts, …)."""
TEAM_REQUESTS = {
    "Payments": (1_200_000, 0.8, 0.06),
    "Search": (9_000_000, 0.7, 0.10),
    "Web": (25_000_000, 0.6, 0.08),
    "ML Platform": (3_000_000, 0.9, 0.15),
}
"""Team as the analytics export spells it → (weekday requests/day, weekend factor, growth over
the period)."""
_STREAM = 0x75736167


class DemoUsage(BaseModel):
    """What `write_demo_usage` wrote: the file, its rows and the totals (ground truth)."""

    path: Path
    rows: int
    start: date
    end: date
    tasks: dict[str, int]
    requests: dict[str, int]


def _daily_input_tokens(peak_millions: float) -> float:
    """Expected input tokens of a weekday, from the same hourly shape as the agent's bills."""
    hour = np.arange(24)
    diurnal = 0.3 + 0.7 * np.exp(-(((hour - 14) / 4.5) ** 2))
    return float(peak_millions * 1e6 * diurnal.sum())


def _tasks(days: list[date], rng: np.random.Generator) -> dict[str, list[int]]:
    weekend = np.array([d.weekday() >= 5 for d in days])
    out = {}
    for w in WORKLOADS:
        base = _daily_input_tokens(w.peak_input_millions) / INPUT_TOKENS_PER_TASK[w.agent_id]
        volume = base * np.where(weekend, 0.5, 1.0) * rng.lognormal(0.0, 0.08, len(days))
        out[w.agent_id] = [int(v) for v in np.round(volume)]
    return out


def _requests(days: list[date], rng: np.random.Generator) -> dict[str, list[int]]:
    weekend = np.array([d.weekday() >= 5 for d in days])
    trend = np.arange(len(days)) / max(len(days) - 1, 1)
    out = {}
    for team, (base, weekend_factor, growth) in TEAM_REQUESTS.items():
        volume = base * (1 + growth * trend) * np.where(weekend, weekend_factor, 1.0)
        out[team] = [int(v) for v in np.round(volume * rng.lognormal(0.0, 0.05, len(days)))]
    return out


def write_demo_usage(path: Path, *, start: date, end: date, seed: int) -> DemoUsage:
    """Write the demo's daily `tasks` per agent and `requests` per team from `start` to `end`.

    Example: `write_demo_usage(out_dir / "usage.csv", start=manifest.start, end=manifest.end,
    seed=7)`; the same arguments always write the same bytes.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    rng = np.random.default_rng([seed, _STREAM])
    tasks, requests = _tasks(days, rng), _requests(days, rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["date", "metric", "vtag", "value", "quantity"])
        for i, day in enumerate(days):
            for agent, series in tasks.items():
                out.writerow([day.isoformat(), "tasks", "agent", agent, series[i]])
            for team, series in requests.items():
                out.writerow([day.isoformat(), "requests", "team", team, series[i]])
            rows += len(tasks) + len(requests)
    return DemoUsage(
        path=path,
        rows=rows,
        start=start,
        end=end,
        tasks={a: sum(s) for a, s in tasks.items()},
        requests={t: sum(s) for t, s in requests.items()},
    )
