"""`finops serve` as parts: one Starlette app (health, usage events, Slack over HTTP), Slack Socket
Mode, and the scheduler, started and stopped together by the app's lifespan.

- `/healthz`: JSON with `ok`, `version`, whether the warehouse and the state store answer, the
  scheduler's next and last runs, the Slack mode, and the event pipeline's own health; 200 when
  the warehouse, the state store and the event pipeline are fine, else 503.
- `/v1/usage-events`, `/v1/runaway`: the routes of `tools.events.app.create_app` (same objects,
  same lifespan: the buffer is flushed on shutdown), guarded by the same bearer-token rule as
  `finops events` (required unless listening on loopback).
- Slack: off unless the bot token is set (and not `--no-slack`). Socket Mode by default (needs the
  app-level `xapp-` token; no public URL); with `--http`, `POST /slack/events` on this app.
- Scheduler: the `schedule:` jobs on a background thread (`agent.serve.scheduler`), with its own
state
  connection; off with `--no-scheduler` or when nothing is scheduled.

Shutdown (SIGTERM / SIGINT, through uvicorn): stop accepting connections and finish requests in
flight; the scheduler takes no new job and a running one gets `grace_seconds` to finish; Socket
Mode disconnects; the event buffer is flushed; then the runtimes close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent.context import AppContext
from agent.runtime.runner import Runtime
from agent.serve.events import alert_worker, bearer_token, build_service, events_settings
from agent.serve.jobs import JobServices, build_runners
from agent.serve.scheduler import Scheduler, SchedulerThread, last_runs
from agent.serve.scheduler_config import with_card_outbox
from agent.slack.app import SlackApp, build_slack_app
from agent.slack.secrets import load_tokens
from tools.events.alerts import AlertWorker
from tools.events.app import create_app
from tools.events.service import EventService
from warehouse.clock import utc_now
from warehouse.db import connect
from warehouse.errors import ConfigError

__all__ = ["ServeOptions", "ServeStack", "SlackSetup", "build_stack", "package_version"]

log = logging.getLogger("finops.serve")


def package_version() -> str:
    try:
        return version("agentic-finops")
    except PackageNotFoundError:
        return "0+unknown"


class ServeOptions(BaseModel):
    """The command line of `finops serve`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    http: bool = False
    slack: bool = True
    scheduler: bool = True
    tick_seconds: float = Field(default=15.0, gt=0)
    grace_seconds: float = Field(default=120.0, ge=0)


SlackMode = Literal["off", "socket", "http"]


@dataclass
class SlackSetup:
    mode: SlackMode
    detail: str
    app: SlackApp | None = None
    socket: Any = None


def setup_slack(
    app: AppContext,
    options: ServeOptions,
    environ: Mapping[str, str],
    clock: Callable[[], datetime] = utc_now,
) -> SlackSetup:
    """Build the Slack app when Slack is configured (its bot token is set): Socket Mode unless
    `--http`.

    Tokens come only from the environment or `slack.secrets_file` (`agent.slack.secrets`), under
    the variable names of the `slack:` section, and are never printed. `slack.base_url` points the
    Web API client elsewhere (dev mode: the double on 127.0.0.1)."""
    if not options.slack:
        return SlackSetup("off", "disabled with --no-slack")
    cfg = app.config.slack
    tokens = load_tokens(cfg, environ)
    if tokens.bot is None:
        return SlackSetup("off", f"not configured ({cfg.bot_token_env} is not set)")
    if options.http and tokens.signing_secret is None:
        raise ConfigError(
            f"Slack over HTTP needs the signing secret in {cfg.signing_secret_env} to verify "
            "requests; set it (or run with --no-slack)"
        )
    if not options.http and tokens.app is None:
        raise ConfigError(
            f"Slack Socket Mode needs the app-level token (xapp-…) in {cfg.app_token_env}; set "
            "it, or serve Slack over HTTP with --http (or run with --no-slack)"
        )
    slack = build_slack_app(app, environ=environ, clock=clock)
    if options.http:
        return SlackSetup("http", "Slack events on POST /slack/events", slack)
    return SlackSetup("socket", "Slack over Socket Mode", slack, slack.socket_mode_handler())


