"""A tiny HTTP proxy on 127.0.0.1 in front of moto's server, for what moto does not do itself.

The code under test points `AWS_ENDPOINT_URL` at the proxy; every request is forwarded to moto
unchanged, except that the proxy can:

* answer the next N calls of an operation with a **throttling** error, in the wire format of the
  service's protocol (EC2 XML `RequestLimitExceeded` with 503, query XML `Throttling` with 400,
  JSON `ThrottlingException` with the `x-amzn-query-error` header for CloudWatch), as AWS does;
* answer with **access denied** the same way (`UnauthorizedOperation` for EC2, `AccessDenied`
  elsewhere);
* **page** CloudWatch `GetMetricData`: moto returns everything in one response, the proxy hands it
  out `points_per_page` datapoints at a time with a `NextToken`, like CloudWatch past
  `MaxDatapoints`;
* record each operation it saw (`calls`), to count pages and batches.

Usage::

    with AwsProxy(moto_endpoint) as proxy:
        proxy.throttle("DescribeVolumes", times=2)
        proxy.page_metric_data(points_per_page=7)
        ...  # AWS_ENDPOINT_URL=proxy.url
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["AwsProxy", "Seen"]

_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Seen:
    """One request the proxy received: the operation and, for JSON calls, its parameters."""

    operation: str
    protocol: str
    params: dict[str, Any]
    answered: str


@dataclass
class AwsProxy:
    target: str
    calls: list[Seen] = field(default_factory=list)
    _faults: dict[str, list[str]] = field(default_factory=dict)
    _pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _points_per_page: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> AwsProxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AwsProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def throttle(self, operation: str, times: int = 1, after: int = 0) -> None:
        """After `after` more calls of `operation` (e.g. "DescribeInstances") go through, the
        next `times` are throttled."""
        with self._lock:
            self._faults.setdefault(operation, []).extend(["pass"] * after + ["throttle"] * times)

    def deny(self, operation: str, times: int = 1) -> None:
        """The next `times` calls of `operation` are refused as not authorized."""
        with self._lock:
            self._faults.setdefault(operation, []).extend(["deny"] * times)

    def page_metric_data(self, points_per_page: int | None) -> None:
        self._points_per_page = points_per_page

    def count(self, operation: str | None = None) -> Counter[str] | int:
        with self._lock:
            counts = Counter(c.operation for c in self.calls if c.answered != "error")
        return counts if operation is None else counts[operation]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self._pages.clear()
            self._points_per_page = None

    # -- handling -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[
        int, dict[str, str], bytes
    ]:  # fmt: skip
        target = headers.get("x-amz-target", "")
        if target:
            protocol, operation = "json", target.rsplit(".", 1)[-1]
            params = json.loads(body or b"{}")
        else:
            form = parse_qs(body.decode() if body else urlsplit(path).query)
            operation = form.get("Action", [""])[0]
            protocol = "ec2" if form.get("Version", [""])[0] == "2016-11-15" else "query"
            params = {}
        with self._lock:
            queue = self._faults.get(operation) or []
            fault = queue.pop(0) if queue else None
        if fault is not None and fault != "pass":
            self._record(Seen(operation, protocol, params, "error"))
            return _error(protocol, fault)
        if operation == "GetMetricData" and self._points_per_page:
            return self._metric_page(method, path, headers, body, params)
        self._record(Seen(operation, protocol, params, "forwarded"))
        return self._forward(method, path, headers, body)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.calls.append(seen)

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[
        int, dict[str, str], bytes
    ]:  # fmt: skip
        split = urlsplit(self.target)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
        try:
            out = {k: v for k, v in headers.items() if k not in _HOP}
            conn.request(method, path, body=body, headers=out)
            resp = conn.getresponse()
            data = resp.read()
            kept = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
            return resp.status, kept, data
        finally:
            conn.close()

    def _metric_page(
        self, method: str, path: str, headers: dict[str, str], body: bytes, params: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        token = params.get("NextToken")
        if token is None:
            status, kept, data = self._forward(method, path, headers, body)
            if status != 200:
                return status, kept, data
            pages = _split(json.loads(data), self._points_per_page or 1)
        else:
            with self._lock:
                pages = self._pages.pop(token)
        first, rest = pages[0], pages[1:]
        if rest:
            new_token = uuid.uuid4().hex
            with self._lock:
                self._pages[new_token] = rest
            first = {**first, "NextToken": new_token}
        self._record(Seen("GetMetricData", "json", params, "paged"))
        payload = json.dumps(first).encode()
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, payload


def _split(response: dict[str, Any], per_page: int) -> list[dict[str, Any]]:
    """Cut one GetMetricData response into pages of at most `per_page` datapoints."""
    points = [
        (r, i) for r in response.get("MetricDataResults", []) for i in range(len(r["Values"]))
    ]
    pages: list[dict[str, Any]] = []
    for start in range(0, max(len(points), 1), per_page):
        chunk = points[start : start + per_page]
        results: dict[str, dict[str, Any]] = {}
        for r, i in chunk:
            entry = results.setdefault(
                r["Id"],
                {"Id": r["Id"], "Label": r.get("Label"), "Timestamps": [], "Values": []},
            )
            entry["Timestamps"].append(r["Timestamps"][i])
            entry["Values"].append(r["Values"][i])
        last = start + per_page >= len(points)
        for entry in results.values():
            entry["StatusCode"] = "Complete" if last else "PartialData"
        pages.append({"MetricDataResults": list(results.values()), "Messages": []})
    return pages


def _error(protocol: str, fault: str) -> tuple[int, dict[str, str], bytes]:
    request_id = uuid.uuid4().hex
    if fault == "throttle":
        code = {"ec2": "RequestLimitExceeded", "query": "Throttling", "json": "ThrottlingException"}
        message = "Rate exceeded"
        status = 503 if protocol == "ec2" else 400
    else:
        code = {"ec2": "UnauthorizedOperation", "query": "AccessDenied", "json": "AccessDenied"}
        message = (
            "User: arn:aws:iam::123456789012:user/collector is not authorized to perform "
            "this operation"
        )
        status = 403
    if protocol == "json":
        wire = "Throttling" if fault == "throttle" else "AccessDenied"
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": request_id,
            "x-amzn-query-error": f"{wire};Sender",
        }
        body = json.dumps({"__type": code["json"], "message": message}).encode()
        return status, headers, body
    if protocol == "ec2":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
            f"<Code>{code['ec2']}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code['query']}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode()


def _handler(proxy: AwsProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out, data = proxy.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for k, v in out.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
