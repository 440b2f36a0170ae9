"""Generate `docs/config.md`, the `finops.yaml` reference, from the config schema.

The page is rendered from `agent.config.Config` alone: every section (a nested model, the values
of a dict or list of models, each member of a discriminated union) gets a heading, the section
model's docstring and a table of its keys with type, default and the field's `description`. The
output is deterministic, so a test can fail when the committed page is stale.

    python -m agent.config_docs            # print the page
    python -m agent.config_docs --write    # write docs/config.md
    python -m agent.config_docs --check    # exit 1 if docs/config.md is stale
"""

from __future__ import annotations

import argparse
import enum
import inspect
import json
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, RootModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["DOC_PATH", "main", "render"]

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "config.md"
"""Where `--write` puts the page: `docs/config.md` beside the `agent` package."""

_COMMAND = "python -m agent.config_docs --write"
_NO_DESCRIPTION = "—"


@dataclass
class _Section:
    """One heading of the page: a model documented at a path of `finops.yaml`."""

    path: str
    model: type[BaseModel]
    note: str = ""
    anchor: str = ""
    children: list[_Section] = field(default_factory=list)


def render() -> str:
    """The whole reference page for `agent.config.Config`, as Markdown."""
    from agent.config import Config

    root = _Section(path="", model=Config)
    _collect(root, ancestors=(Config,))
    sections = list(_walk(root))
    _assign_anchors(sections)

    out = [
        "# Configuration reference (`finops.yaml`)",
        "",
        f"<!-- Generated from agent.config.Config by `{_COMMAND}`; do not edit. -->",
        "",
        "Generated from the config schema (`agent.config.Config`); do not edit by hand: run",
        f"`{_COMMAND}`. Examples and explanations: [configuration.md](configuration.md).",
        "",
        "The file is `$FINOPS_HOME/finops.yaml` (or `--config PATH`). Every section is optional",
        "and validated strictly: an unknown key fails and the error lists the valid keys.",
        "",
        "Sections:",
        "",
    ]
    out += [f"- [{_heading(s)}](#{s.anchor})" for s in sections[1:]]
    out.append("")
    for section in sections:
        out += _render_section(section)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the page, write it (`--write`) or check the committed one (`--check`)."""
    parser = argparse.ArgumentParser(
        prog="python -m agent.config_docs", description="Render docs/config.md from the schema."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {DOC_PATH}")
    mode.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
        return 0
    if args.check:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else None
        if current != text:
            print(f"error: docs/config.md is stale: run `{_COMMAND}`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


# --- the tree of sections ------------------------------------------------------------------------


def _collect(section: _Section, ancestors: tuple[type[BaseModel], ...]) -> None:
    """Find the sections below `section`: every model reachable from one of its fields."""
    for name, info in section.model.model_fields.items():
        key = _key(name, info)
        prefix = f"{section.path}.{key}" if section.path else key
        for path, model, note in _models_in(info.annotation, prefix):
            if model in ancestors:  # a recursive model: documented once, above
                continue
            child = _Section(path=path, model=model, note=note)
            section.children.append(child)
            _collect(child, (*ancestors, model))


def _models_in(tp: Any, path: str) -> list[tuple[str, type[BaseModel], str]]:
    """The models a type holds, each with the path its keys live at (`a.<name>`, `a[]`)."""
    tp = _unwrap(tp)
    if _is_model(tp):
        root = _root_type(tp)
        if root is not None:
            return _models_in(root, path)
        return [(path, tp, "")]
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (list, set, frozenset, tuple, Sequence) and args:
        return [m for a in args if a is not Ellipsis for m in _models_in(a, f"{path}[]")]
    if origin in (dict, Mapping) and len(args) == 2:
        return _models_in(args[1], f"{path}.<name>")
    if _is_union(tp):
        members = [_unwrap(a) for a in args]
        models = [m for m in members if _is_model(m) and _root_type(m) is None]
        found: list[tuple[str, type[BaseModel], str]] = []
        for member in members:
            if member in models and len(models) > 1:
                tag = _discriminator(member)
                note = f"when `{tag[0]}: {tag[1]}`" if tag else f"the `{member.__name__}` form"
                label = f"{tag[0]}: {tag[1]}" if tag else member.__name__
                found.append((f"{path} ({label})", member, note))
            else:
                found += _models_in(member, path)
        return found
    return []


def _walk(section: _Section) -> Iterator[_Section]:
    yield section
    for child in section.children:
        yield from _walk(child)


def _assign_anchors(sections: list[_Section]) -> None:
    """GitHub's heading anchors (lower case, punctuation dropped, `-1` for repeats)."""
    seen: dict[str, int] = {}
    for section in sections:
        slug = _slug(_heading(section))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        section.anchor = slug if count == 0 else f"{slug}-{count}"


