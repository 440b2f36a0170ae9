"""`finops serve --http`: request-size caps, read deadlines and malformed Slack headers, over real
HTTP on 127.0.0.1 (raw sockets, so the client can lie about sizes and stop half-way).

An oversized `POST /slack/events` is refused with 413 from its `Content-Length` and the connection
closed before the body is read; a chunked body is refused as it streams past the cap; a missing or
non-numeric `X-Slack-Request-Timestamp` is 401 (never 500); 50 half-sent requests held open do not
keep `/healthz` from answering, and the read deadline closes them."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent.context import AppContext
from agent.serve.app import ServeOptions, ServeStack, build_stack
from agent.slack.app import MAX_BODY_BYTES
from tests.doubles.slack import SlackDouble, sign
from tests.helpers.raw_http import connect as _connect
from tests.helpers.raw_http import head as _head
from tests.helpers.raw_http import response as _response
from tools.events.server import ServerLimits, ThreadedServer
from warehouse.db import connect

SECRET = "limits-signing-secret"
READ_TIMEOUT = 2.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ThreadedServer, ServeStack]]:
    with SlackDouble("xoxb-dev-token") as double:
        home = tmp_path / "home"
        home.mkdir()
        (home / "finops.yaml").write_text(yaml.safe_dump({"slack": {"base_url": double.base_url}}))
        connect(home / "warehouse.duckdb").close()
        app = AppContext.create(home)
        env = {"SLACK_BOT_TOKEN": "xoxb-dev-token", "SLACK_SIGNING_SECRET": SECRET}
        stack = build_stack(app, ServeOptions(http=True, scheduler=False), env)
        limits = ServerLimits(read_timeout_seconds=READ_TIMEOUT)
        try:
            with ThreadedServer(stack.asgi, limits=limits) as server:
                yield server, stack
        finally:
            stack.close()
            app.close()


def _signed_headers(body: str = "{}") -> dict[str, str]:
    return {**sign(SECRET, body, int(time.time())), "Content-Type": "application/json"}


def test_declared_oversize_is_413_and_the_body_is_never_read(
    served: tuple[ThreadedServer, ServeStack],
) -> None:
    server, _ = served
    declared = 500 * 1024 * 1024
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(_head("/slack/events", {**_signed_headers(), "Content-Length": str(declared)}))
        sock.sendall(b"x" * 65536)
        status, data, closed = _response(sock)
        elapsed = time.monotonic() - started
    assert status == 413, data
    assert b"limit 1,048,576" in data
    assert closed and elapsed < 5  # answered and hung up, not after reading 500 MB
    # unsigned: refused (401) from the headers alone, body unread
    with _connect(server) as sock:
        sock.sendall(_head("/slack/events", {"Content-Length": str(declared)}))
        status, data, closed = _response(sock)
    assert status == 401 and closed, data


def test_chunked_oversize_is_413_while_streaming(
    served: tuple[ThreadedServer, ServeStack],
) -> None:
    server, _ = served
    headers = {**_signed_headers(), "Transfer-Encoding": "chunked"}
    piece = b"y" * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    with _connect(server) as sock:
        sock.sendall(_head("/slack/events", headers))
        try:
            for _ in range(4 * MAX_BODY_BYTES // len(piece)):  # up to 4 MiB, never finished
                sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, data, closed = _response(sock)
    assert status == 413, data
    assert b"body over 1,048,576 bytes" in data and closed


@pytest.mark.parametrize("stamp", ["abc", "", "1e9", "-5", "１２３", "9" * 40])
def test_malformed_or_missing_slack_timestamp_is_401(
    served: tuple[ThreadedServer, ServeStack], stamp: str
) -> None:
    server, _ = served
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    headers = {**_signed_headers(body), "Content-Length": str(len(body.encode()))}
    headers["X-Slack-Request-Timestamp"] = stamp
    if not stamp:
        del headers["X-Slack-Request-Timestamp"]
    with _connect(server) as sock:
        sock.sendall(_head("/slack/events", headers))
        sock.sendall(body.encode())
        status, data, _ = _response(sock)
    assert status in (400, 401), data


def test_signed_challenge_still_answers(served: tuple[ThreadedServer, ServeStack]) -> None:
    server, _ = served
    body = json.dumps({"type": "url_verification", "challenge": "c-7"})
    headers = {**_signed_headers(body), "Content-Length": str(len(body)), "Connection": "close"}
    with _connect(server) as sock:
        sock.sendall(_head("/slack/events", headers) + body.encode())
        status, data, _ = _response(sock)
    assert status == 200 and b"c-7" in data, data


def test_half_sent_requests_do_not_lock_out_healthz_and_time_out(
    served: tuple[ThreadedServer, ServeStack],
) -> None:
    server, _ = served
    held: list[socket.socket] = []
    try:
        for n in range(50):
            sock = _connect(server)
            if n % 2:  # headers never finished
                sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slack-")
            else:  # headers done, body stops at 10 of 1,000 bytes
                head = {**_signed_headers(), "Content-Length": "1000"}
                sock.sendall(_head("/slack/events", head) + b"0123456789")
            held.append(sock)
        started = time.monotonic()
        with _connect(server) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            status, data, _ = _response(probe, timeout=5)
        assert status == 200, data
        assert time.monotonic() - started < 3
        # the read deadline closes every held connection
        for sock in held:
            _, _, closed = _response(sock, timeout=READ_TIMEOUT + 5)
            assert closed
    finally:
        for sock in held:
            sock.close()
