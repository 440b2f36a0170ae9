"""A small Prometheus HTTP API double on 127.0.0.1: `GET /api/v1/query_range`.

It does not evaluate PromQL. A series is stored under the metric name the query mentions
(`container_cpu_usage_seconds_total`, …) with its labels and a value per evaluation timestamp;
a query returns, as a matrix, every stored series whose metric name appears in the query and
whose labels match the query's `label="value"` equality matchers, with the values at
`start, start+step, …, end`. Like Prometheus it refuses more than 11,000 points per series
(400 `bad_data`), answers errors as `{"status": "error", "errorType", "error"}`, and `fail()`
makes the next requests answer a given status (503, 429) for retry tests. Requests are recorded.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["PrometheusDouble"]

_MAX_POINTS = 11_000
_MATCHER = re.compile(r'(\w+)="([^"]*)"')


def _epoch(value: datetime | int | float) -> int:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(stamp.timestamp())
    return int(value)


@dataclass
class PrometheusDouble:
    requests: list[dict[str, str]] = field(default_factory=list)
    _series: list[tuple[str, dict[str, str], dict[int, float]]] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> PrometheusDouble:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PrometheusDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(
        self,
        metric: str,
        labels: Mapping[str, str],
        points: Mapping[datetime, float] | Mapping[int, float],
    ) -> None:
        """A series of `metric` (as the query names it) evaluated at the given timestamps."""
        with self._lock:
            values = {_epoch(ts): float(v) for ts, v in points.items()}
            self._series.append((metric, dict(labels), values))

    def fail(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def handle(self, path: str) -> tuple[int, dict[str, Any]]:
        split = urlsplit(path)
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self._lock:
            self.requests.append(params)
            if self._failures:
                status = self._failures.pop(0)
                return status, {"status": "error", "errorType": "unavailable", "error": "busy"}
            if split.path != "/api/v1/query_range":
                return 404, {"status": "error", "errorType": "not_found", "error": split.path}
            try:
                start, end = int(float(params["start"])), int(float(params["end"]))
                step = int(float(params["step"].rstrip("s")))
                query = params["query"]
            except (KeyError, ValueError) as exc:
                return 400, {"status": "error", "errorType": "bad_data", "error": str(exc)}
            if (end - start) // step + 1 > _MAX_POINTS:
                return 400, {
                    "status": "error",
                    "errorType": "bad_data",
                    "error": "exceeded maximum resolution of 11,000 points per timeseries. Try "
                    "decreasing the query resolution (?step=XX)",
                }
            wanted = dict(_MATCHER.findall(query))
            result = []
            for metric, labels, values in self._series:
                if metric not in query:
                    continue
                if any(labels.get(k) != v for k, v in wanted.items() if k != "container"):
                    continue
                points = [[t, repr(values[t])] for t in range(start, end + 1, step) if t in values]
                if points:
                    result.append({"metric": dict(labels), "values": points})
            return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _handler(double: PrometheusDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, payload = double.handle(self.path)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
