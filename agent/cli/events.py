"""`finops events`: serve the usage-event endpoint with real-time runaway-agent detection."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from agent.cli.render import err_console
from agent.context import AppContext
from agent.runtime.runner import Runtime
from agent.serve.events import (
    alert_worker,
    bearer_token,
    build_service,
    events_settings,
    serve_until_signal,
)
from tools.events.app import create_app
from warehouse.errors import FinopsError

__all__ = ["register"]


def events_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8787,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level (warning, info, debug).")
    ] = "warning",
) -> None:
    """Serve POST /v1/usage-events (JSON lines, OpenTelemetry GenAI attributes), GET /v1/runaway
    and GET /healthz; flag runaway agents within seconds. Ctrl-C or SIGTERM stops it after
    storing every buffered event."""
    app: AppContext = ctx.obj
    settings = events_settings(app)
    token = bearer_token(settings, host, os.environ)
    app.home.ensure()
    rt = Runtime(app)
    started = False
    alerts = alert_worker(app, rt)
    try:
        service = build_service(app, rt, on_flag=alerts)
        auth = f"bearer token from {settings.token_env}" if token else "none (loopback only)"
        err_console.print(
            f"finops events: http://{host}:{port}/v1/usage-events · /v1/runaway · /healthz · "
            f"auth: {auth} · warehouse {app.warehouse_path}",
            markup=False,
        )
        started = serve_until_signal(
            create_app(service, token=token), host, port, log_level, service, "finops events"
        )
    finally:
        if alerts is not None:
            alerts.stop()
        rt.close()
    if not started:
        raise FinopsError(f"the event server did not start on {host}:{port} (see the log above)")


def register(app: typer.Typer) -> None:
    app.command("events")(events_command)
