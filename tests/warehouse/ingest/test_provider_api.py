"""API pulls against a local HTTP double on 127.0.0.1: paging, auth headers, retries, secrecy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import httpx
import pytest

from agent.config import Config
from tests.helpers.warehouse import ingest
from tests.paths import FIXTURES
from warehouse.errors import IngestError
from warehouse.ingest import run_ingest
from warehouse.ingest.provider_api import (
    pull_anthropic,
    pull_openai,
    pull_provider,
    resolve_admin_key,
)
from warehouse.settings import ProviderApiConfig

OPENAI_KEY = "sk-admin-TESTKEY-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-admin01-TESTKEY-fedcba9876543210"
NOW = datetime(2024, 11, 2, 15, 0, tzinfo=UTC)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeApi:
    """Scripted replies per path (served in order, the last one repeats) and the requests seen."""

    base_url: str = ""
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)

    def reply(self, path: str) -> Reply:
        queue = self.replies[path]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    state = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            state.requests.append((url.path, parse_qs(url.query), dict(self.headers.items())))
            reply = state.reply(url.path)
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, trust_env=False) as client:
        yield client


def _openai_pages(shared_data: Path) -> list[dict[str, Any]]:
    """Two pages in the real `/v1/organization/costs` response shape."""
    example = json.loads(
        (shared_data / "openai/organization_costs.example_response.json").read_text()
    )
    first, second = json.loads(json.dumps(example)), json.loads(json.dumps(example))
    first["has_more"], first["next_page"] = True, "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="
    result = first["data"][0]["results"][0]
    result.update(line_item="gpt-4o-2024-08-06, input", project_id="proj_abc")
    bucket = second["data"][0]
    bucket["start_time"], bucket["end_time"] = 1730505600, 1730592000
    bucket["results"][0]["amount"]["value"] = 1.25
    return [first, second]


def _no_secret_anywhere(folder: Path, *secrets: str) -> None:
    """No file under `folder` (page files, the warehouse itself) holds a secret."""
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path


def test_pull_openai_pages_through_and_ingests(
    api: FakeApi,
    http: httpx.Client,
    con: duckdb.DuckDBPyConnection,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    pages = _openai_pages(shared_data)
    api.replies["/v1/organization/costs"] = [Reply(200, p) for p in pages]
    sleeps: list[float] = []
    files = pull_openai(
        2, base_url=api.base_url, admin_key=OPENAI_KEY, http=http, now=NOW,
        workdir=tmp_path / "pull", sleep=sleeps.append,
    )  # fmt: skip
    assert [p.name for p in files] == ["openai-costs-20241101-20241103.jsonl"]
    assert len(api.requests) == 2 and sleeps == []
    (path1, query1, headers1), (_, query2, headers2) = api.requests
    assert path1 == "/v1/organization/costs"
    assert headers1["Authorization"] == headers2["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert query1["start_time"] == ["1730419200"] and query1["end_time"] == ["1730592000"]
    assert query1["bucket_width"] == ["1d"] and query1["group_by"] == ["line_item", "project_id"]
    assert "page" not in query1 and query2["page"] == [pages[0]["next_page"]]
    assert [json.loads(line) for line in files[0].read_text().splitlines()] == pages
    _no_secret_anywhere(tmp_path, OPENAI_KEY)
    report = ingest(con, *files, fmt="openai")
    results = [r for p in pages for b in p["data"] for r in b["results"]]
    served = sum(Decimal(str(r["amount"]["value"])) for r in results)
    assert report.rows == 2
    assert sum(t.billed_cost for t in report.totals) == served == Decimal("1.31")
    con.execute("CHECKPOINT")
    _no_secret_anywhere(tmp_path, OPENAI_KEY)


def test_pull_anthropic_headers_window_and_cents(
    api: FakeApi, http: httpx.Client, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lines = (FIXTURES / "anthropic/cost_report_pages.jsonl").read_text().splitlines()
    pages = [json.loads(line) for line in lines]
    api.replies["/v1/organizations/cost_report"] = [Reply(200, p) for p in pages]
    now = datetime(2025, 8, 2, 9, 30, tzinfo=UTC)
    files = pull_anthropic(
        2, base_url=api.base_url + "/", admin_key=ANTHROPIC_KEY, http=http, now=now,
        workdir=tmp_path, sleep=lambda s: None,
    )  # fmt: skip
    (_, query1, headers1), (_, query2, headers2) = api.requests
    for headers in (headers1, headers2):
        assert headers["x-api-key"] == ANTHROPIC_KEY
        assert headers["anthropic-version"] == "2023-06-01"
        assert "Authorization" not in headers
    assert query1["starting_at"] == ["2025-08-01T00:00:00Z"]
    assert query1["ending_at"] == ["2025-08-03T00:00:00Z"]
    assert query1["group_by[]"] == ["workspace_id", "description"]
    assert query2["page"] == [pages[0]["next_page"]]
    _no_secret_anywhere(tmp_path, ANTHROPIC_KEY)
    report = ingest(con, *files, fmt="anthropic")
    cents = sum(Decimal(r["amount"]) for p in pages for b in p["data"] for r in b["results"])
    assert sum(t.billed_cost for t in report.totals) == cents / 100


def test_retries_honour_retry_after(
    api: FakeApi, http: httpx.Client, shared_data: Path, tmp_path: Path
) -> None:
    page = _openai_pages(shared_data)[1]
    api.replies["/v1/organization/costs"] = [
        Reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "7"}),
        Reply(503, {"error": {"message": "overloaded"}}),
        Reply(500, {}, {"Retry-After": "Sat, 02 Nov 2024 15:00:30 GMT"}),
        Reply(200, page),
    ]
    sleeps: list[float] = []
    files = pull_openai(
        1, base_url=api.base_url, admin_key=OPENAI_KEY, http=http, now=NOW,
        workdir=tmp_path, sleep=sleeps.append,
    )  # fmt: skip
    assert sleeps == [7.0, 2.0, 30.0]
    assert len(api.requests) == 4
    assert json.loads(files[0].read_text()) == page


def test_gives_up_after_max_retries_without_leaking_the_key(
    api: FakeApi, http: httpx.Client, tmp_path: Path
) -> None:
    echo = {"error": {"message": f"upstream failed for key {OPENAI_KEY}"}}
    api.replies["/v1/organization/costs"] = [Reply(502, echo)]
    sleeps: list[float] = []
    with pytest.raises(IngestError) as caught:
        pull_openai(
            3, base_url=api.base_url, admin_key=OPENAI_KEY, http=http, now=NOW,
            workdir=tmp_path, sleep=sleeps.append, max_retries=3,
        )  # fmt: skip
    message = str(caught.value)
    assert "OpenAI costs API: gave up after 3 attempts; last: HTTP 502" in message
    assert OPENAI_KEY not in message and sleeps == [1.0, 2.0]
    assert list(tmp_path.iterdir()) == []


def test_auth_error_is_not_retried_and_is_redacted(
    api: FakeApi, http: httpx.Client, tmp_path: Path
) -> None:
    body = {
        "error": {
            "message": f"Incorrect API key provided: {OPENAI_KEY} (sk-admi*****cdef).",
            "type": "invalid_request_error",
        }
    }
    api.replies["/v1/organization/costs"] = [Reply(401, body)]
    sleeps: list[float] = []
    with pytest.raises(IngestError, match="HTTP 401: Incorrect API key provided") as caught:
        pull_openai(
            1, base_url=api.base_url, admin_key=OPENAI_KEY, http=http, now=NOW,
            workdir=tmp_path, sleep=sleeps.append,
        )  # fmt: skip
    assert "sk-" not in str(caught.value) and "TESTKEY" not in str(caught.value)
    assert sleeps == [] and len(api.requests) == 1


def test_endless_cursor_is_refused(
    api: FakeApi, http: httpx.Client, shared_data: Path, tmp_path: Path
) -> None:
    page = _openai_pages(shared_data)[0]
    api.replies["/v1/organization/costs"] = [Reply(200, page)]
    with pytest.raises(IngestError, match="says has_more but gives no new next_page"):
        pull_openai(
            1, base_url=api.base_url, admin_key=OPENAI_KEY, http=http, now=NOW,
            workdir=tmp_path, sleep=lambda s: None,
        )  # fmt: skip
    assert len(api.requests) == 2


def test_network_error_is_retried_then_reported(http: httpx.Client, tmp_path: Path) -> None:
    sleeps: list[float] = []
    with pytest.raises(IngestError, match="gave up after 2 attempts; last: network error"):
        pull_anthropic(
            1, base_url="http://127.0.0.1:9", admin_key=ANTHROPIC_KEY, http=http, now=NOW,
            workdir=tmp_path, sleep=sleeps.append, max_retries=2,
        )  # fmt: skip
    assert sleeps == [1.0]


def test_resolve_admin_key_names_the_variable_only() -> None:
    assert (
        resolve_admin_key("OPENAI_ADMIN_KEY", {"OPENAI_ADMIN_KEY": f" {OPENAI_KEY}\n"})
        == OPENAI_KEY
    )
    with pytest.raises(IngestError, match="set the environment variable ANTHROPIC_ADMIN_KEY"):
        resolve_admin_key("ANTHROPIC_ADMIN_KEY", {})


def test_pull_provider_uses_config_and_environment(
    api: FakeApi,
    http: httpx.Client,
    con: duckdb.DuckDBPyConnection,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    api.replies["/v1/organization/costs"] = [Reply(200, p) for p in _openai_pages(shared_data)]
    config = Config(openai=ProviderApiConfig(base_url=api.base_url, admin_key_env="TEST_OAI_KEY"))
    files = pull_provider(
        "openai", days=2, config=config, workdir=tmp_path / "pull",
        environ={"TEST_OAI_KEY": OPENAI_KEY}, http=http, now=NOW,
    )  # fmt: skip
    assert [f.display for f in files] == [f"{api.base_url}/v1/organization/costs?days=2"]
    assert api.requests[0][2]["Authorization"] == f"Bearer {OPENAI_KEY}"
    report = run_ingest(con, files, config=config, fmt="openai")
    assert report.rows == 2 and report.files[0].file == files[0].display
    with pytest.raises(IngestError, match="set the environment variable TEST_OAI_KEY"):
        pull_provider("openai", days=1, config=config, workdir=tmp_path, environ={}, http=http)
    with pytest.raises(IngestError, match="unknown provider 'gemini'; valid: openai, anthropic"):
        pull_provider("gemini", days=1, config=config, workdir=tmp_path, environ={}, http=http)


def test_cli_ingest_from_openai(
    api: FakeApi,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.helpers.cli import run_cli

    api.replies["/v1/organization/costs"] = [Reply(200, p) for p in _openai_pages(shared_data)]
    home = tmp_path / "home"
    home.mkdir()
    (home / "finops.yaml").write_text(
        f"openai:\n  base_url: {api.base_url}\n  admin_key_env: CLI_OAI_KEY\n"
    )
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.setenv("CLI_OAI_KEY", OPENAI_KEY)
    result = run_cli(capsys, "ingest", "--from", "openai", "--days", "2", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["rows"] == 2 and doc["files"][0]["format"] == "openai"
    assert OPENAI_KEY not in result.out + result.err
    _no_secret_anywhere(home, OPENAI_KEY)
    monkeypatch.delenv("CLI_OAI_KEY")
    missing = run_cli(capsys, "ingest", "--from", "openai")
    assert missing.code == 1 and "CLI_OAI_KEY" in missing.err
