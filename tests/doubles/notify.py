"""Real local servers standing in for Slack, PagerDuty, a webhook receiver and an SMTP relay.

`HttpRecorder` is an `http.server` on 127.0.0.1 that records every request and answers from a
per-path script (status, headers, body), 200 when the script is empty. `SmtpRecorder` is an
aiosmtpd server on 127.0.0.1 (optionally STARTTLS with a throwaway self-signed certificate and
AUTH LOGIN/PLAIN) that records messages and can answer DATA with scripted SMTP replies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import ssl
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["HttpRecorder", "Recorded", "SmtpRecorder", "self_signed_cert"]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpRecorder:
    """A threaded HTTP server on 127.0.0.1:0 that records requests and plays scripted replies."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: dict[str, deque[tuple[int, dict[str, str], bytes]]] = defaultdict(deque)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.requests.append(Recorded("POST", self.path, headers, body))
                queue = recorder._script[self.path]
                status, extra, reply = queue.popleft() if queue else (200, {}, b"ok")
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HttpRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(
        self, path: str, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        """Queue one reply for the next request to `path`."""
        self._script[path].append((status, headers or {}, body))

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


class _Handler:
    def __init__(self, owner: SmtpRecorder) -> None:
        self.owner = owner

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.owner.replies:
            return self.owner.replies.popleft()
        raw = envelope.original_content or b""
        self.owner.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(raw), bool(session.authenticated))
        )
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's controller bound to port 0, learning the real port before its self-check."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpRecorder:
    """An SMTP server on 127.0.0.1; `tls` (cert, key) enables STARTTLS, `login` enables AUTH."""

    tls: tuple[Path, Path] | None = None
    login: tuple[str, str] | None = None
    messages: list[tuple[list[str], Message, bool]] = field(default_factory=list)
    replies: deque[str] = field(default_factory=deque)
    logins: list[str] = field(default_factory=list)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.login
        )
        if isinstance(data, LoginPassword):
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False, auth_data=data)

    def __enter__(self) -> SmtpRecorder:
        kwargs: dict[str, Any] = {}
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self.controller = _Controller(
            _Handler(self), hostname="127.0.0.1", port=0, server_hostname="smtp.test", **kwargs
        )
        self.controller.start()
        self.port = self.controller.port
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 / localhost, valid for a day; (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def iter_parts(message: Message) -> Iterator[tuple[str, str]]:
    """(content type, decoded text) of each leaf part."""
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        yield part.get_content_type(), payload.decode(part.get_content_charset() or "utf-8")
