"""Serving the event app with uvicorn: in the foreground (`finops events`) or in a thread (tests,
the benchmark).

Graceful shutdown is uvicorn's: on SIGTERM or SIGINT it stops accepting connections, finishes the
requests in flight, then runs the app's lifespan shutdown, which flushes every buffered event to
the warehouse before the process exits.

Slow and half-sent requests are bounded (`ServerLimits`): a connection must deliver a whole
request — headers and body — within `read_timeout_seconds` of connecting (or of its previous
response), else it is closed; idle keep-alive connections close after `keep_alive_seconds`; beyond
`max_concurrency` open connections or tasks uvicorn answers 503; headers are capped at
`max_header_bytes` (400). Body sizes are the apps' own business (413 while streaming).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ServerLimits", "ThreadedServer", "serve"]

GRACEFUL_SECONDS = 30


@dataclass(frozen=True)
class ServerLimits:
    """Connection-level limits of the HTTP server (see the module docstring)."""

    read_timeout_seconds: float = 30.0
    keep_alive_seconds: int = 5
    max_concurrency: int = 1000
    max_header_bytes: int = 16 * 1024


class _DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a read deadline: the client has `read_timeout_seconds` from
    connecting (or from the previous response) to send a complete request. uvicorn's own
    keep-alive timer is reset by every byte, so a client trickling headers or a body would
    otherwise hold its connection (and a slot) forever."""

    read_timeout = ServerLimits.read_timeout_seconds
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._track()

    def handle_events(self) -> None:
        super().handle_events()
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _track(self) -> None:
        """Arm the deadline while we wait on the client for (part of) a request; disarm it once
        the request is complete (the app may then take its time) or the connection is closing."""
        waiting = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        if not waiting or self.transport is None or self.transport.is_closing():
            self._cancel_deadline()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection: no complete request in %ss", self.read_timeout)
            self.transport.close()


def _config(app: Any, host: str, port: int, log_level: str, limits: ServerLimits) -> uvicorn.Config:
    protocol = type(
        "DeadlineProtocol", (_DeadlineProtocol,), {"read_timeout": limits.read_timeout_seconds}
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
        http=protocol,
        timeout_keep_alive=limits.keep_alive_seconds,
        limit_concurrency=limits.max_concurrency,
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )


def serve(
    app: Any,
    host: str,
    port: int,
    log_level: str = "warning",
    limits: ServerLimits = ServerLimits(),
) -> bool:
    """Run until SIGTERM / SIGINT (the lifespan flushes buffered events on the way out); False
    when the server never started (port taken, warehouse unusable: uvicorn logged why)."""
    server = uvicorn.Server(_config(app, host, port, log_level, limits))
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; it logged why
        return False
    return bool(server.started)


class ThreadedServer:
    """The app on 127.0.0.1 (an ephemeral port) in a background thread.

    The listening socket is bound and listening before the thread starts, so a client may connect
    at once (the kernel queues it until uvicorn accepts); `stop` asks uvicorn to exit gracefully
    (lifespan shutdown included) and joins the thread.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        log_level: str = "warning",
        limits: ServerLimits = ServerLimits(),
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(_config(app, host, self.port, log_level, limits))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="finops-events", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:
            self.error = exc

    def start(self) -> ThreadedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=GRACEFUL_SECONDS + 5)
        self.sock.close()
        if self.error is not None:
            raise RuntimeError(f"event server failed: {self.error}") from self.error

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
