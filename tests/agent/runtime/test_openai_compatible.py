"""A self-hosted OpenAI-compatible model through the real langchain-openai client, against a
chat-completions double on 127.0.0.1 (tests/doubles/openai_compat.py): tool errors round-trip
and the model corrects itself, each request binds only the selected tool families, the
self-budget meters the configured prices (zero and non-zero) and refuses over its cap, and the
first request's prompt is measured before and after tool selection."""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.config import Config, Home, ModelsConfig, parse_config
from agent.context import AppContext
from agent.runtime.models import NO_KEY, select_models
from agent.runtime.runner import Runtime
from agent.runtime.toolsets import CORE, FAMILIES, LOAD_TOOLS
from guardrails.budget import estimate_tokens
from tests.doubles.openai_compat import OpenAICompatDouble, Step, answer, tool_call
from tests.helpers.agent import Clock
from tests.helpers.warehouse import ingest
from tests.paths import SHARED_DATA
from tools.catalog import registry
from warehouse.db import connect
from warehouse.errors import ConfigError

MODEL = "qwen3:8b"
SEPTEMBER = {"since": "2024-09-01", "until": "2024-09-30"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("focus") / "warehouse.duckdb"
    con = connect(path)
    ingest(con, SHARED_DATA / "focus/focus_sample_1000.csv")
    con.close()
    return path


@pytest.fixture
def double() -> Iterator[OpenAICompatDouble]:
    with OpenAICompatDouble(model=MODEL) as server:
        yield server


def _models(double: OpenAICompatDouble, **server: Any) -> dict[str, Any]:
    section = {
        "base_url": double.base_url,
        "model": MODEL,
        "input_usd_per_mtok": "0",
        "output_usd_per_mtok": "0",
        **server,
    }
    return {"provider": "openai_compatible", "openai_compatible": section, "max_retries": 0}


def _runtime(
    home: Path,
    warehouse: Path,
    models: dict[str, Any],
    environ: dict[str, str] | None = None,
    **config: Any,
) -> Runtime:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(warehouse, home / "warehouse.duckdb")
    app = AppContext(home=Home(home), config=Config(models=ModelsConfig(**models), **config))
    return Runtime(app, clock=Clock(), environ=environ or {})


@pytest.fixture
def rt(tmp_path: Path, warehouse: Path, double: OpenAICompatDouble) -> Iterator[Runtime]:
    runtime = _runtime(tmp_path / "home", warehouse, _models(double))
    yield runtime
    runtime.close()


def _family(name: str) -> set[str]:
    return {t for f in FAMILIES if f.name == name for t in f.tools if t in registry().tools}


def _last_tool_message(body: dict[str, Any]) -> dict[str, Any]:
    message = body["messages"][-1]
    assert message["role"] == "tool", message
    content: dict[str, Any] = json.loads(message["content"])
    return content


# -- (a) a tool's validation error goes back to the model, which corrects itself -------------


def test_a_tool_error_round_trips_and_the_model_corrects_itself(
    rt: Runtime, double: OpenAICompatDouble
) -> None:
    bad = {"period": "last_fortnight", "filters": ["ProviderName=AWS"]}
    good = {**SEPTEMBER, "filters": ["ProviderName=AWS"]}

    def corrected(body: dict[str, Any]) -> Step:
        error = _last_tool_message(body)["error"]
        assert "unknown period 'last_fortnight'" in error and "last_month" in error
        return tool_call("spend_breakdown", good)

    def answered(body: dict[str, Any]) -> Step:
        total = Decimal(_last_tool_message(body)["data"]["total"])
        return answer(f"AWS spend in September 2024: USD {total:.2f}.")

    double.extend([tool_call("spend_breakdown", bad), corrected, answered])
    result = rt.ask("Why did our AWS cost change in September 2024?")
    assert "spend_breakdown" in double.tool_names(0)
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("spend_breakdown", False),
        ("spend_breakdown", True),
    ]
    assert "unknown period" in (result.tool_calls[0].error or "")
    assert result.answer == "AWS spend in September 2024: USD 18.01."
    assert result.model == f"openai_compatible:{MODEL}" and result.usage.model_calls == 3


