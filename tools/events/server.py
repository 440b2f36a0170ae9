"""Serving the event app with uvicorn: in the foreground (`finops events`) or in a thread (tests,
the benchmark).

Graceful shutdown is uvicorn's: on SIGTERM or SIGINT it stops accepting connections, finishes the
requests in flight, then runs the app's lifespan shutdown, which flushes every buffered event to
the warehouse before the process exits.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["ThreadedServer", "serve"]

GRACEFUL_SECONDS = 30


def _config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
    )


def serve(app: Any, host: str, port: int, log_level: str = "warning") -> bool:
    """Run until SIGTERM / SIGINT (the lifespan flushes buffered events on the way out); False
    when the server never started (port taken, warehouse unusable: uvicorn logged why)."""
    server = uvicorn.Server(_config(app, host, port, log_level))
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

    def __init__(self, app: Any, host: str = "127.0.0.1", log_level: str = "warning") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(_config(app, host, self.port, log_level))
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
