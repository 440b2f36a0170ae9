"""The usage-event service as `finops events` and `finops serve` run it: settings, bearer token,
alert worker, the service over the warehouse, and serving until SIGINT/SIGTERM."""

from __future__ import annotations

import ipaddress
import signal
from collections.abc import Callable, Mapping
from datetime import datetime
from types import FrameType
from typing import Any

import duckdb

import tools.events.agent_tools  # noqa: F401  (registers the disable_api_key action)
from agent.console import err_console
from agent.context import AppContext
from agent.runtime.runner import Runtime
from tools.events.alerts import AlertWorker
from tools.events.config import EventsConfig
from tools.events.flags import FlagHook, LedgerProposer
from tools.events.server import ServerLimits, serve
from tools.events.service import EventService
from tools.notify.config import NotifyConfig
from warehouse.clock import utc_now
from warehouse.db import connect
from warehouse.errors import ConfigError

__all__ = [
    "alert_worker",
    "bearer_token",
    "build_service",
    "events_settings",
    "serve_until_signal",
]


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
    pipeline stored; False when the server did not start. Connection limits (read deadline,
    concurrency) come from the `events:` section."""
    limits = ServerLimits(
        read_timeout_seconds=service.events.read_timeout_seconds,
        max_concurrency=service.events.max_connections,
    )
    received: list[int] = []
    previous = _record_signals(received)
    try:
        started = serve(asgi, host, port, log_level, limits)
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
    clock: Callable[[], datetime] = utc_now,
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
    return AlertWorker(notify, rt.store, utc_now).start()
