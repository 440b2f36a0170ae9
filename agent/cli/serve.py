"""`finops serve`: the long-running process — health, usage events, Slack and the scheduler."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from agent.cli.render import err_console
from agent.context import AppContext
from agent.serve.app import ServeOptions, ServeStack, build_stack
from agent.serve.events import serve_until_signal
from warehouse.errors import FinopsError

__all__ = ["register", "serve_command"]


def _schedule(stack: ServeStack) -> str:
    """The jobs the scheduler will actually run: the enabled configured ones plus the `cards`
    outbox job added when Slack is on (not the raw `schedule:` list)."""
    if not stack.options.scheduler:
        return "off (--no-scheduler)"
    if stack.scheduler is None:
        return "off (no enabled schedule: jobs)"
    return ", ".join(
        f"{e.job.name} ({e.job.job}, {e.job.cron} {e.job.timezone})"
        for e in stack.scheduler.entries
    )


def _banner(stack: ServeStack) -> str:
    o = stack.options
    sched = _schedule(stack)
    return (
        f"finops serve: http://{o.host}:{o.port}/healthz · /v1/usage-events · /v1/runaway"
        + (" · /slack/events" if stack.slack.mode == "http" else "")
        + f" · slack: {stack.slack.mode} ({stack.slack.detail}) · scheduler: {sched}"
    )


def serve_command(
    ctx: typer.Context,
    http: Annotated[
        bool, typer.Option("--http", help="Slack over HTTP (POST /slack/events), not Socket Mode.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8787,
    no_slack: Annotated[bool, typer.Option("--no-slack", help="Do not start Slack.")] = False,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not run the schedule: jobs.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(help="Seconds a running scheduled job may take to finish on shutdown.", min=0),
    ] = 120.0,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level (warning, info, debug).")
    ] = "warning",
) -> None:
    """Run the FinOps service: GET /healthz, the usage-event endpoint, the Slack app (Socket
    Mode by default, --http for POST /slack/events) and the scheduled jobs of `schedule:`.
    SIGTERM or Ctrl-C stops it gracefully (running job finished, events flushed), exit 0."""
    app: AppContext = ctx.obj
    options = ServeOptions(
        host=host,
        port=port,
        http=http,
        slack=not no_slack,
        scheduler=not no_scheduler,
        grace_seconds=grace,
    )
    stack = build_stack(app, options, os.environ)
    started = False
    try:
        err_console.print(_banner(stack), markup=False, soft_wrap=True)
        started = serve_until_signal(
            stack.asgi, host, port, log_level, stack.service, "finops serve"
        )
    finally:
        stack.close()
    if not started:
        raise FinopsError(f"finops serve did not start on {host}:{port} (see the log above)")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
