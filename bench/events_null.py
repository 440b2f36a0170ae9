"""The baseline server for `bench.events`: the same uvicorn + Starlette stack with an endpoint
that reads the body and counts its lines, nothing else (the HTTP floor of the event endpoint).

Usage: `python -m bench.events_null --port 8788`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tools.events.server import serve

__all__ = ["null_app"]


async def _post(request: Request) -> Response:
    body = await request.body()
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    return JSONResponse(
        {"accepted": lines, "received_at": datetime.now(UTC).isoformat(), "stored": False},
        status_code=202,
    )


def null_app() -> Starlette:
    return Starlette(routes=[Route("/v1/usage-events", _post, methods=["POST"])])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    serve(null_app(), "127.0.0.1", args.port, args.log_level)
