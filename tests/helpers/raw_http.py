"""Raw-socket HTTP for tests that must send what no well-behaved client would: half-sent
requests, oversized or never-finished bodies, malformed headers."""

from __future__ import annotations

import socket
import time

from tools.events.server import ThreadedServer

__all__ = ["connect", "head", "response"]


def connect(server: ThreadedServer) -> socket.socket:
    """A TCP connection to `server` on 127.0.0.1, Nagle off so each send leaves at once."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(path: str, headers: dict[str, str]) -> bytes:
    """The request line and headers of a POST to `path`, ending with the blank line."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(sock: socket.socket, timeout: float = 10) -> tuple[int, bytes, bool]:
    """Status, everything received, and whether the server closed the connection."""
    sock.settimeout(timeout)
    data, closed = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data, closed
