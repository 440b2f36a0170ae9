"""One registry of every tool the agent can call, with its declared effect.

Each tool is a typed function `(ToolContext, Args) -> result` with a pydantic argument model, a
docstring written for the model (with an example), an effect (`read` or `write`), whether its
effect can be undone, and the cloud permissions it needs (pattern: Cloud Custodian's registry).
Read tools return data. Write tools never act: they return a `ProposalDraft`, and the caller
records it in the approvals ledger; the matching *action* (see `ActionSpec`) runs only after an
approval, from the action graph.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from guardrails.approvals import Proposal, ProposalDraft
from tools.context import ToolContext

__all__ = [
    "REGISTRY",
    "ActionSpec",
    "Effect",
    "ToolRegistry",
    "ToolSpec",
]

Effect = Literal["read", "write"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model and the guardrails see it."""

    name: str
    description: str
    args: type[BaseModel]
    effect: Effect
    reversible: bool
    permissions: tuple[str, ...]
    example: Mapping[str, Any]
    run: Callable[[ToolContext, Any], Any]

    def schema(self) -> dict[str, Any]:
        """The tool in OpenAI function format (accepted by both providers' `bind_tools`)."""
        params = self.args.model_json_schema()
        params.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }


@dataclass(frozen=True)
class ActionSpec:
    """What an approved proposal of one action type does.

    `precheck` re-validates right before execution (target still in the state the evidence
    described; returns a problem or None); `execute` performs the change once and returns the
    result, including how to roll it back.
    """

    name: str
    precheck: Callable[[ToolContext, Proposal], str | None]
    execute: Callable[[ToolContext, Proposal], dict[str, Any]]
    permissions: tuple[str, ...]


@dataclass
class ToolRegistry:
    """Tools by name and the actions their proposals run."""

    tools: dict[str, ToolSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)

    def tool(
        self,
        *,
        effect: Effect,
        reversible: bool,
        permissions: tuple[str, ...],
        example: Mapping[str, Any],
    ) -> Callable[[Callable[[ToolContext, Any], Any]], Callable[[ToolContext, Any], Any]]:
        """Register a function as a tool; its name, docstring and argument model describe it."""

        def wrap(fn: Callable[[ToolContext, Any], Any]) -> Callable[[ToolContext, Any], Any]:
            hints = inspect.get_annotations(fn, eval_str=True)
            args = hints.get("args")
            if not (isinstance(args, type) and issubclass(args, BaseModel)):
                raise TypeError(f"tool {fn.__name__}: `args` must be annotated with a model")
            if fn.__name__ in self.tools:
                raise ValueError(f"tool {fn.__name__} is registered twice")
            self.tools[fn.__name__] = ToolSpec(
                name=fn.__name__,
                description=inspect.cleandoc(fn.__doc__ or ""),
                args=args,
                effect=effect,
                reversible=reversible,
                permissions=permissions,
                example=example,
                run=fn,
            )
            return fn

        return wrap

    def action(self, spec: ActionSpec) -> None:
        if spec.name in self.actions:
            raise ValueError(f"action {spec.name} is registered twice")
        self.actions[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self.tools[name]
        except KeyError:
            raise KeyError(
                f"unknown tool {name!r}; known: {', '.join(sorted(self.tools))}"
            ) from None

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self.tools.values())

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self]


REGISTRY = ToolRegistry()
"""The product's registry; `tools.catalog` imports every tool module so it is complete."""


def is_draft(value: object) -> bool:
    """Whether a tool result is a proposal request rather than data."""
    return isinstance(value, ProposalDraft)
