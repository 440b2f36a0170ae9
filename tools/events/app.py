"""The HTTP face of the event pipeline (Starlette; `finops serve` can mount the same app).

- `POST /v1/usage-events`: JSON lines (`application/x-ndjson`, `application/jsonl`,
  `application/json` or `text/plain`), optionally `Content-Encoding: gzip`. 202 with the batch id,
  event count and priced cost once the batch is buffered; with `?wait=true`, 200 once it is stored
  and the rules have run on it. `Idempotency-Key` makes a retried request a no-op. Refusals:
  400 unreadable body or bad JSON, 401 missing/wrong bearer token, 413 too large, 415 wrong type
  or encoding, 422 invalid events (every problem listed, nothing stored), 503 buffer full. The
  size cap is enforced while reading: a declared `Content-Length` over `events.max_body_bytes` is
  refused before any of the body is read, a chunked body as soon as it streams past the cap, and
  every refusal closes the connection (`Connection: close`) so an unread body is not drained.
- `GET /v1/runaway?status=open|resolved|all&limit=N`: runaway flags with their evidence.
- `GET /healthz`: buffer, last flush, tracked agents (no auth, no data).

A background task flushes at least every `events.flush_seconds` (sooner when a `wait=true` request
asks); on shutdown it flushes what is left before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tools.events.batch import BatchRejected
from tools.events.service import EventService, FlushReport

__all__ = ["Flusher", "create_app"]

log = logging.getLogger("finops.events")

_TYPES = {
    "",
    "application/x-ndjson",
    "application/jsonl",
    "application/json",
    "application/x-jsonlines",
    "application/jsonlines",
    "text/plain",
}
WAIT_SECONDS = 30.0
DRAIN_ATTEMPTS = 20


class Flusher:
    """Runs `service.flush` in a worker thread on a cadence and wakes `wait=true` requests."""

    def __init__(self, service: EventService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self.wake = asyncio.Event()
        self.stopping = False
        self.waiters: dict[str, asyncio.Future[bool]] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.interval)
            self.wake.clear()
            if not self.stopping:
                await self.flush_once()

    async def flush_once(self) -> FlushReport | None:
        try:
            report = await asyncio.to_thread(self.service.flush)
        except Exception:
            log.exception("flush failed")
            return None
        for batch_id in report.stored_batch_ids:
            waiter = self.waiters.pop(batch_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
        return report

    async def wait_stored(self, batch_id: str, timeout: float) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiters[batch_id] = future
        self.wake.set()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            self.waiters.pop(batch_id, None)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Stop the cadence and flush until the buffer is empty (or the warehouse refuses)."""
        self.stopping = True
        self.wake.set()
        if self.task is not None:
            await self.task
        for _ in range(DRAIN_ATTEMPTS):
            report = await self.flush_once()
            if self.service.pending_events == 0:
                return
            if report is not None and report.error:
                await asyncio.sleep(0.25)
        log.error("shutdown: %d event(s) could not be stored", self.service.pending_events)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message, "stored": 0},
        status_code=status,
        headers={**(headers or {}), "Connection": "close"},
    )


def _authorized(request: Request, token: str | None) -> bool:
    if not token:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


async def _read_body(request: Request, service: EventService) -> bytes:
    limits = service.events
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise BatchRejected(
            413, f"body of {int(declared):,} bytes; limit {limits.max_body_bytes:,}"
        )
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _TYPES:
        raise BatchRejected(415, f"content type {kind!r}; send JSON lines (application/x-ndjson)")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise BatchRejected(413, f"body over {limits.max_body_bytes:,} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BatchRejected(400, "client disconnected before the body was complete") from None
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body, limits.max_decompressed_bytes)
    if encoding not in ("identity", ""):
        raise BatchRejected(415, f"content encoding {encoding!r}; use gzip or none")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BatchRejected(400, f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BatchRejected(413, f"body over {limit:,} bytes after gunzip")
    if not inflater.eof:
        raise BatchRejected(400, "gzip body is truncated")
    return out


def create_app(service: EventService, *, token: str | None = None) -> Starlette:
    """The ASGI app over `service`; `token` (when set) is required as a bearer token."""
    flusher = Flusher(service, service.events.flush_seconds)

    async def post_events(request: Request) -> Response:
        if not _authorized(request, token):
            return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        try:
            body = await _read_body(request, service)
            key = request.headers.get("idempotency-key")
            if key is not None and not 1 <= len(key) <= 256:
                raise BatchRejected(400, "Idempotency-Key must be 1 to 256 characters")
            accepted = await asyncio.to_thread(service.submit, body, key)
        except BatchRejected as exc:
            headers = {"Connection": "close"}
            if exc.status == 503:
                headers["Retry-After"] = "1"
            return JSONResponse(exc.payload(), status_code=exc.status, headers=headers)
        payload: dict[str, Any] = accepted.model_dump(mode="json")
        wait = request.query_params.get("wait", "").lower() in ("1", "true", "yes")
        if wait and not accepted.duplicate:
            payload["stored"] = await flusher.wait_stored(accepted.batch_id, WAIT_SECONDS)
        return JSONResponse(payload, status_code=200 if payload["stored"] else 202)

    async def get_flags(request: Request) -> Response:
        if not _authorized(request, token):
            return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        status = request.query_params.get("status", "open")
        limit = request.query_params.get("limit", "100")
        if status not in ("open", "resolved", "all") or not limit.isdigit():
            return _error(400, "status must be open, resolved or all; limit a number")
        flags = service.flags(None if status == "all" else status, min(int(limit), 1000))
        return JSONResponse({"flags": [f.model_dump(mode="json") for f in flags]})

    async def healthz(request: Request) -> Response:
        return JSONResponse(service.health())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(service.start)
        await flusher.start()
        try:
            yield
        finally:
            await flusher.stop()

    app = Starlette(
        routes=[
            Route("/v1/usage-events", post_events, methods=["POST"]),
            Route("/v1/runaway", get_flags, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.flusher = flusher
    app.state.service = service
    return app
