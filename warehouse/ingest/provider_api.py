"""Pull daily cost pages from the OpenAI and Anthropic admin APIs into files the connectors ingest.

`pull_provider("openai" | "anthropic", days=…, config=…, workdir=…)` is what `finops ingest --from`
calls: base URL and key variable come from finops.yaml, the key from the environment.

`pull_openai` pages through `GET /v1/organization/costs` (Unix-second window, `bucket_width=1d`,
grouped by line item and project, `Authorization: Bearer <admin key>`); `pull_anthropic` through
`GET /v1/organizations/cost_report` (RFC 3339 window, grouped by workspace and description,
`x-api-key` + `anthropic-version: 2023-06-01`). Both follow `has_more` / `next_page` until the
last page and write every page, one JSON object per line, to one `.jsonl` file in `workdir`, so
the `openai` / `anthropic` connectors ingest exactly what the API returned (and a failed ingest
can be replayed from the file). The window is the last `days` calendar days in UTC, today
included; ingesting it replaces those charge days only.

HTTP 429 and 5xx (and network errors) are retried up to `max_retries` times, waiting what
`Retry-After` says (seconds or an HTTP date, capped at 5 minutes) or an exponential backoff;
`sleep` and `now` are injected so tests never wait on a real clock. The admin key travels only in
the request header: it is never part of a URL, a written file or an error message (provider
messages such as "Incorrect API key provided: sk-…" are redacted).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from warehouse.errors import IngestError
from warehouse.ingest.base import LocalFile
from warehouse.settings import WarehouseSettings

__all__ = [
    "ANTHROPIC_VERSION",
    "PROVIDERS",
    "pull_anthropic",
    "pull_openai",
    "pull_provider",
    "resolve_admin_key",
]

ANTHROPIC_VERSION = "2023-06-01"
MAX_RETRY_WAIT = 300.0
MAX_PAGES = 1000
Sleep = Callable[[float], None]

_KEYLIKE = re.compile(r"\b(sk-[\w*.\-]+)")


def resolve_admin_key(env_name: str, environ: Mapping[str, str]) -> str:
    """The admin key from the environment variable the config names (the value is never shown)."""
    key = environ.get(env_name, "").strip()
    if not key:
        raise IngestError(f"no admin API key: set the environment variable {env_name}")
    return key


def _redact(text: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


def _window(days: int, now: datetime) -> tuple[datetime, datetime]:
    if days < 1:
        raise IngestError(f"days must be at least 1, got {days}")
    today: date = (now.astimezone(UTC) if now.tzinfo else now).date()
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    return end - timedelta(days=days), end


def _retry_delay(response: httpx.Response | None, attempt: int, now: datetime) -> float:
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return min(max(float(header), 0.0), MAX_RETRY_WAIT)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            base = now if now.tzinfo else now.replace(tzinfo=UTC)
            return min(max((when - base).total_seconds(), 0.0), MAX_RETRY_WAIT)
    return float(min(2 ** (attempt - 1), 60))


def _api_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return json.dumps(body)[:200]


class _Client:
    """GET with retries for one API: label, headers and secret bound once."""

    def __init__(
        self,
        http: httpx.Client,
        label: str,
        headers: Mapping[str, str],
        *,
        secret: str,
        sleep: Sleep,
        now: datetime,
        max_retries: int,
    ) -> None:
        self.http, self.label, self.headers, self.secret = http, label, dict(headers), secret
        self.sleep, self.now, self.max_retries = sleep, now, max(1, max_retries)

    def fail(self, message: str) -> IngestError:
        return IngestError(f"{self.label}: {_redact(message, self.secret)}")

    def get_json(self, url: str, params: Mapping[str, Any]) -> Any:
        problem = "no attempt"
        for attempt in range(1, self.max_retries + 1):
            response: httpx.Response | None = None
            try:
                response = self.http.get(url, params=params, headers=self.headers)
            except httpx.TransportError as exc:
                problem = f"network error ({type(exc).__name__}: {exc})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise self.fail("the response is not JSON") from None
                if status != 429 and status < 500:
                    raise self.fail(f"HTTP {status}: {_api_message(response)}")
                problem = f"HTTP {status}: {_api_message(response)}"
            if attempt < self.max_retries:
                self.sleep(_retry_delay(response, attempt, self.now))
        raise self.fail(f"gave up after {self.max_retries} attempts; last: {problem}")

    def pages(self, url: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every page, following `has_more` / `next_page`."""
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.get_json(url, {**params, **({"page": cursor} if cursor else {})})
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise self.fail(f"page {len(pages) + 1} is not an object with a `data` list")
            pages.append(page)
            if not page.get("has_more"):
                return pages
            cursor = page.get("next_page")
            if not isinstance(cursor, str) or not cursor or cursor in seen:
                raise self.fail(f"page {len(pages)} says has_more but gives no new next_page")
            if len(pages) >= MAX_PAGES:
                raise self.fail(f"more than {MAX_PAGES} pages; narrow the window")
            seen.add(cursor)


