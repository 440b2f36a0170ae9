"""Slack tokens, from the environment or a secrets file only, and never shown.

`SlackTokens` keeps each token in a `SecretStr`, so printing, logging or dumping the object shows
`**********`. The environment wins over the file; the file holds `NAME=value` lines (or a YAML
mapping) under the variable names the config names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, SecretStr

from agent.slack.config import SlackConfig
from warehouse.errors import ConfigError

__all__ = ["SlackTokens", "load_tokens"]


class SlackTokens(BaseModel):
    """Bot token (xoxb-), signing secret (HTTP mode) and app token (xapp-, Socket Mode)."""

    bot: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app: SecretStr | None = None


def _read_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"slack.secrets_file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items() if v is not None}
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def load_tokens(config: SlackConfig, environ: Mapping[str, str]) -> SlackTokens:
    """The tokens named by `config`, from `environ` first, then from `config.secrets_file`.

    Example: with SLACK_BOT_TOKEN=xoxb-… set, `load_tokens(SlackConfig(), os.environ).bot`
    is a SecretStr whose repr is `SecretStr('**********')`.
    """
    file_values = _read_file(config.secrets_file) if config.secrets_file else {}

    def pick(name: str) -> SecretStr | None:
        value = environ.get(name) or file_values.get(name)
        return SecretStr(value) if value else None

    return SlackTokens(
        bot=pick(config.bot_token_env),
        signing_secret=pick(config.signing_secret_env),
        app=pick(config.app_token_env),
    )
