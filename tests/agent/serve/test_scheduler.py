"""The scheduler of `finops serve`, driven by an injected clock (no sleeping): jobs fire at their
cron times and not before, missed fire times coalesce into one run, two replicas (two processes,
each with its own state connection on one state.db) run each fire time exactly once, a dead
replica's lease expires, a running job is let finish on stop, and a real sweep runs on schedule."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Home, load_config
from agent.context import AppContext
from agent.demo.build import build_demo
from agent.runtime.runner import Runtime
from agent.serve.jobs import JobServices, build_runners
from agent.serve.scheduler import JobSkipped, ScheduledRun, Scheduler, SchedulerThread, last_runs
from agent.serve.scheduler_config import JOB_KINDS, ScheduledJob
from warehouse.demo import DEMO_CONFIG
from warehouse.errors import ConfigError
from warehouse.state.store import StateStore, utc_text

START = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)  # a Saturday


def at(hour: int, minute: int = 0, day: int = 28) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def hourly(**kw: Any) -> ScheduledJob:
    return ScheduledJob(**{"name": "hourly-sweep", "cron": "0 * * * *", "job": "sweep", **kw})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """The state store on SQLite, and on the test PostgreSQL (several replicas' backend)."""
    target = (
        tmp_path / "state.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    s = StateStore(target)
    yield s
    s.close()


class Recorder:
    """Runner for every job kind that records what ran (and can fail or skip on demand)."""

    def __init__(self) -> None:
        self.runs: list[ScheduledRun] = []
        self.fail: Exception | None = None

    def __call__(self, run: ScheduledRun) -> str:
        self.runs.append(run)
        if self.fail is not None:
            raise self.fail
        return f"ran {run.job}"

    @property
    def times(self) -> list[datetime]:
        return [r.fire_time for r in self.runs]


def scheduler(
    store: StateStore, rec: Recorder, *jobs: ScheduledJob, started_at: datetime = START
) -> Scheduler:
    return Scheduler(
        list(jobs) or [hourly()],
        store,
        dict.fromkeys(JOB_KINDS, rec),
        started_at=started_at,
        clock=lambda: started_at,
        replica="test",
    )


def rows(store: StateStore) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query("SELECT * FROM scheduler_runs ORDER BY job, fire_time")]


# -- firing on time ------------------------------------------------------------------------------


def test_fires_at_the_cron_time_and_not_before(store: StateStore) -> None:
    rec = Recorder()
    s = scheduler(store, rec)
    assert s.due(START) == [] and s.run_due(at(10, 59)) == []
    assert s.run_due(at(10, 59) + timedelta(seconds=59.999)) == []
    assert rec.runs == []  # a first start runs nothing retroactively
    done = s.run_due(at(11))
    assert rec.times == [at(11)]
    assert [(d.job, d.status, d.detail) for d in done] == [
        ("hourly-sweep", "done", "ran hourly-sweep")
    ]
    assert s.run_due(at(11, 30)) == [] and rec.times == [at(11)]  # once per fire time
    s.run_due(at(12) + timedelta(seconds=1))
    assert rec.times == [at(11), at(12)]
    assert [r["status"] for r in rows(store)] == ["done", "done"]
    assert s.next_runs(at(12) + timedelta(seconds=1))[0]["next_run"] == at(13).isoformat()


def test_weekday_numbers_and_time_zones_mean_what_cron_means(store: StateStore) -> None:
    s = scheduler(
        store,
        Recorder(),
        ScheduledJob(name="monday", cron="0 9 * * 1", job="digest"),
        ScheduledJob(name="sunday", cron="0 0 * * 0", job="cards"),
        ScheduledJob(name="paris", cron="0 8 * * *", job="digest", timezone="Europe/Paris"),
    )
    nxt = {j["name"]: j["next_run"] for j in s.next_runs(START)}
    assert nxt == {
        "monday": "2026-11-30T09:00:00+00:00",  # 0 = Sunday, 1 = Monday, as in crontab(5)
        "sunday": "2026-11-29T00:00:00+00:00",
        "paris": "2026-11-29T07:00:00+00:00",  # 08:00 CET
    }


def test_missed_fire_times_coalesce_into_one_run_after_downtime(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    rec = Recorder()
    first = StateStore(path)
    scheduler(first, rec, started_at=at(2, 30)).run_due(at(3))
    first.close()  # the replica goes down at 03:00 and comes back at 10:30
    again = StateStore(path)
    s = scheduler(again, rec, started_at=START)
    done = s.run_due(START)
    assert rec.times == [at(3), at(10)]  # 04:00 … 09:00 are not run one by one
    assert (done[0].fire_time, done[0].coalesced) == (utc_text(at(10)), 6)
    assert s.run_due(START + timedelta(minutes=20)) == []
    s.run_due(at(11))
    assert rec.times == [at(3), at(10), at(11)]
    again.close()


def test_misfire_grace_records_a_too_late_run_as_missed(store: StateStore) -> None:
    rec = Recorder()
    job = hourly(misfire_grace_minutes=10)
    scheduler(store, rec, job, started_at=at(2, 30)).run_due(at(3))
    s = scheduler(store, rec, job)
    assert s.run_due(START) == [] and rec.times == [at(3)]
    assert (
        rows(store)[-1]["status"] == "missed"
        and "misfire_grace_minutes" in rows(store)[-1]["detail"]
    )
    s.run_due(at(11, 5))
    assert rec.times == [at(3), at(11)]


def test_failures_and_skips_are_recorded_and_the_next_fire_time_still_runs(
    store: StateStore,
) -> None:
    rec = Recorder()
    s = scheduler(store, rec)
    rec.fail = RuntimeError("warehouse on fire")
    assert s.run_due(at(11))[0].status == "failed"
    rec.fail = JobSkipped("Slack is not configured")
    assert s.run_due(at(12))[0].status == "skipped"
    rec.fail = None
    s.run_due(at(13))
    got = [(r["status"], r["detail"]) for r in rows(store)]
    assert got == [
        ("failed", "RuntimeError: warehouse on fire"),
        ("skipped", "Slack is not configured"),
        ("done", "ran hourly-sweep"),
    ]
    assert last_runs(store)["hourly-sweep"].fire_time == utc_text(at(13))


# -- leases and stopping ---------------------------------------------------------------------------


def _dead_claim(store: StateStore, fire: datetime, lease_until: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO scheduler_runs (job, fire_time, kind, status, claimed_by, claimed_at, "
            "lease_until) VALUES ('hourly-sweep', ?, 'sweep', 'running', 'dead-replica', ?, ?)",
            (utc_text(fire), utc_text(fire), utc_text(lease_until)),
        )


def test_a_live_lease_holds_the_job_and_an_expired_one_is_abandoned(store: StateStore) -> None:
    rec = Recorder()
    _dead_claim(store, at(11), lease_until=at(12, 30))
    s = scheduler(store, rec)
    assert s.run_due(at(12)) == [] and s.run_due(at(12, 20)) == []  # 11:00 still running
    assert rec.runs == []
    s.run_due(at(12, 30))  # the lease is over: 11:00 abandoned (never re-run), 12:00 runs late
    assert rec.times == [at(12)]
    got = [(r["fire_time"], r["status"], r["claimed_by"]) for r in rows(store)]
    assert got == [
        (utc_text(at(11)), "abandoned", "dead-replica"),
        (utc_text(at(12)), "done", "test"),
    ]


def test_stopping_takes_no_new_job_but_lets_the_running_one_finish(store: StateStore) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(run: ScheduledRun) -> str:
        started.set()
        assert release.wait(30)
        return "finished"

    s = Scheduler(
        [hourly(), hourly(name="second")],
        store,
        {"sweep": slow},
        started_at=START,
        clock=lambda: at(11),
    )
    thread = SchedulerThread(s, tick_seconds=0.05).start()
    assert started.wait(30)
    assert thread.stop(grace_seconds=0.05) is False  # bounded wait: still running
    assert s.current is not None and s.current.job == "hourly-sweep"
    release.set()
    assert thread.stop(grace_seconds=30) is True
    got = [(r["job"], r["status"], r["detail"]) for r in rows(store)]
    assert got == [("hourly-sweep", "done", "finished")]  # `second` was not taken


# -- two replicas ----------------------------------------------------------------------------------

STEPS = [
    at(11),
    at(11) + timedelta(seconds=1),
    at(12),
    at(12, 30),
    at(13),
    at(14),
    at(14, 1),
    at(15),
    at(16),
]


def _replica(state: str, log: str, barrier: Any) -> None:
    store = StateStore(state)

    def runner(run: ScheduledRun) -> str:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {run.fire_time.isoformat()}\n")
        return "ran"

    s = Scheduler([hourly()], store, {"sweep": runner}, started_at=START, clock=lambda: START)
    for now in STEPS:
        barrier.wait(timeout=60)
        s.run_due(now)
    store.close()


@pytest.mark.slow
def test_two_replica_processes_run_each_fire_time_exactly_once(tmp_path: Path) -> None:
    state, log = tmp_path / "state.db", tmp_path / "runs.log"
    StateStore(state).close()
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(2)
    procs = [mp.Process(target=_replica, args=(str(state), str(log), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    ran = [line.split() for line in log.read_text().splitlines()]
    expected = [at(h).isoformat() for h in (11, 12, 13, 14, 15, 16)]
    assert sorted(fire for _pid, fire in ran) == expected  # one execution per fire time
    check = StateStore(state)
    got = [(r["fire_time"], r["status"]) for r in rows(check)]
    check.close()
    assert got == [(utc_text(at(h)), "done") for h in (11, 12, 13, 14, 15, 16)]


# -- config ----------------------------------------------------------------------------------------


def test_a_bad_cron_expression_is_a_config_error_naming_the_job(tmp_path: Path) -> None:
    doc = {"schedule": [{"name": "nightly-digest", "cron": "0 25 * * *", "job": "digest"}]}
    (tmp_path / "finops.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(
        ConfigError, match=r"schedule\.0: .*job 'nightly-digest': cron '0 25 \* \* \*' is invalid"
    ):
        load_config(Home(tmp_path))
    doc["schedule"][0].update(cron="0 8 * * *", timezone="Europe/Pariss")
    (tmp_path / "finops.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(
        ConfigError, match="job 'nightly-digest': unknown time zone 'Europe/Pariss'"
    ):
        load_config(Home(tmp_path))
    twice = [{"name": "a", "cron": "0 * * * *", "job": "sweep"}] * 2
    (tmp_path / "finops.yaml").write_text(yaml.safe_dump({"schedule": twice}))
    with pytest.raises(ConfigError, match="names must be unique: a"):
        load_config(Home(tmp_path))


# -- a real sweep on schedule ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("sched-demo")
    shutil.copy(DEMO_CONFIG, home / "finops.yaml")
    app = AppContext.create(home)
    build_demo(app.warehouse(), app.config, home / "demo")
    app.close()
    return home


@pytest.mark.slow
def test_the_scheduled_sweep_runs_the_real_sweep_once_per_fire_time(demo_home: Path) -> None:
    app = AppContext.create(demo_home)
    rt = Runtime(app, clock=lambda: START, environ={})
    try:
        s = Scheduler(
            [hourly(), ScheduledJob(name="digest", cron="15 * * * *", job="digest")],
            rt.store,
            build_runners(JobServices(app, rt, None, {})),
            started_at=START,
            clock=lambda: START,
        )
        assert s.run_due(at(10, 59)) == []
        assert rt.store.query("SELECT count(*) AS n FROM sweeps")[0]["n"] == 0
        (sweep,) = s.run_due(at(11))
        assert sweep.status == "done", sweep.detail
        assert sweep.detail and "2026-10-29..2026-11-27" in sweep.detail
        recorded = rt.store.query("SELECT status FROM sweeps")
        assert [r["status"] for r in recorded] == ["done"]
        (digest,) = s.run_due(at(11, 15))
        assert (digest.status, digest.detail) == (
            "skipped",
            "Slack is not configured (or serve runs with --no-slack); no digest posted",
        )
        assert s.run_due(at(11, 50)) == []
        assert rt.store.query("SELECT count(*) AS n FROM sweeps")[0]["n"] == 1
    finally:
        rt.close()
        app.close()


def test_serve_adds_a_card_outbox_job_only_when_slack_is_on_and_none_is_configured() -> None:
    from agent.serve.scheduler_config import ScheduledJob, with_card_outbox

    sweep = ScheduledJob(name="cards", cron="5 * * * *", job="sweep")
    assert with_card_outbox([sweep], slack_on=False) == [sweep]
    jobs = with_card_outbox([sweep], slack_on=True)
    assert [(j.name, j.cron, j.job) for j in jobs] == [
        ("cards", "5 * * * *", "sweep"),
        ("cards_", "* * * * *", "cards"),  # the name keys the run lock: never shared
    ]
    off = ScheduledJob(name="c", cron="* * * * *", job="cards", enabled=False)
    assert with_card_outbox([off], slack_on=True) == [off]  # a disabled cards job turns it off
