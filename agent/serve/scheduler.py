"""The scheduler of `finops serve`: cron jobs from `schedule:`, one run per fire time across
replicas, time injected.

The core is two calls that take the time as an argument, so tests drive it without sleeping:
`due(now)` lists the jobs whose latest fire time has passed and is not yet claimed, and
`run_due(now)` claims each in the state store and runs the ones it won. `run_forever` is the thin
loop around them (wake at the next fire time or every tick, whichever is sooner).

Why APScheduler 3.x, and only its `CronTrigger`: it parses standard five-field cron (with names,
ranges, steps) and computes fire times in any IANA time zone across DST changes, is maintained and
widely deployed, and its trigger is a pure function of the times it is given. Its own scheduler
loop is not used: it reads the wall clock and its job stores do not stop two replicas from firing
the same run, which is the one thing a shared scheduler must guarantee (croniter would have served
for parsing too; its maintenance was in doubt in 2024-25, and APScheduler 4 changes the API).

Across replicas: a run is a row in `scheduler_runs` (state migration 13) keyed by (job name, fire
time), inserted in a write transaction with `ON CONFLICT DO NOTHING`; the replica whose insert
lands runs the job, the others move on. The row holds a lease: a replica that dies mid-run leaves
a `running` row that the next claimer marks `abandoned` once the lease is over (never re-run: the
job's next fire time runs as usual). While a run of a job is live, newer fire times of the same
job wait (then coalesce). After downtime, missed fire times are coalesced into one run for the
latest of them (`coalesced` counts the ones folded in). A first start runs nothing retroactively.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel

from agent.serve.scheduler_config import JobKind, ScheduledJob, cron_trigger
from warehouse.clock import utc_now
from warehouse.errors import ConfigError, FinopsError
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "JobRunner",
    "JobSkipped",
    "RunRecord",
    "ScheduledRun",
    "Scheduler",
    "SchedulerThread",
    "last_runs",
]

log = logging.getLogger("finops.scheduler")

RunStatus = Literal["running", "done", "failed", "skipped", "missed", "abandoned"]
_SPANS = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=400),
    timedelta(days=3660),
)
_COUNT_CAP = 10_000
_TICK = 1e-6


class ScheduledRun(BaseModel):
    """One fire time of one job (UTC), with how many earlier missed fire times it stands for."""

    job: str
    kind: JobKind
    fire_time: datetime
    coalesced: int = 0


class RunRecord(BaseModel):
    """A row of `scheduler_runs`: who claimed a fire time and how the run ended."""

    job: str
    kind: str
    fire_time: str
    status: RunStatus
    claimed_by: str
    claimed_at: str
    lease_until: str
    finished_at: str | None
    coalesced: int
    detail: str | None


class JobSkipped(FinopsError):
    """A job had nothing it could do (e.g. no Slack to post to): recorded as `skipped`."""


JobRunner = Callable[[ScheduledRun], str]
"""Runs one job; returns a one-line outcome. Raise `JobSkipped` to record a skip."""


def _after(trigger: CronTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after `moment`."""
    nxt: datetime | None = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return nxt.astimezone(UTC) if nxt is not None else None


def _latest(trigger: CronTrigger, after: datetime, now: datetime) -> datetime | None:
    """The last fire time in (after, now], looking back in growing windows (bounded work)."""
    for span in _SPANS:
        start = max(after, now - span)
        latest, t = None, _after(trigger, start)
        while t is not None and t <= now:
            latest, t = t, _after(trigger, t)
        if latest is not None or start == after:
            return latest
    return None


def _count(trigger: CronTrigger, after: datetime, until: datetime) -> int:
    """Fire times in (after, until) — the missed ones a coalesced run stands for (capped)."""
    n, t = 0, _after(trigger, after)
    while t is not None and t < until and n < _COUNT_CAP:
        n, t = n + 1, _after(trigger, t)
    return n


@dataclass
class _Entry:
    job: ScheduledJob
    trigger: CronTrigger
    anchor: datetime | None = None
    upcoming: datetime | None = None


