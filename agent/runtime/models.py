"""Chat models: Anthropic and OpenAI through their official SDKs (via langchain-anthropic /
langchain-openai), a self-hosted OpenAI-compatible server, and the offline planner that needs no
key.

`select_models` returns the primary model and its fallback: with `models.provider: auto` the
provider whose key is set answers (Anthropic first), the other one is the fallback after the
primary's own retries fail, and with no key at all the offline planner answers. Keys are read from
the environment mapping passed in (never at import time) and never logged.

`openai_compatible` (vLLM, Ollama, llama.cpp server, a LiteLLM proxy) talks to the configured
base URL through langchain-openai's chat-completions client. Its handle carries the prices from
the config, which the self-budget meters it by; it has no cloud fallback, sends its own key or a
placeholder (never `OPENAI_API_KEY`), and sends `max_tokens`, which every such server honours, so
the budget's worst case (`max_output_tokens`) holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from agent.config import ModelsConfig, OpenAICompatibleConfig
from guardrails.settings import BudgetConfig
from warehouse.errors import ConfigError, FinopsError
from warehouse.ingest.ai_common import ModelPrice

if TYPE_CHECKING:
    from tools.context import ToolContext
    from tools.vocab.catalog import Vocabulary

__all__ = ["ModelHandle", "config_price", "select_models"]

PROVIDERS = ("anthropic", "openai")
SELF_HOSTED = "openai_compatible"
NO_KEY = "not-needed"
"""The placeholder key sent to a server that needs none (the OpenAI client requires one)."""


@dataclass(frozen=True)
class ModelHandle:
    """A chat model with the provider and model id the self-budget prices it by; `price`, when
    set, is the model's price from the config (a self-hosted model), used instead of the table."""

    provider: str
    model: str
    chat: BaseChatModel
    price: ModelPrice | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


def _anthropic(cfg: ModelsConfig, key: str, model: str, max_tokens: int) -> ModelHandle:
    from langchain_anthropic import ChatAnthropic

    chat = ChatAnthropic(
        model_name=model,
        api_key=SecretStr(key),
        base_url=cfg.anthropic_base_url,
        max_tokens_to_sample=max_tokens,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_seconds,
        stop=None,
    )
    return ModelHandle("anthropic", model, chat)


def _openai(cfg: ModelsConfig, key: str, model: str, max_tokens: int) -> ModelHandle:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model=model,
        api_key=SecretStr(key),
        base_url=cfg.openai_base_url,
        max_completion_tokens=max_tokens,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_seconds,
    )
    return ModelHandle("openai", model, chat)


def config_price(server: OpenAICompatibleConfig, model: str) -> ModelPrice:
    """The configured per-1M-token prices of a self-hosted model, as the self-budget reads them
    (cache writes, which these servers do not bill, at the input price)."""
    return ModelPrice(
        provider=SELF_HOSTED,
        model=model,
        input=server.input_usd_per_mtok,
        cached_input=server.cached_input_usd_per_mtok
        if server.cached_input_usd_per_mtok is not None
        else server.input_usd_per_mtok,
        cache_write_5m=server.input_usd_per_mtok,
        cache_write_1h=server.input_usd_per_mtok,
        output=server.output_usd_per_mtok,
        as_of="finops.yaml models.openai_compatible",
    )


def _self_hosted(
    cfg: ModelsConfig, environ: Mapping[str, str], model: str | None, max_tokens: int
) -> ModelHandle:
    from langchain_openai import ChatOpenAI

    server = cfg.openai_compatible
    if server is None:
        raise ConfigError(
            f"{SELF_HOSTED} was chosen but models.openai_compatible is not configured "
            "(base_url, model, input_usd_per_mtok, output_usd_per_mtok)"
        )
    key = environ.get(server.key_env, "") if server.key_env else NO_KEY
    if not key:
        raise ConfigError(f"{SELF_HOSTED} was chosen but {server.key_env} is not set")
    name = model or server.model
    chat = ChatOpenAI(
        model=name,
        api_key=SecretStr(key),
        base_url=server.base_url,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_seconds,
        use_responses_api=False,
        extra_body={"max_tokens": max_tokens},
    )
    return ModelHandle(SELF_HOSTED, name, chat, price=config_price(server, name))


def _offline() -> ModelHandle:
    from agent.offline.planner import OfflinePlanner

    return ModelHandle("offline", "offline-planner", OfflinePlanner())


def _split(name: str | None) -> tuple[str | None, str | None]:
    """`--model` accepts a provider (anthropic), a provider:model, or a bare model id."""
    if not name:
        return None, None
    if ":" in name:
        provider, model = name.split(":", 1)
        return provider, model or None
    if name in (*PROVIDERS, SELF_HOSTED, "offline"):
        return name, None
    if name.startswith("claude"):
        return "anthropic", name
    if name.startswith(("gpt", "o1", "o3", "o4")):
        return "openai", name
    raise ConfigError(
        f"unknown model {name!r}; use offline, anthropic[:MODEL], openai[:MODEL] or "
        f"{SELF_HOSTED}[:MODEL]"
    )


def select_models(
    cfg: ModelsConfig,
    budget: BudgetConfig,
    environ: Mapping[str, str],
    name: str | None = None,
) -> list[ModelHandle]:
    """The primary model first, then its fallback (if the other provider has a key)."""
    provider, model = _split(name)
    provider = provider or cfg.provider
    keys = {
        "anthropic": environ.get(cfg.anthropic_key_env, ""),
        "openai": environ.get(cfg.openai_key_env, ""),
    }
    if provider == "offline":
        return [_offline()]
    if provider == SELF_HOSTED:
        return [_self_hosted(cfg, environ, model, budget.max_output_tokens)]
    if provider == "auto":
        provider = next((p for p in PROVIDERS if keys[p]), "offline")
        if provider == "offline":
            return [_offline()]
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown model provider {provider!r}")
    if not keys[provider]:
        env = cfg.anthropic_key_env if provider == "anthropic" else cfg.openai_key_env
        raise ConfigError(f"{provider} was chosen but {env} is not set")
    builders = {"anthropic": _anthropic, "openai": _openai}
    defaults = {"anthropic": cfg.anthropic_model, "openai": cfg.openai_model}
    handles = [
        builders[provider](
            cfg, keys[provider], model or defaults[provider], budget.max_output_tokens
        )
    ]
    other = "openai" if provider == "anthropic" else "anthropic"
    if keys[other]:
        handles.append(builders[other](cfg, keys[other], defaults[other], budget.max_output_tokens))
    return handles


def with_vocabulary(handles: Sequence[ModelHandle], ctx: ToolContext) -> list[ModelHandle]:
    """The offline planner reads spend questions against the warehouse's vocabulary catalog:
    give it a loader bound to this run's read-only warehouse, loaded once per run (the planner
    is called for the plan and again for the answer; other models look values up through the
    `vocab_lookup` tool instead)."""
    from agent.offline.planner import OfflinePlanner

    @cache
    def load() -> Vocabulary | None:
        from tools.vocab.catalog import load_vocabulary

        try:
            return load_vocabulary(ctx.engine(), ctx.config)
        except FinopsError:
            return None

    out = []
    for handle in handles:
        if isinstance(handle.chat, OfflinePlanner):
            chat = handle.chat.model_copy(update={"vocabulary": load})
            handle = ModelHandle(handle.provider, handle.model, chat)
        out.append(handle)
    return out
