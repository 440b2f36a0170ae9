"""The real-provider path (Anthropic, OpenAI) replayed from VCR cassettes.

Replay-only in CI (`--record-mode` defaults to none and `--block-network` is on for the whole
suite); API keys and auth headers are scrubbed before a cassette is written. A test whose
cassette is missing is skipped. To record a new cassette (needs a key and network):

    ANTHROPIC_API_KEY=... .venv/bin/pytest tests/agent/runtime/test_models_recorded.py \
        -k anthropic --record-mode=once -o addopts=""
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.config import Config, Home
from agent.context import AppContext
from agent.demo.build import build_demo
from agent.runtime.runner import Runtime
from tests.helpers.agent import Clock
from warehouse.db import connect

CASSETTES = Path(__file__).resolve().parent / "cassettes" / "test_models_recorded"
SECRET_HEADERS = ["authorization", "x-api-key", "openai-organization", "openai-project", "cookie"]
SECRET = re.compile(r"sk-(ant-|proj-)?[A-Za-z0-9_-]{16,}")


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie", "openai-organization", "anthropic-organization-id"):
            headers.pop(name)
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [(h, "REDACTED") for h in SECRET_HEADERS],
        "filter_query_parameters": ["key", "api_key"],
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
        "match_on": ["method", "scheme", "host", "path"],
    }


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("recorded") / "home"
    home.mkdir()
    con = connect(home / "warehouse.duckdb")
    build_demo(con, Config(), home / "demo")
    con.close()
    return home


def _cassette_or_skip(request: pytest.FixtureRequest) -> None:
    recording = request.config.getoption("--record-mode") not in (None, "none")
    if not recording and not (CASSETTES / f"{request.node.name}.yaml").exists():
        pytest.skip(f"no cassette for {request.node.name}; record one (see module docstring)")


@pytest.fixture
def runtime(demo_home: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    _cassette_or_skip(request)
    provider = "anthropic" if "anthropic" in request.node.name else "openai"
    env = {
        "ANTHROPIC_API_KEY": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-replay-only-0000000000"),
        "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "sk-replay-only-00000000000000000"),
    }
    app = AppContext(home=Home(demo_home), config=Config(models={"provider": provider}))
    rt = Runtime(app, clock=Clock(), environ={k: env[k] for k in env if provider.upper() in k})
    yield rt
    rt.close()


QUESTION = "what did we spend on AWS last month by service?"


def _check_spend_answer(rt: Runtime) -> Any:
    result = rt.ask(QUESTION)
    assert [c.name for c in result.tool_calls] == ["spend_breakdown"]
    assert result.tool_calls[0].ok
    assert result.tool_calls[0].args["filters"] == ["ProviderName=AWS"]
    assert "17,318.75" in result.answer
    assert result.usage.model_calls == 2
    return result


@pytest.mark.vcr
def test_anthropic_answers_a_spend_question(runtime: Runtime) -> None:
    result = _check_spend_answer(runtime)
    assert result.model == "anthropic:claude-sonnet-4-6"
    u = result.usage
    assert (u.input_tokens, u.cache_write_tokens, u.cache_read_tokens, u.output_tokens) == (
        2100,
        2000,
        2000,
        250,
    )
    # 2100 x 3 + 2000 x 3.75 + 2000 x 0.30 + 250 x 15, per 1M tokens
    assert u.cost_usd == Decimal("0.01815")


@pytest.mark.vcr
def test_openai_answers_a_spend_question(runtime: Runtime) -> None:
    result = _check_spend_answer(runtime)
    assert result.model == "openai:gpt-5-mini"
    u = result.usage
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens) == (3628, 3072, 210)
    # 3628 x 0.25 + 3072 x 0.025 + 210 x 2.00, per 1M tokens
    assert u.cost_usd == Decimal("0.0014038")


def test_cassettes_hold_no_secrets() -> None:
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text()
        assert not SECRET.search(text), path
        for header in SECRET_HEADERS:
            for value in re.findall(rf"{header}:\n\s+- (.+)", text, flags=re.IGNORECASE):
                assert value.strip() == "REDACTED", (path, header)


def test_the_suite_cannot_reach_the_internet() -> None:
    with pytest.raises(Exception, match=r"[Nn]etwork"):
        socket.create_connection(("1.1.1.1", 443), timeout=1)
