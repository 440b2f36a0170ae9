"""The chat graph's nodes: call the model (metered, audited, with fallback) and run its tool calls.

The self-budget is checked before every model call and every tool call; when a cap would be
crossed the run ends with a plain message saying which cap and what was done so far (fail closed).
Tool calls go through `tools.invoke.invoke_tool`, so a write tool can only create a proposal.
Everything a node adds to the state (model replies, tool results) passes the audit log's
`redact` first, so no secret-looking string reaches a LangGraph checkpoint.
A read-only run (the sweep's summary) binds the read tools only and refuses, and audits, a call
to any other tool the model names anyway: its proposals come only from policies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolMessage

from agent.runtime.models import ModelHandle
from agent.runtime.state import ChatState
from guardrails.approvals import Proposal
from guardrails.audit import prompt_hash, redact
from guardrails.budget import BudgetExceeded, BudgetMeter, estimate_tokens, usage_from_message
from tools.context import ToolContext
from tools.invoke import ToolOutcome, invoke_tool
from tools.registry import ToolRegistry
from warehouse.errors import FinopsError

__all__ = ["ChatNodes", "ModelUnavailable", "scrub"]


class ModelUnavailable(FinopsError):
    """Every configured model failed after its retries."""


def _text(message: AnyMessage) -> str:
    body = message.content if isinstance(message.content, str) else json.dumps(message.content)
    if isinstance(message, AIMessage) and message.tool_calls:
        body += json.dumps(message.tool_calls, default=str)
    return body


def scrub(value: Any) -> Any:
    """`value` with every string passed through the audit log's `redact` (keys kept as they
    are, so tool arguments and results keep their shape)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _scrubbed(reply: AIMessage) -> AIMessage:
    calls = [{**c, "args": scrub(c["args"])} for c in reply.tool_calls]
    return reply.model_copy(update={"content": scrub(reply.content), "tool_calls": calls})


@dataclass
class ChatNodes:
    """Everything one chat run needs; its methods are the graph's nodes and routers."""

    models: Sequence[ModelHandle]
    registry: ToolRegistry
    ctx: ToolContext
    meter: BudgetMeter
    system_prompt: str
    run_id: str
    on_proposal: Callable[[Proposal], None] | None = None
    read_only: bool = False

    def _offered(self) -> ToolRegistry:
        """The tools this run may call: all of them, or the read tools of a read-only run."""
        if not self.read_only:
            return self.registry
        reads = {n: t for n, t in self.registry.tools.items() if t.effect == "read"}
        return ToolRegistry(tools=reads)

    def agent(self, state: ChatState) -> dict[str, Any]:
        """Ask the model for the next step (an answer or tool calls)."""
        messages: list[AnyMessage] = [SystemMessage(self.system_prompt), *state["messages"]]
        try:
            reply = self._call(messages)
        except BudgetExceeded as exc:
            self.ctx.audit.append(
                "budget_stop",
                "finops",
                {"limit": exc.limit, "message": str(exc)},
                run_id=self.run_id,
            )
            return {"messages": [AIMessage(self._stopped(str(exc)))], "stop_reason": exc.limit}
        return {"messages": [_scrubbed(reply)], "stop_reason": None}

    def tools(self, state: ChatState) -> dict[str, Any]:
        """Run the last reply's tool calls; each result goes back to the model as data."""
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        out: list[AnyMessage] = []
        for call in last.tool_calls:
            try:
                self.meter.check_tool_call(self.run_id)
            except BudgetExceeded as exc:
                self.ctx.audit.append(
                    "budget_stop",
                    "finops",
                    {"limit": exc.limit, "message": str(exc)},
                    run_id=self.run_id,
                )
                out.append(ToolMessage(f"not run: {exc}", tool_call_id=call["id"] or ""))
                out.append(AIMessage(self._stopped(str(exc))))
                return {"messages": out, "stop_reason": exc.limit}
            outcome = self._invoke(call["name"], call["args"])
            self.meter.record_tool_call(self.run_id)
            out.append(
                ToolMessage(
                    json.dumps(scrub(outcome.content), default=str),
                    tool_call_id=call["id"] or "",
                    name=call["name"],
                    status="success" if outcome.ok else "error",
                    artifact=scrub(outcome.model_dump(mode="json")),
                )
            )
        return {"messages": out}

    def _invoke(self, name: str, args: dict[str, Any]) -> ToolOutcome:
        offered = self._offered()
        if name in offered.tools:
            return invoke_tool(offered, self.ctx, name, args, on_proposal=self.on_proposal)
        if self.read_only:
            reason = "refused: this run may use read tools only (a sweep proposes from policies)"
            self.ctx.audit.append(
                "tool_refused",
                self.ctx.actor,
                {"tool": name, "reason": reason},
                run_id=self.run_id,
            )
            return ToolOutcome(
                name=name, args=dict(args), ok=False, content={"error": reason}, error=reason
            )
        return invoke_tool(offered, self.ctx, name, args, on_proposal=self.on_proposal)

    @staticmethod
    def route(state: ChatState) -> Literal["tools", "__end__"]:
        if state.get("stop_reason"):
            return "__end__"
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "__end__"

    @staticmethod
    def after_tools(state: ChatState) -> Literal["agent", "__end__"]:
        return "__end__" if state.get("stop_reason") else "agent"

    def _call(self, messages: list[AnyMessage]) -> AIMessage:
        schemas = self._offered().schemas()
        texts = [_text(m) for m in messages] + [json.dumps(schemas)]
        digest = prompt_hash(texts)
        failures = []
        for handle in self.models:
            self.meter.check_model_call(
                self.run_id, handle.provider, handle.model, estimate_tokens(texts)
            )
            try:
                bound = handle.chat.bind_tools(schemas)
                reply = bound.invoke(messages)
            except FinopsError:
                raise
            except Exception as exc:  # provider errors after the SDK's own retries
                failures.append(f"{handle.label}: {type(exc).__name__}")
                self.ctx.audit.append(
                    "model_error",
                    "finops",
                    {"model": handle.label, "error": type(exc).__name__},
                    run_id=self.run_id,
                )
                continue
            assert isinstance(reply, AIMessage)
            usage = usage_from_message(reply)
            cost = self.meter.record_model_call(
                self.run_id, handle.provider, handle.model, usage, digest
            )
            self.ctx.audit.append(
                "model_call",
                "finops",
                {
                    "model": handle.label,
                    "prompt_hash": digest,
                    "usage": usage.__dict__,
                    "cost_usd": cost,
                    "tool_calls": [c["name"] for c in reply.tool_calls],
                },
                run_id=self.run_id,
            )
            return reply
        raise ModelUnavailable("every model failed: " + "; ".join(failures))

    def _stopped(self, reason: str) -> str:
        usage = self.meter.run_usage(self.run_id)
        return (
            f"Stopped before the next step: {reason}. Done so far in this run: "
            f"{usage.model_calls} model call(s), {usage.tool_calls} tool call(s), "
            f"USD {usage.cost_usd:.4f} of model spend."
        )
