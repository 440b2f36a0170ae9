"""The whole `finops.yaml`: the agent's own sections composed on top of every layer's settings.

`FINOPS_HOME` (default `./.finops`) holds the warehouse, the state database and the config file.
The config is validated strictly: an unknown key fails and the message lists the valid names, so a
typo never silently disables a setting. Each section lives with the package that owns it; this
module only adds the surfaces' sections (models, Slack, schedule) and loads the file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from agent.serve.scheduler_config import Schedule
from agent.slack.config import SlackConfig
from tools.settings import ToolSettings
from warehouse.errors import ConfigError
from warehouse.settings import Home, Strict, parse_settings

__all__ = [
    "Config",
    "Home",
    "ModelsConfig",
    "OpenAICompatibleConfig",
    "load_config",
    "parse_config",
]


class OpenAICompatibleConfig(Strict):
    """A self-hosted or proxied model server that speaks the OpenAI chat-completions API
    (vLLM, Ollama, llama.cpp server, a LiteLLM proxy), used with `models.provider:
    openai_compatible` or `--model openai_compatible[:MODEL]`. The self-budget meters it at
    the prices set here (USD per 1M tokens; zero is allowed, e.g. a machine you already pay
    for): there is no public price list for a self-hosted model, so they are required."""

    base_url: str = Field(
        min_length=1,
        description="The server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (vLLM), "
        "http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8080/v1 (llama.cpp), a LiteLLM "
        "proxy's URL.",
    )
    model: str = Field(min_length=1, description="Model id the server serves, e.g. qwen3:8b.")
    key_env: str | None = Field(
        default=None,
        description="Environment variable holding the server's API key; unset: the server "
        "needs none and a placeholder is sent (never OPENAI_API_KEY).",
    )
    input_usd_per_mtok: Decimal = Field(ge=0, description="USD per 1M prompt tokens.")
    output_usd_per_mtok: Decimal = Field(ge=0, description="USD per 1M completion tokens.")
    cached_input_usd_per_mtok: Decimal | None = Field(
        default=None,
        ge=0,
        description="USD per 1M prompt tokens the server reports as cached; unset: the input "
        "price.",
    )


class ModelsConfig(Strict):
    """Which chat model answers: `auto` picks Anthropic, then OpenAI, by which key is set, and
    the offline planner when neither is; the other provider is the fallback on errors.
    `openai_compatible` is a self-hosted server (section `openai_compatible`), with no fallback:
    a question meant for a local model is never sent to a cloud API."""

    provider: Literal["auto", "offline", "anthropic", "openai", "openai_compatible"] = "auto"
    anthropic_model: str = "claude-sonnet-4-6"
    openai_model: str = "gpt-5-mini"
    anthropic_key_env: str = "ANTHROPIC_API_KEY"
    openai_key_env: str = "OPENAI_API_KEY"
    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    max_retries: int = Field(default=2, ge=0, le=10)
    timeout_seconds: float = Field(default=60, gt=0)
    openai_compatible: OpenAICompatibleConfig | None = Field(
        default=None,
        description="The self-hosted OpenAI-compatible server: base URL, model, key, prices.",
    )

    @model_validator(mode="after")
    def _server_named(self) -> ModelsConfig:
        if self.provider == "openai_compatible" and self.openai_compatible is None:
            raise ValueError(
                "provider openai_compatible needs the openai_compatible section "
                "(base_url, model, input_usd_per_mtok, output_usd_per_mtok)"
            )
        return self


class Config(ToolSettings):
    """The whole `finops.yaml`. Every section is optional; defaults suit the embedded demo."""

    models: ModelsConfig = Field(default_factory=ModelsConfig)
    schedule: Schedule = Field(
        default_factory=list,
        description="Cron jobs `finops serve` runs (sweep, digest, ...; agent/serve).",
    )
    slack: SlackConfig = Field(
        default_factory=SlackConfig,
        description="Slack app: token sources, channels, roles, chat rate limit (agent/slack).",
    )

    @model_validator(mode="after")
    def _slack_alert_defaults(self) -> Config:
        """`slack_app` alert channels use the Slack app's token variable and API base URL
        unless they name their own."""
        notify = self.notify.with_slack_defaults(self.slack.bot_token_env, self.slack.base_url)
        object.__setattr__(self, "notify", notify)  # Config is frozen
        return self


def parse_config(data: Any, source: str = "config") -> Config:
    """Validate a parsed YAML document into a `Config`, raising `ConfigError` on any problem."""
    return parse_settings(Config, data, source)


def load_config(home: Home) -> Config:
    """Read the home's config file; a missing file means all defaults."""
    path = home.config_path
    if not path.exists():
        return Config()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return parse_config(data, str(path))
