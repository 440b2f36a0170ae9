"""The chat graph's nodes: call the model (metered, audited, with fallback) and run its tool calls.

The self-budget is checked before every model call and every tool call; when a cap would be
crossed the run ends with a plain message saying which cap and what was done so far (fail closed).
Tool calls go through `tools.invoke.invoke_tool`, so a write tool can only create a proposal.
Everything a node adds to the state (model replies, tool results) passes the audit log's
`redact` first, so no secret-looking string reaches a LangGraph checkpoint.
A read-only run (the sweep's summary) binds the read tools only and refuses, and audits, a call
to any other tool the model names anyway: its proposals come only from policies.
Each model call binds only the tool families the turn needs (`agent.runtime.toolsets`: core
tools, families routed from the question, families loaded with the `load_tools` meta-tool or
used earlier in the run). Binding is about prompt size, not permission: a call to an offered
tool that is not bound yet still runs (its arguments validated as always) and binds its family
from the next call on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolMessage

from agent.runtime.models import ModelHandle
from agent.runtime.state import ChatState
from agent.runtime.toolsets import FAMILIES, LOAD_TOOLS, Selection, parse_load, select_tools
from guardrails.approvals import Proposal
from guardrails.audit import prompt_hash, redact
from guardrails.budget import (
    FREE_PROVIDERS,
    BudgetExceeded,
    BudgetMeter,
    Usage,
    estimate_tokens,
    usage_from_message,
)
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
        selection = select_tools(self._offered(), state["messages"])
        try:
            reply = self._call(messages, selection)
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
        if name == LOAD_TOOLS and name not in self.registry.tools:
            return self._load(args, offered)
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
    def _load(args: dict[str, Any], offered: ToolRegistry) -> ToolOutcome:
        """The `load_tools` meta-tool: names the tools the next call binds (the selection
        reads the call back from the conversation, so nothing is stored here)."""
        families, error = parse_load(args)
        if error is not None:
            return ToolOutcome(
                name=LOAD_TOOLS, args=dict(args), ok=False, content={"error": error}, error=error
            )
        bound = [t for f in FAMILIES if f.name in families for t in f.tools if t in offered.tools]
        content = {"loaded": families, "tools": bound, "note": "bound from your next step on"}
        return ToolOutcome(name=LOAD_TOOLS, args={"families": families}, ok=True, content=content)

    @staticmethod
    def route(state: ChatState) -> Literal["tools", "__end__"]:
        if state.get("stop_reason"):
            return "__end__"
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "__end__"

    @staticmethod
    def after_tools(state: ChatState) -> Literal["agent", "__end__"]:
        return "__end__" if state.get("stop_reason") else "agent"

    def _call(self, messages: list[AnyMessage], selection: Selection) -> AIMessage:
        schemas = selection.schemas()
        texts = [_text(m) for m in messages] + [json.dumps(schemas)]
        digest = prompt_hash(texts)
        prompt_tokens = estimate_tokens(texts)
        failures = []
        for handle in self.models:
            self.meter.check_model_call(
                self.run_id, handle.provider, handle.model, prompt_tokens, price=handle.price
            )
            try:
                reply = handle.chat.bind_tools(schemas).invoke(messages)
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
            self._record(handle, reply, digest, selection, prompt_tokens)
            return reply
        raise ModelUnavailable("every model failed: " + "; ".join(failures))

    def _record(
        self,
        handle: ModelHandle,
        reply: AIMessage,
        digest: str,
        selection: Selection,
        prompt_tokens: int,
    ) -> None:
        """Meter and audit one answered call. A priced model whose server reported no usage
        (some self-hosted servers omit it) is metered at the estimated prompt and reply sizes,
        never at zero."""
        usage = usage_from_message(reply)
        estimated = usage == Usage() and handle.provider not in FREE_PROVIDERS
        if estimated:
            usage = Usage(input_tokens=prompt_tokens, output_tokens=estimate_tokens([_text(reply)]))
        cost = self.meter.record_model_call(
            self.run_id, handle.provider, handle.model, usage, digest, price=handle.price
        )
        self.ctx.audit.append(
            "model_call",
            "finops",
            {
                "model": handle.label,
                "prompt_hash": digest,
                "usage": usage.__dict__,
                "usage_estimated": estimated,
                "cost_usd": cost,
                "families": list(selection.families),
                "tools_bound": len(selection.tools),
                "tool_calls": [c["name"] for c in reply.tool_calls],
            },
            run_id=self.run_id,
        )

    def _stopped(self, reason: str) -> str:
        usage = self.meter.run_usage(self.run_id)
        return (
            f"Stopped before the next step: {reason}. Done so far in this run: "
            f"{usage.model_calls} model call(s), {usage.tool_calls} tool call(s), "
            f"USD {usage.cost_usd:.4f} of model spend."
        )
