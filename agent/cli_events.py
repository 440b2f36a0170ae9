"""`finops events`: serve the usage-event endpoint with real-time runaway-agent detection."""

from __future__ import annotations

import ipaddress
import os
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any

import duckdb
import typer

import tools.events.actions  # noqa: F401  (registers the disable_api_key action)
from agent.context import AppContext
from agent.errors import ConfigError, FinopsError
from agent.render import err_console
from agent.runtime import Runtime
from tools.events.alerts import AlertWorker
from tools.events.app import create_app
from tools.events.config import EventsConfig
from tools.events.flags import FlagHook, LedgerProposer
from tools.events.server import serve
from tools.events.service import EventService
from tools.notify_config import NotifyConfig
from warehouse.db import connect

__all__ = ["alert_worker", "build_service", "register"]


def _now() -> datetime:
    return datetime.now(UTC)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def events_settings(app: AppContext) -> EventsConfig:
    section = getattr(app.config, "events", None)
    return section if isinstance(section, EventsConfig) else EventsConfig()


def bearer_token(settings: EventsConfig, host: str, environ: Mapping[str, str]) -> str | None:
    """The token from the configured variable; refuse to serve beyond loopback without one."""
    token = environ.get(settings.token_env, "").strip() or None
    if token is None and not _loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a bearer token: set {settings.token_env} "
            "(events.token_env) or listen on 127.0.0.1"
        )
    return token


_Handler = Callable[[int, FrameType | None], Any] | int | None


def _record_signals(received: list[int]) -> dict[signal.Signals, _Handler]:
    """Let SIGTERM / SIGINT end the server gracefully and the command exit 0 afterwards.

    uvicorn traps both while serving (graceful shutdown: in-flight requests, then the lifespan
    flushes the buffer) and re-raises the signal once done; with these recording handlers in
    place the re-raise only notes it, so the command can report what was stored. Returns the
    previous handlers.
    """
    previous: dict[signal.Signals, _Handler] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda number, frame: received.append(number))
    return previous


def serve_until_signal(
    asgi: Any, host: str, port: int, log_level: str, service: EventService, name: str
) -> bool:
    """Serve `asgi` until SIGTERM / SIGINT (see `_record_signals`), then report what the event
    pipeline stored; False when the server did not start."""
    received: list[int] = []
    previous = _record_signals(received)
    try:
        started = serve(asgi, host, port, log_level)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if started:
        why = f" by {signal.Signals(received[0]).name}" if received else ""
        err_console.print(
            f"{name}: stopped{why}; {service.stored_events:,} event(s) stored, "
            f"{service.pending_events:,} left unstored",
            markup=False,
        )
    return started


def build_service(
    app: AppContext,
    rt: Runtime,
    clock: Callable[[], datetime] = _now,
    on_flag: FlagHook | None = None,
) -> EventService:
    """The pipeline over this home: warehouse opened per flush, proposals through the ledger."""
    path = app.warehouse_path

    def open_warehouse() -> duckdb.DuckDBPyConnection:
        return connect(path)

    return EventService(
        config=app.config,
        open_warehouse=open_warehouse,
        store=rt.store,
        clock=clock,
        proposer=LedgerProposer(rt.ledger, rt.start_action),
        on_flag=on_flag,
    )


def alert_worker(app: AppContext, rt: Runtime) -> AlertWorker | None:
    """Owner alerts for flags when `notify:` has channels (delivered on their own thread)."""
    notify = getattr(app.config, "notify", None)
    if not isinstance(notify, NotifyConfig) or not notify.channels:
        return None
    return AlertWorker(notify, rt.store, _now).start()


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