@dataclass
class ServeStack:
    """Everything one `finops serve` process runs; `asgi` is what uvicorn serves."""

    app: AppContext
    options: ServeOptions
    rt: Runtime
    service: EventService
    events_app: Starlette
    slack: SlackSetup
    alerts: AlertWorker | None = None
    scheduler: Scheduler | None = None
    sched_rt: Runtime | None = None
    thread: SchedulerThread | None = None
    clock: Callable[[], datetime] = utc_now
    asgi: Starlette = field(init=False)

    def __post_init__(self) -> None:
        self.asgi = _asgi(self)

    # -- lifecycle (called from the lifespan, in a worker thread) ------------------------------

    def start_background(self) -> None:
        resumed = self.rt.resume_approved()  # approvals a crashed process left unexecuted
        if resumed:
            log.warning(
                "start: drove %d approved proposal(s) to execution: %s",
                len(resumed),
                ", ".join(resumed),
            )
        if self.slack.socket is not None:
            self.slack.socket.connect()
        if self.scheduler is not None:
            self.thread = SchedulerThread(self.scheduler, self.options.tick_seconds).start()

    def stop_background(self) -> None:
        if self.thread is not None and not self.thread.stop(self.options.grace_seconds):
            run = self.scheduler.current if self.scheduler else None
            log.error(
                "shutdown: scheduled run %s still running after %.0fs; its lease will expire "
                "and it will be recorded as abandoned",
                f"{run.job}@{run.fire_time.isoformat()}" if run else "?",
                self.options.grace_seconds,
            )
        if self.slack.socket is not None:
            with contextlib.suppress(Exception):
                self.slack.socket.close()

    def close(self) -> None:
        """Release everything (after the server stopped)."""
        if self.slack.app is not None:
            self.slack.app.close()
        if self.alerts is not None:
            self.alerts.stop()
        if self.sched_rt is not None and (self.thread is None or not self.thread.thread.is_alive()):
            self.sched_rt.close()
        self.rt.close()

    # -- health --------------------------------------------------------------------------------

    def _warehouse(self) -> dict[str, Any]:
        path = self.app.warehouse_path
        try:
            con = connect(path)
            try:
                con.execute("SELECT 1").fetchone()
            finally:
                con.close()
        except Exception as exc:
            return {"reachable": False, "path": str(path), "error": str(exc).splitlines()[0]}
        return {"reachable": True, "path": str(path)}

    def _state(self) -> dict[str, Any]:
        try:
            row = self.rt.store.query("SELECT MAX(version) AS v FROM state_migrations")
        except Exception as exc:
            return {"reachable": False, "backend": self.rt.store.backend, "error": str(exc)}
        return {"reachable": True, "backend": self.rt.store.backend, "schema": row[0]["v"]}

    def _scheduler(self) -> dict[str, Any]:
        if self.scheduler is None:
            why = "--no-scheduler" if not self.options.scheduler else "no schedule: jobs"
            return {"enabled": False, "detail": why, "jobs": []}
        current = self.scheduler.current
        try:
            last: dict[str, Any] = {k: v.model_dump() for k, v in last_runs(self.rt.store).items()}
        except Exception as exc:
            last = {"error": str(exc)}
        return {
            "enabled": True,
            "replica": self.scheduler.replica,
            "jobs": self.scheduler.next_runs(self.clock()),
            "running": current.model_dump(mode="json") if current else None,
            "last_runs": last,
        }

    def health(self) -> dict[str, Any]:
        warehouse, state, events = self._warehouse(), self._state(), self.service.health()
        return {
            "ok": bool(warehouse["reachable"] and state["reachable"] and events["ok"]),
            "version": package_version(),
            "warehouse": warehouse,
            "state": state,
            "scheduler": self._scheduler(),
            "slack": {"mode": self.slack.mode, "detail": self.slack.detail},
            "events": events,
        }


def _asgi(stack: ServeStack) -> Starlette:
    async def healthz(request: Request) -> Response:
        report = await asyncio.to_thread(stack.health)
        return JSONResponse(report, status_code=200 if report["ok"] else 503)

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    routes += [r for r in stack.events_app.routes if getattr(r, "path", None) != "/healthz"]
    if stack.slack.mode == "http" and stack.slack.app is not None:
        routes += stack.slack.app.starlette_routes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with stack.events_app.router.lifespan_context(stack.events_app):
            await asyncio.to_thread(stack.start_background)
            try:
                yield
            finally:
                await asyncio.to_thread(stack.stop_background)

    return Starlette(routes=routes, lifespan=lifespan)


def build_stack(
    app: AppContext,
    options: ServeOptions,
    environ: Mapping[str, str],
    *,
    clock: Callable[[], datetime] = utc_now,
) -> ServeStack:
    """Open the runtimes and build every part; nothing runs until the lifespan starts."""
    token = bearer_token(events_settings(app), options.host, environ)
    app.home.ensure()
    rt = Runtime(app, clock=clock, environ=environ)
    opened: list[Callable[[], None]] = [rt.close]
    try:
        alerts = alert_worker(app, rt)
        if alerts is not None:
            opened.append(alerts.stop)
        service = build_service(app, rt, clock=clock, on_flag=alerts)
        slack = setup_slack(app, options, environ, clock)
        if slack.app is not None:
            opened.append(slack.app.close)
        scheduler, sched_rt = None, None
        jobs = with_card_outbox(app.config.schedule, slack.app is not None)
        if options.scheduler and any(j.enabled for j in jobs):
            sched_rt = Runtime(app, clock=clock, environ=environ)
            opened.append(sched_rt.close)
            services = JobServices(app, sched_rt, slack.app, environ)
            scheduler = Scheduler(
                jobs,
                sched_rt.store,
                build_runners(services),
                started_at=clock(),
                clock=clock,
            )
        return ServeStack(
            app=app,
            options=options,
            rt=rt,
            service=service,
            events_app=create_app(service, token=token),
            slack=slack,
            alerts=alerts,
            scheduler=scheduler,
            sched_rt=sched_rt,
            clock=clock,
        )
    except BaseException:
        for close in reversed(opened):
            with contextlib.suppress(Exception):
                close()
        raise