def _write(path: Path, pages: list[dict[str, Any]], secret: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(page, separators=(",", ":")) for page in pages)
    path.write_text(_redact("\n".join(lines) + "\n", secret), encoding="utf-8")
    return path


def pull_openai(
    days: int,
    *,
    base_url: str,
    admin_key: str,
    http: httpx.Client,
    now: datetime,
    workdir: Path,
    sleep: Sleep = time.sleep,
    max_retries: int = 5,
) -> list[Path]:
    """Fetch the last `days` days of OpenAI organization costs; return the written page file."""
    start, end = _window(days, now)
    client = _Client(
        http,
        "OpenAI costs API",
        {"Authorization": f"Bearer {admin_key}"},
        secret=admin_key,
        sleep=sleep,
        now=now,
        max_retries=max_retries,
    )
    params = {
        "start_time": int(start.timestamp()),
        "end_time": int(end.timestamp()),
        "bucket_width": "1d",
        "limit": min(days, 180),
        "group_by": ["line_item", "project_id"],
    }
    pages = client.pages(f"{base_url.rstrip('/')}/v1/organization/costs", params)
    name = f"openai-costs-{start:%Y%m%d}-{end:%Y%m%d}.jsonl"
    return [_write(workdir / name, pages, admin_key)]


def pull_anthropic(
    days: int,
    *,
    base_url: str,
    admin_key: str,
    http: httpx.Client,
    now: datetime,
    workdir: Path,
    sleep: Sleep = time.sleep,
    max_retries: int = 5,
) -> list[Path]:
    """Fetch the last `days` days of the Anthropic cost report; return the written page file."""
    start, end = _window(days, now)
    client = _Client(
        http,
        "Anthropic cost report API",
        {"x-api-key": admin_key, "anthropic-version": ANTHROPIC_VERSION},
        secret=admin_key,
        sleep=sleep,
        now=now,
        max_retries=max_retries,
    )
    params = {
        "starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ending_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bucket_width": "1d",
        "limit": min(days, 31),
        "group_by[]": ["workspace_id", "description"],
    }
    pages = client.pages(f"{base_url.rstrip('/')}/v1/organizations/cost_report", params)
    name = f"anthropic-costs-{start:%Y%m%d}-{end:%Y%m%d}.jsonl"
    return [_write(workdir / name, pages, admin_key)]


PROVIDERS = ("openai", "anthropic")
"""Providers `pull_provider` knows; each name is also the ingest format of its pages."""


def pull_provider(
    provider: str,
    *,
    days: int,
    config: WarehouseSettings,
    workdir: Path,
    environ: Mapping[str, str] | None = None,
    http: httpx.Client | None = None,
    now: datetime | None = None,
    sleep: Sleep = time.sleep,
) -> list[LocalFile]:
    """Pull `provider`'s cost pages with the base URL and key variable from finops.yaml.

    The key is read from the environment variable the config names (`openai.admin_key_env`,
    default OPENAI_ADMIN_KEY; `anthropic.admin_key_env`, default ANTHROPIC_ADMIN_KEY). The
    returned files are in the format named `provider`; their display name is the endpoint URL.
    """
    if provider not in PROVIDERS:
        raise IngestError(f"unknown provider {provider!r}; valid: {', '.join(PROVIDERS)}")
    settings = config.openai if provider == "openai" else config.anthropic
    key = resolve_admin_key(settings.admin_key_env, os.environ if environ is None else environ)
    pull = pull_openai if provider == "openai" else pull_anthropic
    path = "/v1/organization/costs" if provider == "openai" else "/v1/organizations/cost_report"
    display = f"{settings.base_url.rstrip('/')}{path}?days={days}"
    client = http or httpx.Client(timeout=60)
    try:
        paths = pull(
            days,
            base_url=settings.base_url,
            admin_key=key,
            http=client,
            now=now or datetime.now(UTC),
            workdir=workdir,
            sleep=sleep,
        )
    finally:
        if http is None:
            client.close()
    return [LocalFile(p, display) for p in paths]
