"""A Jira Cloud REST v3 double on 127.0.0.1 that checks request shapes like the real service.

`JsonDouble` is the shared base (threaded `http.server`, request log, JSON replies, an
`available` switch that answers 503 to model an outage). `JiraDouble` implements the calls the
ticket backend makes: create issue (fields project / summary / issuetype / labels / priority and
an Atlassian Document Format description, checked node by node), add comment (ADF body), get and
do transitions, and the enhanced JQL search on a label. Basic auth must carry the configured
email and API token (401 otherwise); a malformed body answers 400 with Jira's
`{"errorMessages", "errors"}` shape.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["JiraDouble", "JsonDouble", "Reply", "Request", "adf_problem"]

Reply = tuple[int, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: Any = None


@dataclass
class JsonDouble:
    """Threaded JSON server on 127.0.0.1:0; subclasses implement `handle`."""

    requests: list[Request] = field(default_factory=list)
    available: bool = True

    def __post_init__(self) -> None:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = Request(self.command, parts.path, parse_qs(parts.query), headers, raw)
                double.requests.append(req)
                status, payload = double.dispatch(req)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def dispatch(self, req: Request) -> Reply:
        if not self.available:
            return 503, {"message": "Service Unavailable"}
        if req.raw:
            if not req.headers.get("content-type", "").startswith("application/json"):
                return 415, {"message": "Content-Type must be application/json"}
            try:
                req.body = json.loads(req.raw)
            except ValueError:
                return 400, {"message": "Problems parsing JSON"}
        with self._lock:
            return self.handle(req)

    def handle(self, req: Request) -> Reply:
        raise NotImplementedError

    def calls(self, method: str, pattern: str) -> list[Request]:
        """Requests (answered or not) whose method matches and path matches `pattern`."""
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]


def adf_problem(doc: Any) -> str | None:
    """What is wrong with an ADF document of paragraphs, text and hardBreaks (None if valid)."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "must be an ADF doc with version 1"
    blocks = doc.get("content")
    if not isinstance(blocks, list) or not blocks:
        return "doc.content must be a non-empty list"
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "paragraph":
            return "only paragraph blocks are expected"
        for node in block.get("content", []):
            if node.get("type") == "hardBreak":
                continue
            if node.get("type") != "text" or not isinstance(node.get("text"), str):
                return f"unsupported inline node {node!r}"
            if not node["text"]:
                return "text nodes must not be empty"
    return None


_PRIORITIES = {"Lowest", "Low", "Medium", "High", "Highest"}
_TRANSITIONS: list[dict[str, Any]] = [
    {"id": "11", "name": "To Do", "to": {"name": "To Do", "statusCategory": {"key": "new"}}},
    {
        "id": "21",
        "name": "Start",
        "to": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    },
    {"id": "31", "name": "Resolve", "to": {"name": "Done", "statusCategory": {"key": "done"}}},
]


@dataclass
class JiraDouble(JsonDouble):
    email: str = "bot@example.com"
    token: str = "jira-token-0123456789"
    projects: tuple[str, ...] = ("FIN", "PAY")
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[Any]] = field(default_factory=dict)

    def _authorized(self, req: Request) -> bool:
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return req.headers.get("authorization") == f"Basic {expected}"

    def handle(self, req: Request) -> Reply:
        if not self._authorized(req):
            return 401, {"errorMessages": ["You are not authenticated."], "errors": {}}
        if req.method == "POST" and req.path == "/rest/api/3/issue":
            return self._create(req.body)
        if req.method == "GET" and req.path == "/rest/api/3/search/jql":
            return self._search(req.query)
        m = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)/(comment|transitions)", req.path)
        if not m or m[1] not in self.issues:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}
        if m[2] == "comment" and req.method == "POST":
            return self._comment(m[1], req.body)
        if m[2] == "transitions" and req.method == "GET":
            return 200, {"transitions": _TRANSITIONS}
        if m[2] == "transitions" and req.method == "POST":
            return self._transition(m[1], req.body)
        return 405, {"errorMessages": ["Method not allowed"], "errors": {}}

    def _create(self, body: Any) -> Reply:
        fields = body.get("fields") if isinstance(body, dict) else None
        errors = _field_errors(fields, self.projects)
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        assert isinstance(fields, dict)
        project = fields["project"]["key"]
        n = 1 + sum(1 for k in self.issues if k.startswith(project + "-"))
        key, issue_id = f"{project}-{n}", str(10000 + len(self.issues))
        self.issues[key] = {"id": issue_id, "fields": fields, "status": "To Do"}
        return 201, {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/3/issue/{issue_id}"}

    def _search(self, query: dict[str, list[str]]) -> Reply:
        m = re.fullmatch(r'labels = "([^"]+)"( ORDER BY .*)?', (query.get("jql") or [""])[0])
        if not m:
            return 400, {"errorMessages": ["Unsupported JQL in the double"], "errors": {}}
        found = [
            {"id": i["id"], "key": k, "self": f"{self.url}/rest/api/3/issue/{i['id']}",
             "fields": {"summary": i["fields"]["summary"]}}
            for k, i in self.issues.items() if m[1] in i["fields"].get("labels", [])
        ]  # fmt: skip
        limit = int((query.get("maxResults") or ["50"])[0])
        return 200, {"issues": found[:limit], "isLast": True}

    def _comment(self, key: str, body: Any) -> Reply:
        problem = adf_problem(body.get("body") if isinstance(body, dict) else None)
        if problem:
            return 400, {"errorMessages": [f"Comment body is not valid ADF: {problem}"]}
        self.comments.setdefault(key, []).append(body["body"])
        n = sum(len(c) for c in self.comments.values())
        return 201, {"id": str(n), "self": f"{self.url}/rest/api/3/issue/{key}/comment/{n}"}

    def _transition(self, key: str, body: Any) -> Reply:
        wanted = (body or {}).get("transition", {}).get("id")
        match = [t for t in _TRANSITIONS if t["id"] == wanted]
        if not match:
            return 400, {"errorMessages": ["Transition id is not valid"], "errors": {}}
        self.issues[key]["status"] = match[0]["to"]["name"]
        return 204, None

    def comment_texts(self, key: str) -> list[str]:
        """Each comment's text (text nodes joined, hardBreaks as newlines)."""
        return [
            "\n\n".join(
                "".join(n.get("text", "\n") for n in p.get("content", [])) for p in doc["content"]
            )
            for doc in self.comments.get(key, [])
        ]


def _field_errors(fields: Any, projects: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(fields, dict):
        return {"fields": "fields is required"}
    errors: dict[str, str] = {}
    if (fields.get("project") or {}).get("key") not in projects:
        errors["project"] = "valid project is required"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary:
        errors["summary"] = "You must specify a summary of the issue (one line)."
    if not (fields.get("issuetype") or {}).get("name"):
        errors["issuetype"] = "Specify an issue type"
    problem = adf_problem(fields.get("description"))
    if problem:
        errors["description"] = f"Operation value must be an Atlassian Document: {problem}"
    labels = fields.get("labels", [])
    if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x for x in labels):
        errors["labels"] = "labels are strings without spaces"
    if "priority" in fields and (fields["priority"] or {}).get("name") not in _PRIORITIES:
        errors["priority"] = "Specify a valid priority name"
    return errors
