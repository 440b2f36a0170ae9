"""The alias table: what practitioners call things → the names bills actually write.

`aliases.yaml` (beside this module) has one section per family of names (providers, services,
regions, models, charge categories…). A section says which catalog dimensions it resolves to and
how a bill's value is compared with a group's forms:

* `exact`: equal after `key()` (case, spaces and punctuation ignored: "Amazon EC2" = "AmazonEC2");
* `versioned`: the form, optionally after a vendor prefix (`anthropic.`, `models/`) and followed
  by a date or version suffix and a meter (`gpt-4o` = `gpt-4o-2024-08-06`, `gpt-4o:input`, but
  not `gpt-4o-mini`);
* `prefix`: the form followed by anything after a separator (a model family: `claude-sonnet`).

Each group has `names` (its spellings on bills; each is also a lookup key), `aliases` (what
people say; lookup keys) and `includes` (values it also resolves to that are too generic to be
keys, such as Azure's meter category "Storage"). A group only ever resolves to values present in
the catalog: the table never invents a value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALIASES_PATH",
    "AliasGroup",
    "AliasSection",
    "AliasTable",
    "fold",
    "fuzzy_text",
    "key",
    "load_aliases",
]

ALIASES_PATH = Path(__file__).with_name("aliases.yaml")

MatchMode = Literal["exact", "versioned", "prefix"]

_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)
_VENDOR = r"(?:[\w.-]*[./])?"
_VERSION = (
    r"(?:[-_@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|v\d+(?::\d+)?|latest|preview))*(?::[\w .-]+)?"
)


def fold(text: str) -> str:
    """Case- and accent-folded text (punctuation kept)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def key(text: str) -> str:
    """The comparison key: case, accents, whitespace and punctuation ignored."""
    return _SEPARATORS.sub("", fold(text))


def fuzzy_text(text: str) -> str:
    """Text for fuzzy scoring: folded, punctuation turned into single spaces."""
    return _SEPARATORS.sub(" ", fold(text)).strip()


class AliasGroup(BaseModel):
    """One thing under its spellings (`names`), what people call it (`aliases`), and generic
    values it also covers (`includes`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: tuple[str, ...] = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.names[0]

    def lookup_keys(self) -> set[str]:
        """The lookup keys: names and aliases, as `key()`s."""
        return {k for k in map(key, (*self.names, *self.aliases)) if k}

    def forms(self) -> tuple[str, ...]:
        """Every value spelling this group resolves to."""
        return (*self.names, *self.includes)


class AliasSection(BaseModel):
    """Groups resolving to the same dimensions, compared in one way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dimensions: tuple[str, ...] = Field(min_length=1)
    match: MatchMode = "exact"
    groups: tuple[AliasGroup, ...] = ()

    def pattern(self, group: AliasGroup) -> re.Pattern[str] | None:
        """For `versioned`/`prefix` sections, one regex over the folded value."""
        if self.match == "exact":
            return None
        forms = "|".join(re.escape(fold(f)) for f in group.forms())
        tail = _VERSION if self.match == "versioned" else r"(?:[-_.:@/ ][\w.:@/ -]*)?"
        return re.compile(f"{_VENDOR}(?:{forms}){tail}")


class AliasTable(BaseModel):
    """Every section, by name (the YAML's top level)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sections: dict[str, AliasSection]

    def entries(self) -> Iterable[tuple[AliasSection, AliasGroup]]:
        for section in self.sections.values():
            for group in section.groups:
                yield section, group

    def keyed(self) -> dict[str, list[tuple[AliasSection, AliasGroup]]]:
        """Lookup key → the (section, group) pairs it names (a key may name several)."""
        out: dict[str, list[tuple[AliasSection, AliasGroup]]] = {}
        for section, group in self.entries():
            for k in group.lookup_keys():
                out.setdefault(k, []).append((section, group))
        return out


@lru_cache(maxsize=4)
def load_aliases(path: Path = ALIASES_PATH) -> AliasTable:
    """The alias table at `path` (default: the maintained one beside this module), validated."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return AliasTable.model_validate({"sections": doc})
