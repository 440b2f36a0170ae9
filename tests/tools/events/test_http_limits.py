"""`finops events`: the body cap is enforced while reading and half-sent requests are bounded, over
real HTTP on 127.0.0.1 with raw sockets.

A declared `Content-Length` over `events.max_body_bytes` is 413 before the body is read (and the
connection closed, so the rest is not drained); a chunked body is 413 once it streams past the cap;
50 half-sent requests held open leave `/healthz` answering, and the read deadline closes them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.agent import Clock
from tests.helpers.events import AdminApi, Stack, serve_admin_api, start_stack
from tests.helpers.raw_http import connect as _connect
from tests.helpers.raw_http import head
from tests.helpers.raw_http import response as _response
from tools.events.app import create_app
from tools.events.config import EventsConfig
from tools.events.server import ServerLimits, ThreadedServer

TOKEN = "limits-test-token-0123456789"
CAP = 64 * 1024
READ_TIMEOUT = 2.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    api_server: Iterator[AdminApi] = serve_admin_api()
    api = next(api_server)
    stack: Stack = start_stack(
        tmp_path / "home",
        Clock(),
        api,
        token=TOKEN,
        events=EventsConfig(max_body_bytes=CAP, max_decompressed_bytes=CAP),
    )
    limits = ServerLimits(read_timeout_seconds=READ_TIMEOUT)
    try:
        with ThreadedServer(create_app(stack.service, token=TOKEN), limits=limits) as limited:
            yield limited
    finally:
        stack.stop()
        api_server.close()


def _head(headers: dict[str, str]) -> bytes:
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    return head("/v1/usage-events", {**headers, **auth})


def test_declared_oversize_is_413_before_the_body_is_read(server: ThreadedServer) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(_head({"Content-Length": str(500 * 1024 * 1024)}) + b"{" * 4096)
        status, data, closed = _response(sock)
    assert status == 413, data
    assert closed and time.monotonic() - started < 5


def test_chunked_oversize_is_413_while_streaming(server: ThreadedServer) -> None:
    piece = b"\n" * 16384
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    with _connect(server) as sock:
        sock.sendall(_head({"Transfer-Encoding": "chunked"}))
        try:
            for _ in range(16 * CAP // len(piece)):  # never finished
                sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, data, closed = _response(sock)
    assert status == 413, data
    assert b"body over 65,536 bytes" in data and closed


def test_half_sent_requests_leave_healthz_answering(server: ThreadedServer) -> None:
    held: list[socket.socket] = []
    try:
        for n in range(50):
            sock = _connect(server)
            if n % 2:
                sock.sendall(b"POST /v1/usage-events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor")
            else:
                sock.sendall(_head({"Content-Length": "1000"}) + b"{}")
            held.append(sock)
        started = time.monotonic()
        with _connect(server) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            status, data, _ = _response(probe, timeout=5)
        assert status == 200, data
        assert time.monotonic() - started < 3
        for sock in held:
            assert _response(sock, timeout=READ_TIMEOUT + 5)[2]
    finally:
        for sock in held:
            sock.close()
