"""Chat models: Anthropic and OpenAI through their official SDKs (via langchain-anthropic /
langchain-openai), and the offline planner that needs no key.

`select_models` returns the primary model and its fallback: with `models.provider: auto` the
provider whose key is set answers (Anthropic first), the other one is the fallback after the
primary's own retries fail, and with no key at all the offline planner answers. Keys are read from
the environment mapping passed in (never at import time) and never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from agent.config import ModelsConfig
from guardrails.settings import BudgetConfig
from warehouse.errors import ConfigError

__all__ = ["ModelHandle", "select_models"]

PROVIDERS = ("anthropic", "openai")


@dataclass(frozen=True)
class ModelHandle:
    """A chat model with the provider and model id the self-budget prices it by."""

    provider: str
    model: str
    chat: BaseChatModel

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
    if name in (*PROVIDERS, "offline"):
        return name, None
    if name.startswith("claude"):
        return "anthropic", name
    if name.startswith(("gpt", "o1", "o3", "o4")):
        return "openai", name
    raise ConfigError(f"unknown model {name!r}; use offline, anthropic[:MODEL] or openai[:MODEL]")


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