@pytest.mark.skipif(
    "spend_query" not in registry().tools or importlib.util.find_spec("tools.vocab") is None,
    reason="spend_query and the vocabulary catalog (issue 17) are not in place yet",
)
def test_spend_query_unknown_value_round_trips_with_the_closest_values(
    rt: Runtime, double: OpenAICompatDouble
) -> None:
    """The same round trip through the structured `spend_query`: an unknown service is a tool
    error naming the closest known value, which the model uses on its second try."""
    ec2 = "Amazon Elastic Compute Cloud"
    typo = {
        **SEPTEMBER,
        "filters": [{"dimension": "ServiceName", "values": ["Amazon Elastic Compute Clod"]}],
    }
    fixed = {**SEPTEMBER, "filters": [{"dimension": "ServiceName", "values": [ec2]}]}

    def corrected(body: dict[str, Any]) -> Step:
        assert ec2 in _last_tool_message(body)["error"]
        return tool_call("spend_query", fixed)

    double.extend([tool_call("spend_query", typo), corrected, answer("EC2: USD 16.04.")])
    result = rt.ask("What did we spend on Amazon Elastic Compute Clod in September 2024?")
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("spend_query", False),
        ("spend_query", True),
    ]


# -- (b) each request binds only the selected families; load_tools adds one ----------------


def test_requests_bind_the_selected_families_and_load_tools_adds_one(
    rt: Runtime, double: OpenAICompatDouble
) -> None:
    double.extend([tool_call(LOAD_TOOLS, {"families": ["detection"]}), answer("Nothing odd.")])
    rt.ask("What did we spend on AWS in September 2024?")
    first, second = set(double.tool_names(0)), set(double.tool_names(1))
    core = CORE & set(registry().tools)
    assert first == core | {LOAD_TOOLS}
    assert second == first | _family("detection")
    writes = {t.name for t in registry() if t.effect == "write"}
    assert not writes & second
    assert double.bodies[0]["max_tokens"] == rt.app.config.budget.max_output_tokens
    assert "max_completion_tokens" not in double.bodies[0]


def test_the_question_routes_families_without_a_load_call(
    rt: Runtime, double: OpenAICompatDouble
) -> None:
    double.extend([answer("ok")])
    rt.ask("Which instances are idle, and should we stop them?")
    names = set(double.tool_names(0))
    assert _family("optimization") | _family("actions") <= names
    assert not (_family("allocation") | _family("detection")) & names


# -- (c) the self-budget meters the configured prices --------------------------------------


@pytest.mark.parametrize(
    ("input_price", "output_price", "cost"),
    [("0", "0", Decimal(0)), ("0.50", "1.50", Decimal("0.00065"))],
)
def test_the_self_budget_records_the_configured_prices(
    tmp_path: Path,
    warehouse: Path,
    double: OpenAICompatDouble,
    input_price: str,
    output_price: str,
    cost: Decimal,
) -> None:
    prices = {"input_usd_per_mtok": input_price, "output_usd_per_mtok": output_price}
    rt = _runtime(tmp_path / "home", warehouse, _models(double, **prices))
    double.extend([answer("Hello.", usage=(1000, 100))])
    result = rt.ask("hello")
    assert result.usage.cost_usd == cost  # 1000 x input + 100 x output, per 1M tokens
    rows = rt.store.query(
        "SELECT provider, model, input_tokens, output_tokens, cost_usd FROM model_calls"
    )
    assert [tuple(r) for r in rows] == [("openai_compatible", MODEL, 1000, 100, str(cost))]
    rt.close()


def test_the_self_budget_refuses_a_call_over_its_cap(
    tmp_path: Path, warehouse: Path, double: OpenAICompatDouble
) -> None:
    prices = {"input_usd_per_mtok": "10", "output_usd_per_mtok": "30"}
    rt = _runtime(
        tmp_path / "home", warehouse, _models(double, **prices), budget={"per_run_usd": "0.01"}
    )
    double.extend([answer("never sent")])
    result = rt.ask("hello")
    assert result.stopped == "per_run_usd"
    assert "per_run_usd cap of $0.0100" in result.answer
    assert double.bodies == [] and result.usage.model_calls == 0
    rt.close()


def test_a_server_without_usage_is_metered_at_the_estimate_not_at_zero(
    tmp_path: Path, warehouse: Path, double: OpenAICompatDouble
) -> None:
    prices = {"input_usd_per_mtok": "1", "output_usd_per_mtok": "2"}
    rt = _runtime(tmp_path / "home", warehouse, _models(double, **prices))
    double.extend([answer("Hello there.", usage=None)])
    result = rt.ask("hello")
    assert result.usage.input_tokens > 1000 and result.usage.output_tokens > 0
    assert result.usage.cost_usd > 0
    assert rt.audit.entries(kind="model_call")[0].payload["usage_estimated"] is True
    rt.close()