def _slug(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _heading(section: _Section) -> str:
    return f"`{section.path}`" if section.path else "Top level"


# --- one section ---------------------------------------------------------------------------------


def _render_section(section: _Section) -> list[str]:
    out = [f"## {_heading(section)}", ""]
    doc = section.model.__doc__  # the class's own docstring (never inherited)
    if doc and doc.strip():
        out += [_prose(inspect.cleandoc(doc)), ""]
    if section.note:
        out += [f"This form applies {section.note}.", ""]
    links = {c.path: c.anchor for c in section.children}
    rows = []
    for name, info in section.model.model_fields.items():
        key = _key(name, info)
        path = f"{section.path}.{key}" if section.path else key
        targets = [(p, a) for p, a in links.items() if p == path or p.startswith(path + ".<")]
        targets += [(p, a) for p, a in links.items() if p.startswith((path + "[", path + " ("))]
        type_text = _cell(f"`{_type_name(info.annotation)}`") + _constraints(info)
        if targets:
            type_text += " — " + ", ".join(f"[`{p}`](#{a})" for p, a in targets)
        rows.append(
            f"| `{key}` | {type_text} | {_default(info)} | {_cell(_text(_description(info)))} |"
        )
    if rows:
        out += ["| key | type | default | description |", "|---|---|---|---|", *rows, ""]
    else:
        out += ["No keys.", ""]
    return out


def _key(name: str, info: FieldInfo) -> str:
    """The key as written in YAML: the field's alias when it has one."""
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return alias or name


def _description(info: FieldInfo) -> str:
    text = (info.description or "").strip()
    return " ".join(text.split()) if text else _NO_DESCRIPTION


def _prose(doc: str) -> str:
    """A docstring as Markdown: `<...>` escaped outside code; indented blocks kept as code."""
    lines = [line if line.startswith("    ") else _text(line) for line in doc.splitlines()]
    return "\n".join(lines).replace("::\n", ":\n")


def _text(text: str) -> str:
    """Escape `<` and `>` outside backtick code spans, so Markdown does not read them as HTML."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    return " ".join(text.split()).replace("|", "\\|")


def _constraints(info: FieldInfo) -> str:
    names = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "min length"}
    names |= {"max_length": "max length", "multiple_of": "multiple of", "pattern": "pattern"}
    parts = []
    for item in info.metadata:
        for attr, label in names.items():
            value = getattr(item, attr, None)
            if value is not None and not isinstance(value, FieldInfo):
                shown = f"`{value}`" if attr == "pattern" else _scalar(value)
                parts.append(f"{label} {shown}")
    return " " + _cell(f"({', '.join(parts)})") if parts else ""


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    try:
        value = info.get_default(call_default_factory=True, validated_data={})
    except Exception:  # a factory that needs other fields: say so instead of guessing
        return "computed"
    if isinstance(value, BaseModel):
        if isinstance(value, RootModel):
            value = value.root
        elif _is_plain_default(value):
            return "see below"
    return _cell(f"`{_yaml(value)}`") if value not in ("", None) else _empty(value)


def _is_plain_default(value: BaseModel) -> bool:
    """True when a model default is just its own keys' defaults (shown in its section)."""
    try:
        return value == type(value)()
    except Exception:  # required keys: the default is specific to this field
        return False


def _empty(value: object) -> str:
    return "`null`" if value is None else '`""`'


def _yaml(value: object) -> str:
    """A default written the way it would appear in `finops.yaml` (flow style); keys of nested
    models that keep their own defaults are left out, as one would leave them out of the file."""
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, exclude_defaults=True)
    if value is None or isinstance(value, str | int | float | Decimal | enum.Enum | PurePath):
        return _scalar(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_yaml(k)}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, set | frozenset):
        return "[" + ", ".join(sorted(_yaml(v) for v in value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    plain = re.fullmatch(r"[A-Za-z_$][\w$./:@*-]*", text) and text not in ("true", "false", "null")
    return text if plain else json.dumps(text, ensure_ascii=False)


# --- types ---------------------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` and type aliases down to the type itself."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif hasattr(tp, "__value__") and not isinstance(tp, type):  # TypeAliasType
            tp = tp.__value__
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _root_type(model: type[BaseModel]) -> Any | None:
    """The wrapped type of a `RootModel`, else None."""
    if issubclass(model, RootModel):
        return model.model_fields["root"].annotation
    return None


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _discriminator(model: type[BaseModel]) -> tuple[str, str] | None:
    """`(field, value)` when the model has one field typed as a single `Literal` value."""
    for name, info in model.model_fields.items():
        tp = _unwrap(info.annotation)
        if get_origin(tp) is Literal and len(get_args(tp)) == 1:
            return _key(name, info), _scalar(get_args(tp)[0])
    return None


def _type_name(tp: Any) -> str:
    """A short, readable name for a field type (`list[str]`, `auto | offline`, `Decimal`)."""
    tp = _unwrap(tp)
    if tp is None or tp is type(None):
        return "null"
    if tp is Any:
        return "any"
    if _is_model(tp):
        root = _root_type(tp)
        return _type_name(root) if root is not None else tp.__name__
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Literal:
        return " | ".join(_scalar(a) for a in args)
    if _is_union(tp):
        names = [_type_name(a) for a in args]
        names = [n for n in names if n != "null"] + (["null"] if "null" in names else [])
        return " | ".join(dict.fromkeys(names))
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if args:
            inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
            return f"{name}[{inner}]"
        return str(name)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return " | ".join(_scalar(m.value) for m in tp)
        return tp.__name__
    return str(tp).replace("typing.", "")


if __name__ == "__main__":
    raise SystemExit(main())