def last_runs(store: StateStore) -> dict[str, RunRecord]:
    """The latest recorded run of every job name (for `/healthz`)."""
    rows = store.query(
        "SELECT r.* FROM scheduler_runs r JOIN (SELECT job, MAX(fire_time) AS fire_time "
        "FROM scheduler_runs GROUP BY job) m ON r.job = m.job AND r.fire_time = m.fire_time"
    )
    return {str(r["job"]): RunRecord.model_validate(dict(r)) for r in rows}


class Scheduler:
    """Due-ness and claiming for the configured jobs; see the module docstring.

    `runners` maps each job kind to the function that runs it; `started_at` is when this replica
    started counting (a job with no recorded run first fires after it); `clock` only stamps
    finish times. Example (a test): `s.run_due(datetime(2026, 1, 1, 11, 0, tzinfo=UTC))`.
    """

    def __init__(
        self,
        jobs: Sequence[ScheduledJob],
        store: StateStore,
        runners: Mapping[str, JobRunner],
        *,
        started_at: datetime,
        clock: Callable[[], datetime] = utc_now,
        replica: str | None = None,
    ) -> None:
        enabled = [j for j in jobs if j.enabled]
        missing = sorted({j.job for j in enabled} - set(runners))
        if missing:
            raise ConfigError(f"schedule: no runner for job kind(s) {', '.join(missing)}")
        self.entries = [_Entry(j, cron_trigger(j.cron, j.timezone)) for j in enabled]
        self.store = store
        self.runners = runners
        self.started_at = started_at
        self.clock = clock
        self.replica = replica or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.current: ScheduledRun | None = None

    # -- the core ------------------------------------------------------------------------------

    def _anchor(self, entry: _Entry) -> datetime:
        if entry.anchor is None:
            row = self.store.query(
                "SELECT MAX(fire_time) AS last FROM scheduler_runs WHERE job = ?",
                (entry.job.name,),
            )
            last = row[0]["last"] if row else None
            entry.anchor = (
                datetime.fromisoformat(last)
                if last
                else self.started_at - timedelta(microseconds=1)
            )
        return entry.anchor

    def due(self, now: datetime) -> list[ScheduledRun]:
        """Jobs whose latest fire time ≤ `now` this replica has not seen claimed (one per job:
        missed fire times are coalesced into the latest)."""
        runs: list[ScheduledRun] = []
        for entry in self.entries:
            if entry.upcoming is not None and now < entry.upcoming:
                continue
            anchor = self._anchor(entry)
            latest = _latest(entry.trigger, anchor, now)
            if latest is None:
                entry.upcoming = _after(entry.trigger, max(anchor, now))
                continue
            entry.upcoming = latest  # pending until claimed: looked at again every tick
            runs.append(
                ScheduledRun(
                    job=entry.job.name,
                    kind=entry.job.job,
                    fire_time=latest,
                    coalesced=_count(entry.trigger, anchor, latest),
                )
            )
        return runs

    def run_due(
        self, now: datetime, *, stopping: Callable[[], bool] = lambda: False
    ) -> list[RunRecord]:
        """Claim every due run and execute the ones this replica won; returns their records.

        Stops taking jobs as soon as `stopping()` is true (a run already started finishes)."""
        done: list[RunRecord] = []
        for run in self.due(now):
            if stopping():
                break
            entry = next(e for e in self.entries if e.job.name == run.job)
            claim = self._claim(entry.job, run, now)
            if claim == "busy":
                continue
            entry.anchor = run.fire_time
            entry.upcoming = _after(entry.trigger, max(run.fire_time, now))
            if claim == "won":
                done.append(self._execute(run))
        return done

    # -- the store -----------------------------------------------------------------------------

    def _claim(
        self, job: ScheduledJob, run: ScheduledRun, now: datetime
    ) -> Literal["won", "taken", "busy", "missed"]:
        at, fire = utc_text(now), utc_text(run.fire_time)
        late = job.misfire_grace_minutes is not None and now - run.fire_time > timedelta(
            minutes=job.misfire_grace_minutes
        )
        lease = utc_text(now + timedelta(minutes=job.lease_minutes))
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE scheduler_runs SET status = 'abandoned', finished_at = ?, detail = ? "
                "WHERE job = ? AND status = 'running' AND lease_until <= ?",
                (at, f"no outcome within the {job.lease_minutes:g}-minute lease", job.name, at),
            )
            busy = conn.execute(
                "SELECT fire_time FROM scheduler_runs WHERE job = ? AND status = 'running'",
                (job.name,),
            ).fetchone()
            if busy is not None:
                return "busy"
            cur = conn.execute(
                "INSERT INTO scheduler_runs (job, fire_time, kind, status, claimed_by, "
                "claimed_at, lease_until, finished_at, coalesced, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job, fire_time) DO NOTHING",
                (
                    job.name,
                    fire,
                    job.job,
                    "missed" if late else "running",
                    self.replica,
                    at,
                    lease,
                    at if late else None,
                    run.coalesced,
                    f"older than misfire_grace_minutes={job.misfire_grace_minutes:g}"
                    if late and job.misfire_grace_minutes is not None
                    else None,
                ),
            )
            if cur.rowcount != 1:
                return "taken"
        return "missed" if late else "won"

    def _execute(self, run: ScheduledRun) -> RunRecord:
        self.current = run
        status: RunStatus = "done"
        try:
            detail = self.runners[run.kind](run)
        except JobSkipped as exc:
            status, detail = "skipped", str(exc)
        except Exception as exc:
            log.exception("scheduled job %s (%s) failed", run.job, run.kind)
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.current = None
        return self._finish(run, status, detail)

    def _finish(self, run: ScheduledRun, status: RunStatus, detail: str) -> RunRecord:
        key = (run.job, utc_text(run.fire_time))
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE scheduler_runs SET status = ?, finished_at = ?, detail = ? "
                "WHERE job = ? AND fire_time = ? AND claimed_by = ?",
                (status, utc_text(self.clock()), detail[:2000], *key, self.replica),
            )
            row = conn.execute(
                "SELECT * FROM scheduler_runs WHERE job = ? AND fire_time = ?", key
            ).fetchone()
        return RunRecord.model_validate(dict(row))

    # -- reporting and the loop ----------------------------------------------------------------

    def next_runs(self, now: datetime) -> list[dict[str, Any]]:
        """Every enabled job with its next fire time after `now` (UTC ISO)."""
        out = []
        for e in self.entries:
            nxt = _after(e.trigger, now)
            out.append(
                {
                    "name": e.job.name,
                    "job": e.job.job,
                    "cron": e.job.cron,
                    "timezone": e.job.timezone,
                    "next_run": nxt.isoformat() if nxt else None,
                }
            )
        return out

    def wait_seconds(self, now: datetime, tick_seconds: float) -> float:
        """How long the loop may sleep: until the soonest upcoming fire time, at most a tick."""
        ahead = [(e.upcoming - now).total_seconds() for e in self.entries if e.upcoming]
        return max(0.01, min([tick_seconds, *(a + 0.01 for a in ahead if a > 0)]))

    def run_forever(self, stop: threading.Event, *, tick_seconds: float = 15.0) -> None:
        """The loop: `run_due(clock())`, then sleep until the next fire time or `stop`."""
        while not stop.is_set():
            try:
                self.run_due(self.clock(), stopping=stop.is_set)
            except Exception:
                log.exception("scheduler tick failed; retrying in %.0fs", tick_seconds)
            stop.wait(self.wait_seconds(self.clock(), tick_seconds))


class SchedulerThread:
    """`Scheduler.run_forever` on a background thread with a bounded, graceful stop."""

    def __init__(self, scheduler: Scheduler, tick_seconds: float = 15.0) -> None:
        self.scheduler = scheduler
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=scheduler.run_forever,
            args=(self.stop_event,),
            kwargs={"tick_seconds": tick_seconds},
            name="finops-scheduler",
            daemon=True,
        )

    def start(self) -> SchedulerThread:
        self.thread.start()
        return self

    def stop(self, grace_seconds: float) -> bool:
        """Take no new job; wait up to `grace_seconds` for a running one. True when stopped."""
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=grace_seconds)
        return not self.thread.is_alive()
