"""A Slack Web API double on 127.0.0.1 and requests signed exactly like Slack's.

`SlackDouble` is an `http.server` answering the Web API methods the app uses the way Slack does
(`{"ok": true, …}`; `invalid_auth` for a wrong bot token; `unknown_method` otherwise), the
`files.getUploadURLExternal` upload URL (on the double itself) and `response_url` posts, and
records every call. Like Slack, it refuses what breaks the rules: a method needing a bot scope the
manifest (docs/slack-manifest.yaml) lacks answers `missing_scope`; a message or view that breaks
Block Kit's documented limits answers `invalid_blocks` (with Slack-style `errors`), a message
without text or blocks `no_text`, text over 40,000 characters `msg_too_long`; every refusal is
also kept in `rejected`. `fail(method, error)` scripts the next answer of a method as an error;
`rate_limit(method)` makes the next call of a method answer HTTP 429
with `Retry-After` (`ratelimited`); `replies[(channel, ts)]` scripts `conversations.replies`.
`sign` builds `X-Slack-Signature` (v0 HMAC-SHA256 of `v0:{ts}:{body}`) and
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
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import yaml

from tests.doubles.slack_rules import block_errors, view_errors

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
MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "slack-manifest.yaml"
MAX_TEXT = 40_000
# The bot scope each Web API method needs (Slack's method reference); None: no scope.
SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "views.open": None,
    "views.update": None,
    "views.publish": None,
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
    "conversations.info": "channels:read",
    "reactions.add": "reactions:write",
}
_HISTORY = {"C": "channels:history", "G": "groups:history", "D": "im:history"}


def manifest_scopes(path: Path = MANIFEST) -> set[str]:
    """The bot scopes the app's manifest asks for."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return set(manifest["oauth_config"]["scopes"]["bot"])


def required_scope(method: str, args: dict[str, Any]) -> str | None:
    """The scope `method` needs for these arguments (history scopes follow the channel type)."""
    if method in ("conversations.replies", "conversations.history"):
        return _HISTORY.get(str(args.get("channel") or "C")[:1], "channels:history")
    return SCOPES.get(method)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None


class SlackDouble:
    """The Slack Web API (the methods the app calls) on 127.0.0.1:0, recording every call."""

    def __init__(self, token: str = "xoxb-test-token", scopes: set[str] | None = None) -> None:
        self.token = token
        self.scopes = manifest_scopes() if scopes is None else set(scopes)
        self.calls: list[Call] = []
        self.rejected: list[tuple[str, str, list[str]]] = []
        self.replies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._limited: dict[str, list[int]] = {}
        self._failing: dict[str, list[str]] = {}
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
                if status == 429:
                    self.send_header("Retry-After", str(reply.get("retry_after", 1)))
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

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and `Retry-After`."""
        with self._lock:
            self._limited.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str = "invalid_blocks", times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}`."""
        with self._lock:
            self._failing.setdefault(method, []).extend([error] * times)

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    # -- routing -------------------------------------------------------------------------------

    def _route(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path.startswith("/upload/"):
            with self._lock:
                self.uploads[path.rsplit("/", 1)[-1]] = body
            return 200, f"OK - {len(body)}".encode()
        if path.startswith("/respond/"):
            payload = json.loads(body)
            error, details = _message_error("response_url", payload)
            with self._lock:
                if error:
                    self.rejected.append(("response_url", error, details))
                    return 400, error.encode()
                self.responses.append(payload)
            return 200, b"ok"
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "not_found"}
        method = path.removeprefix("/api/").split("?")[0]
        args = _args(headers, body)
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() or args.pop("token", None)
        with self._lock:
            self.calls.append(Call(method, args, token))
            limited = self._limited.get(method)
            retry_after = limited.pop(0) if limited else None
            failing = self._failing.get(method)
            scripted = failing.pop(0) if failing and retry_after is None else None
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited", "retry_after": retry_after}
        refusal: dict[str, Any] | None = (
            {"ok": False, "error": scripted} if scripted else self._refusal(method, args)
        )
        if refusal is not None:
            with self._lock:
                errors = list(refusal.get("errors") or [])
                self.rejected.append((method, str(refusal["error"]), errors))
            return 200, refusal
        return 200, self._answer(method, args)

    def _refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's answer to a call that breaks its rules (scopes, Block Kit, text), else None."""
        scope = required_scope(method, args)
        if scope is not None and scope not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": scope,
                    "provided": ",".join(sorted(self.scopes))}  # fmt: skip
        error: str | None = None
        details: list[str] = []
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            error, details = _message_error(method, args)
        elif method in ("views.open", "views.publish", "views.update", "views.push"):
            details = view_errors(args.get("view") or {}, method)
            error = "invalid_arguments" if details else None
        if error is None:
            return None
        return {"ok": False, "error": error, "errors": details}

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
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V0HOME", "user_id": args.get("user_id"),
                                         **(args.get("view") or {})}}  # fmt: skip
        if method == "conversations.replies":
            key = (str(args.get("channel")), str(args.get("ts")))
            if key not in self.replies:
                return {"ok": False, "error": "thread_not_found"}
            return {"ok": True, "messages": self.replies[key], "has_more": False}
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


def _message_error(method: str, args: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(`invalid_blocks` / `msg_too_long` / `no_text` or None, Slack-style details)."""
    blocks = args.get("blocks")
    if blocks is not None:
        errors = block_errors(blocks, "message")
        if errors:
            return "invalid_blocks", errors
    text = args.get("text")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return "msg_too_long", [f"text is {len(text)} characters (max {MAX_TEXT})"]
    has_text = isinstance(text, str) and text.strip() != ""
    if not has_text and not blocks and not args.get("attachments"):
        if method == "response_url" and args.get("delete_original"):
            return None, []
        return "no_text", ["a message needs non-empty text or blocks"]
    return None, []


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
