"""Test doubles for the agent: a scripted chat model, a settable clock, a runtime factory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from agent.config import Config, Home
from agent.context import AppContext
from agent.runtime.models import ModelHandle
from agent.runtime.runner import Runtime
from guardrails.approvals import Proposal
from warehouse.db import connect

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ScriptedChatModel(FakeMessagesListChatModel):
    """Replies from a script, in order; records every prompt it was sent."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def call(name: str, args: dict[str, Any], n: int = 1) -> AIMessage:
    """A scripted reply that calls one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{n}"}])


def scripted(
    *replies: BaseMessage, provider: str = "scripted", model: str = "script"
) -> ModelHandle:
    chat = ScriptedChatModel(responses=list(replies))
    return ModelHandle(provider, model, chat)


def make_app(home: Path, **config: Any) -> AppContext:
    """An app context over `home` with a migrated (empty) warehouse and the given config."""
    home.mkdir(parents=True, exist_ok=True)
    connect(home / "warehouse.duckdb").close()
    return AppContext(home=Home(home), config=Config(**config))


def make_runtime(
    home: Path, clock: Clock, models: Sequence[ModelHandle] | None = None, **config: Any
) -> Runtime:
    config.setdefault("approvers", ["alice", "bob"])
    return Runtime(make_app(home, **config), clock=clock, environ={}, models=models)


def propose_via_tool(rt: Runtime, tool: str, args: dict[str, Any]) -> Proposal:
    """Have a scripted model call write tool `tool`; the pending proposal it recorded."""
    rt._models = [scripted(call(tool, args), AIMessage("Proposed."))]
    result = rt.ask("act on the finding")
    assert result.proposals, result.tool_calls
    return rt.ledger.get(result.proposals[0])


def tool_error(rt: Runtime, tool: str, args: dict[str, Any]) -> str:
    """Have a scripted model call `tool`, which must refuse; its error (no proposal made)."""
    rt._models = [scripted(call(tool, args), AIMessage("Could not."))]
    result = rt.ask("act on the finding")
    assert not result.proposals and result.tool_calls[0].ok is False
    return result.tool_calls[0].error or ""
