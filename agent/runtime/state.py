"""Graph state types: the chat conversation and one proposal's action workflow."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

__all__ = ["ActionState", "ChatState"]


class ChatState(TypedDict, total=False):
    """One conversation (a checkpoint thread); `stop_reason` ends the current run early."""

    messages: Annotated[list[AnyMessage], add_messages]
    stop_reason: str | None


class ActionState(TypedDict, total=False):
    """One proposal's workflow: what the ledger decided and what execution produced."""

    proposal_id: str
    decision: str | None
    outcome: dict[str, Any] | None
