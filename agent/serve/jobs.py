"""What each scheduled job kind does under `finops serve` (the scheduler only decides when).

- `sweep`: `tools.sweep.service.run_sweep` with `sweep:` from the config (ingest, allocate,
forecast,
  detect, budgets, act, savings), exactly as `finops sweep` runs it, minus the model summary;
- `digest`: the latest finished sweep's digest posted to Slack;
- `cards`: approval cards for pending proposals not yet posted to Slack;
- `tickets_sync`: `tools.tickets.sync.sync_tickets` (create pending tickets, post updates);
- `savings_refresh`: `tools.savings.service.refresh_savings` (realized savings against later bills).

A job with nothing it can do (Slack not configured for `digest` / `cards`, no sweep yet) raises
`JobSkipped`: the run is recorded as skipped with the reason, not as a failure. Each run opens its
own warehouse connection and closes it, so jobs never share a DuckDB connection with the HTTP
side of the process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from agent.context import AppContext
from agent.runtime.runner import Runtime
from agent.serve.scheduler import JobRunner, JobSkipped, ScheduledRun
from tools.context import ToolContext
from tools.savings.service import load_savings, refresh_savings
from tools.sweep.service import SweepResult, run_sweep
from tools.tickets.sync import sync_tickets
from warehouse.db import connect

__all__ = ["JobServices", "SlackPoster", "build_runners", "latest_sweep"]


class SlackPoster(Protocol):
    """The part of `agent.slack.app.SlackApp` the scheduled jobs use."""

    def post_pending_cards(self) -> list[str]: ...

    def post_digest(self, text: str) -> str | None: ...


@dataclass
class JobServices:
    """What the jobs run with: the app, the scheduler's own runtime (its own state connection),
    Slack when configured, and the environment for credentials."""

    app: AppContext
    rt: Runtime
    slack: SlackPoster | None
    environ: Mapping[str, str]

    @contextmanager
    def tool_context(self) -> Iterator[ToolContext]:
        con = connect(self.app.warehouse_path)
        try:
            yield ToolContext(
                config=self.app.config,
                store=self.rt.store,
                ledger=self.rt.ledger,
                audit=self.rt.audit,
                clock=self.rt.clock,
                warehouse=lambda: con,
                actor="scheduler",
                config_path=self.app.home.config_path,
            )
        finally:
            con.close()


def latest_sweep(rt: Runtime) -> SweepResult | None:
    """The most recent finished sweep's result, as recorded in the `sweeps` table."""
    rows = rt.store.query(
        "SELECT digest FROM sweeps WHERE status = 'done' ORDER BY finished_at DESC LIMIT 1"
    )
    return SweepResult.model_validate(json.loads(rows[0]["digest"])) if rows else None


def _sweep(s: JobServices, run: ScheduledRun) -> str:
    s.rt.resume_approved()  # approvals a crashed process left unexecuted run first, once each
    with s.tool_context() as ctx:
        result = run_sweep(ctx, s.app.config.sweep, environ=dict(s.environ))
    failed = [step.name for step in result.steps if not step.ok]
    return (
        f"sweep {result.id} {result.since}..{result.until}: {len(result.findings)} findings, "
        f"{len(result.proposals)} proposal(s)" + (f"; failed steps: {failed}" if failed else "")
    )


def _slack(s: JobServices, what: str) -> SlackPoster:
    if s.slack is None:
        raise JobSkipped(f"Slack is not configured (or serve runs with --no-slack); no {what}")
    return s.slack


def _digest(s: JobServices, run: ScheduledRun) -> str:
    slack = _slack(s, "digest posted")
    result = latest_sweep(s.rt)
    if result is None:
        raise JobSkipped("no finished sweep yet; nothing to digest")
    if slack.post_digest(result.digest) is None:
        raise JobSkipped("slack.digest_channel is not set; no digest posted")
    return f"posted the digest of sweep {result.id} ({result.since}..{result.until})"


def _cards(s: JobServices, run: ScheduledRun) -> str:
    posted = _slack(s, "cards posted").post_pending_cards()
    return f"{len(posted)} approval card(s) posted" + (f": {', '.join(posted)}" if posted else "")


def _tickets(s: JobServices, run: ScheduledRun) -> str:
    report = sync_tickets(s.rt.tool_context("scheduler", None), environ=s.environ)
    return (
        f"{len(report.created)} created, {report.comments} comment(s), {len(report.closed)} "
        f"closed, {len(report.errors)} error(s)"
    )


def _savings(s: JobServices, run: ScheduledRun) -> str:
    with s.tool_context() as ctx:
        notes = refresh_savings(ctx)
        rows = load_savings(ctx)
    measured = sum(r.status == "measured" for r in rows)
    return f"{len(rows)} executed change(s) tracked, {measured} measured" + (
        f"; {'; '.join(notes)}" if notes else ""
    )


_JOBS: dict[str, Callable[[JobServices, ScheduledRun], str]] = {
    "sweep": _sweep,
    "digest": _digest,
    "cards": _cards,
    "tickets_sync": _tickets,
    "savings_refresh": _savings,
}


def build_runners(services: JobServices) -> dict[str, JobRunner]:
    """One runner per job kind, bound to `services`."""

    def bind(fn: Callable[[JobServices, ScheduledRun], str]) -> JobRunner:
        return lambda run: fn(services, run)

    return {kind: bind(fn) for kind, fn in _JOBS.items()}
