"""Changing `finops.yaml` safely: add a virtual-tag rule, show the diff, apply atomically.

The edit is round-trip (ruamel.yaml keeps comments, order and style), validated as a whole config
(by the schema of the running config, passed in) before anything is written, and applied only if
the file is byte-for-byte the one the diff was
computed from. The old file is kept beside the new one (`finops.yaml.<UTC time>.bak`).
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RoundTripError

from warehouse.errors import ConfigError, QueryError
from warehouse.settings import Strict, parse_settings

__all__ = ["add_rule_text", "apply_text", "sha256_text", "unified_diff"]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _round_trip() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 100
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _validate(text: str, source: str, schema: type[Strict]) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    parse_settings(schema, data, source)


def add_rule_text(
    text: str,
    vtag: str,
    rule: dict[str, Any],
    *,
    schema: type[Strict],
    position: int | None = None,
    source: str = "",
) -> str:
    """The config text with `rule` inserted into `virtual_tags.<vtag>.rules` (at `position`,
    default last), validated as a whole; raises ConfigError/QueryError and changes nothing."""
    where = source or "finops.yaml"
    _validate(text, where, schema)
    rt = _round_trip()
    try:
        doc = rt.load(text)
    except RoundTripError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    tags = doc.get("virtual_tags") if isinstance(doc, CommentedMap) else None
    if not isinstance(tags, CommentedMap) or vtag not in tags:
        raise QueryError(f"virtual tag {vtag!r} is not defined in {where}")
    definition = tags[vtag]
    if not isinstance(definition, CommentedMap):
        raise QueryError(f"virtual_tags.{vtag} in {where} is not a mapping")
    rules = definition.get("rules")
    if rules is None:
        rules = CommentedSeq()
        definition["rules"] = rules
    if any(isinstance(r, dict) and r.get("id") == rule.get("id") for r in rules):
        raise QueryError(f"virtual tag {vtag!r} already has a rule with id {rule.get('id')!r}")
    index = len(rules) if position is None else max(0, min(position, len(rules)))
    rules.insert(index, rule)
    out = io.StringIO()
    rt.dump(doc, out)
    new_text = out.getvalue()
    _validate(new_text, f"{where} with the new rule", schema)
    return new_text


def unified_diff(old: str, new: str, name: str = "finops.yaml") -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), name, name + " (new)"
        )
    )


def apply_text(
    path: Path, expected_sha256: str, new_text: str, now: datetime, schema: type[Strict]
) -> Path:
    """Replace `path` with `new_text` atomically if it still hashes to `expected_sha256`;
    return the backup of the old file."""
    current = path.read_text(encoding="utf-8")
    if sha256_text(current) != expected_sha256:
        raise QueryError(f"{path} changed since this proposal was made; propose the change again")
    _validate(new_text, str(path), schema)
    backup = path.with_name(f"{path.name}.{now:%Y%m%dT%H%M%SZ}.bak")
    backup.write_text(current, encoding="utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(new_text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return backup
