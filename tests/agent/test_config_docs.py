"""docs/config.md is generated from the config schema and must match it."""

from __future__ import annotations

import pytest

from agent.config import Config
from agent.config_docs import DOC_PATH, main, render

_STALE = "docs/config.md is stale: run `python -m agent.config_docs --write`"


def test_committed_page_matches_the_schema() -> None:
    assert DOC_PATH.exists(), _STALE
    assert DOC_PATH.read_text(encoding="utf-8") == render(), _STALE


def test_every_top_level_key_is_documented() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    for name, info in Config.model_fields.items():
        key = info.alias or name
        assert f"| `{key}` |" in text, f"top-level key {key!r} missing from docs/config.md"


def test_render_is_deterministic() -> None:
    assert render() == render()


def test_check_exits_zero_when_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert capsys.readouterr().err == ""