# -- configuration and keys ----------------------------------------------------------------


def test_the_provider_needs_its_section_with_prices() -> None:
    with pytest.raises(ConfigError, match="openai_compatible section"):
        parse_config({"models": {"provider": "openai_compatible"}})
    section = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    with pytest.raises(ConfigError, match="input_usd_per_mtok"):
        parse_config({"models": {"openai_compatible": section}})
    with pytest.raises(ConfigError, match="greater than or equal to 0"):
        prices = {"input_usd_per_mtok": "-1", "output_usd_per_mtok": "0"}
        parse_config({"models": {"openai_compatible": {**section, **prices}}})


def test_model_flag_picks_the_server_and_a_model_id_with_a_colon(
    double: OpenAICompatDouble,
) -> None:
    cfg = Config(
        models=ModelsConfig(**_models(double, input_usd_per_mtok="0.2", output_usd_per_mtok="0.6"))
    )
    (handle,) = select_models(cfg.models, cfg.budget, {}, "openai_compatible:llama3.1:70b")
    assert (handle.provider, handle.model) == ("openai_compatible", "llama3.1:70b")
    assert handle.price and handle.price.output == Decimal("0.6")
    auto = Config(models=ModelsConfig(**{**_models(double), "provider": "auto"}))
    with pytest.raises(ConfigError, match="not configured"):
        select_models(Config().models, auto.budget, {}, "openai_compatible")
    env = {"OPENAI_API_KEY": "sk-cloud-key-0000000000000000", "ANTHROPIC_API_KEY": "sk-ant-x"}
    handles = select_models(cfg.models, cfg.budget, env)
    assert [h.provider for h in handles] == ["openai_compatible"]  # no cloud fallback


def test_no_key_env_sends_a_placeholder_never_the_openai_key(
    rt: Runtime, double: OpenAICompatDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cloud-key-must-not-leak-000000")
    double.extend([answer("ok")])
    rt.ask("hello")
    assert double.headers[0]["authorization"] == f"Bearer {NO_KEY}"


def test_a_named_key_env_is_sent_and_required(
    tmp_path: Path, warehouse: Path, double: OpenAICompatDouble
) -> None:
    double.api_key = "vllm-secret-0123456789abcdef"
    models = _models(double, key_env="VLLM_API_KEY")
    rt = _runtime(tmp_path / "home", warehouse, models, {"VLLM_API_KEY": double.api_key})
    double.extend([answer("ok")])
    assert rt.ask("hello").answer == "ok"
    rt.close()
    cfg = Config(models=ModelsConfig(**models))
    with pytest.raises(ConfigError, match="VLLM_API_KEY is not set"):
        select_models(cfg.models, cfg.budget, {})


# -- (d) the first request's prompt, before and after tool selection ----------------------

QUESTIONS = (
    "What did we spend on AWS in September 2024 by service?",
    "Were there any cost anomalies last week?",
    "What is the month-end forecast, and are we over budget?",
    "Which instances are idle or oversized?",
    "How much of our spend is untagged, and who owns it?",
    "Stop the idle instance i-0abc and open a ticket for the web team",
    "Is proposal p-1a2b3c approved yet?",
    "hello",
)


def _size(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(tools bound, characters, estimated tokens) of a prompt, as the self-budget counts."""
    texts = [json.dumps(m) for m in messages] + [json.dumps(tools)]
    return len(tools), sum(len(t) for t in texts), estimate_tokens(texts)


def test_first_request_prompt_size_before_and_after_selection(
    rt: Runtime, double: OpenAICompatDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    every = registry().schemas()
    rows = []
    for question in QUESTIONS:
        double.extend([answer("ok")])
        rt.ask(question)
        body = double.bodies[-1]
        before = _size(body["messages"], every)
        after = _size(body["messages"], body["tools"])
        rows.append((question, before, after))
    median_before = statistics.median(b[2] for _, b, _ in rows)
    median_after = statistics.median(a[2] for _, _, a in rows)
    with capsys.disabled():
        print("\nfirst request: tools bound / chars / est. tokens, every tool -> selected")
        for question, b, a in rows:
            before, after = (f"{x[0]:>2} / {x[1]:>6} / {x[2]:>6}" for x in (b, a))
            print(f"  {before} -> {after}  {question}")
        print(f"  median est. tokens {median_before} -> {median_after}")
    assert median_after * 3 <= median_before
    assert all(a[2] < b[2] and a[0] < b[0] for _, b, a in rows)
