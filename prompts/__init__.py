"""Prompt text as files, with a small loader; each run logs the hash of the prompt it used."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

__all__ = ["Prompt", "load_prompt"]


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt and the SHA-256 of its template (logged per run)."""

    name: str
    text: str
    template_sha256: str


def load_prompt(name: str, **values: str) -> Prompt:
    """Read `prompts/NAME.md` and fill its `{placeholders}` from `values`."""
    template = resources.files("prompts").joinpath(f"{name}.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(template.encode()).hexdigest()
    return Prompt(name=name, text=template.format(**values), template_sha256=digest)
