"""A Slack Web API double on 127.0.0.1 and requests signed exactly like Slack's.

`SlackDouble` is an `http.server` answering the Web API methods the app uses the way Slack does
(`{"ok": true, …}`; `invalid_auth` for a wrong bot token; `unknown_method` otherwise), the
`files.getUploadURLExternal` upload URL (on the double itself) and `response_url` posts, and
records every call. `sign` builds `X-Slack-Signature` (v0 HMAC-SHA256 of `v0:{ts}:{body}`) and
`X-Slack-Request-Timestamp`; `event_body`, `action_body` and `command_body` build the bodies Slack
sends: JSON for events, form-encoded `payload=` for interactivity, form fields for commands.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

__all__ = [
    "Call",
    "SlackDouble",
    "action_body",
    "command_body",
    "event_body",
    "sign",
    "view_submission_body",
]

BOT_USER = "UBOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None


class SlackDouble:
    """The Slack Web API (the methods the app calls) on 127.0.0.1:0, recording every call."""

    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}
        self.responses: list[dict[str, Any]] = []
        self.groups: dict[str, list[str]] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply = double._route(self.path, dict(self.headers.items()), body)
                data = json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> SlackDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every recorded call of one Web API method, in order."""
        with self._lock:
            return [c.args for c in self.calls if c.method == method]

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    # -- routing -------------------------------------------------------------------------------

    def _route(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path.startswith("/upload/"):
            with self._lock:
                self.uploads[path.rsplit("/", 1)[-1]] = body
            return 200, f"OK - {len(body)}".encode()
        if path.startswith("/respond/"):
            with self._lock:
                self.responses.append(json.loads(body))
            return 200, b"ok"
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "not_found"}
        method = path.removeprefix("/api/").split("?")[0]
        args = _args(headers, body)
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() or args.pop("token", None)
        with self._lock:
            self.calls.append(Call(method, args, token))
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}
        return 200, self._answer(method, args)

    def _next_ts(self) -> str:
        return f"1790000000.{next(self._ts):06d}"

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://double.slack.test/", "team": "Double",
                    "user": "finops", "team_id": "T0DOUBLE", "user_id": BOT_USER,
                    "bot_id": "B0BOT", "is_enterprise_install": False}  # fmt: skip
        if method == "chat.postMessage":
            ts = self._next_ts()
            return {"ok": True, "channel": args.get("channel"), "ts": ts,
                    "message": {"text": args.get("text"), "ts": ts}}  # fmt: skip
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0MODAL", **(args.get("view") or {})}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):06d}"
            url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
            return {"ok": True, "upload_url": url, "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = args.get("files") or []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.groups.get(str(args.get("usergroup")), [])}
        return {"ok": False, "error": "unknown_method"}


def _args(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    kind = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if "json" in kind:
        return dict(json.loads(body or b"{}"))
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    for key in ("blocks", "view", "files", "attachments"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def sign(secret: str, body: str, timestamp: int) -> dict[str, str]:
    """The headers Slack adds: v0 HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(timestamp)}


def event_body(event: dict[str, Any], event_id: str) -> str:
    """An Events API `event_callback` envelope (JSON)."""
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0DOUBLE",
            "api_app_id": "A0FINOPS",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1790000000,
            "authorizations": [{"team_id": "T0DOUBLE", "user_id": BOT_USER, "is_bot": True}],
        }
    )


def action_body(user: str, action_id: str, value: str, channel: str, ts: str) -> str:
    """A `block_actions` payload, form-encoded as `payload=` (interactivity)."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0DOUBLE"},
        "user": {"id": user, "team_id": "T0DOUBLE"},
        "api_app_id": "A0FINOPS",
        "trigger_id": f"trigger-{user}-{ts}",
        "container": {"type": "message", "channel_id": channel, "message_ts": ts},
        "channel": {"id": channel},
        "message": {"ts": ts, "text": "card"},
        "actions": [{"action_id": action_id, "block_id": "finops_card", "value": value,
                     "type": "button", "action_ts": "1790000001.000001"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(user: str, view: dict[str, Any], reason: str) -> str:
    """A `view_submission` payload for a modal with one `reason` input."""
    payload = {
        "type": "view_submission",
        "team": {"id": "T0DOUBLE"},
        "user": {"id": user, "team_id": "T0DOUBLE"},
        "api_app_id": "A0FINOPS",
        "view": {**view, "id": "V0MODAL", "team_id": "T0DOUBLE",
                 "state": {"values": {"reason": {"value": {"type": "plain_text_input",
                                                           "value": reason}}}}},
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def command_body(user: str, text: str, response_url: str, channel: str = "C0CHAT") -> str:
    """A slash command, form-encoded like Slack sends it."""
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0DOUBLE",
            "channel_id": channel,
            "user_id": user,
            "command": "/finops",
            "text": text,
            "api_app_id": "A0FINOPS",
            "response_url": response_url,
            "trigger_id": f"trigger-{user}",
        }
    )


def main() -> None:
    """Dev mode: run the double on a fixed port and print each call (`python -m
    tests.doubles.slack 8765`, then point `slack.base_url` at http://127.0.0.1:8765/api/)."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    token = sys.argv[2] if len(sys.argv) > 2 else "xoxb-dev-token"
    double = SlackDouble(token)
    double.server.server_close()
    double.server = ThreadingHTTPServer(("127.0.0.1", port), double.server.RequestHandlerClass)
    double.base_url = f"http://127.0.0.1:{port}/api/"
    double.port = port
    print(f"Slack Web API double on {double.base_url} (bot token {token})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        double.server.serve_forever()


if __name__ == "__main__":
    main()
