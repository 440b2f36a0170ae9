"""The offline planner: a deterministic LangChain chat model that needs no API key.

Why: `make demo`, CI and anyone without a key still get a working agent. It plugs into the same
chat graph as the real models: on a new human question it plans one tool call (parsed by
`agent.offline.intents` from the human's words only), and once tool results follow that question
it writes the final answer from them (`agent.offline.answers`). It never plans twice for one
question, so the graph cannot loop, and nothing inside a tool result can become a tool call.
Its replies carry zero token usage: the self-budget meters it as free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool

from agent.offline.answers import ToolResult, answer_from_results, unsupported_answer
from agent.offline.detect import plan_detect
from agent.offline.intents import ToolPlan, Unsupported, plan_question
from agent.offline.optimize import plan_optimize
from agent.offline.spend_answers import clarification_answer
from agent.offline.tags import plan_tags
from agent.offline.understand import Understanding, understand

if TYPE_CHECKING:
    from tools.vocab.catalog import Vocabulary

__all__ = ["KNOWN_TOOLS", "MODEL_NAME", "OfflinePlanner", "plan_with_tags", "reply_to"]

MODEL_NAME = "offline-planner"
KNOWN_TOOLS = frozenset(
    {
        "spend_query",
        "unit_cost_report",
        "query_sql",
        "proposal_status",
        "open_ticket",
        "tags_coverage",
        "tags_candidates",
        "tags_explain",
        "spend_forecast",
        "anomalies_list",
        "budget_status_report",
        "runaway_flags",
    }
)
"""The tools the planner can plan or summarize; `bind_tools` accepts any list and keeps this."""

_TODAY = re.compile(r"Today is (\d{4}-\d{2}-\d{2})\.")
_VTAGS = re.compile(r"Virtual tags defined: ([a-z0-9_, ]+)\.")


def _text(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in message.content]
    return " ".join(parts)


def _today(messages: Sequence[BaseMessage]) -> date | None:
    """The date in the system prompt's "Today is YYYY-MM-DD." line (the planner has no clock)."""
    for message in messages:
        if isinstance(message, SystemMessage):
            found = _TODAY.search(_text(message))
            if found:
                try:
                    return date.fromisoformat(found[1])
                except ValueError:
                    return None
    return None


def _virtual_tags(messages: Sequence[BaseMessage]) -> set[str]:
    """Virtual tag names listed in the system prompt (they replace raw tags where defined)."""
    for message in messages:
        if isinstance(message, SystemMessage):
            found = _VTAGS.search(_text(message))
            if found:
                return {n.strip() for n in found[1].split(",") if n.strip()}
    return set()


def _prefer_virtual(plan: ToolPlan, vtags: set[str]) -> ToolPlan:
    """`tag:team` → `vtag:team` when a virtual tag `team` is defined: it covers untagged spend."""

    def swap(text: str) -> str:
        if text.startswith("tag:") and text.split("=", 1)[0][4:] in vtags:
            return "v" + text
        return text

    args = dict(plan.args)
    for key in ("by", "filters"):
        if isinstance(args.get(key), list):
            args[key] = [swap(v) if isinstance(v, str) else v for v in args[key]]
    return replace(plan, args=args)


def _results(after: Sequence[BaseMessage]) -> list[ToolResult]:
    names = {
        call["id"]: call["name"] for m in after if isinstance(m, AIMessage) for call in m.tool_calls
    }
    return [
        ToolResult(m.name or names.get(m.tool_call_id, "tool"), _text(m))
        for m in after
        if isinstance(m, ToolMessage)
    ]


def _reply(content: str, tool_calls: list[ToolCall] | None = None) -> AIMessage:
    usage = UsageMetadata(input_tokens=0, output_tokens=0, total_tokens=0)
    return AIMessage(
        content=content,
        tool_calls=tool_calls or [],
        response_metadata={"model_name": MODEL_NAME},
        usage_metadata=usage,
    )


def _as_of(today: date | None, vocab: Vocabulary) -> date | None:
    """The day relative periods count back from: the last day with data, not after today."""
    last = vocab.last_day
    if last is None:
        return today
    return min(today, last) if today else last


def read_thread(
    messages: Sequence[BaseMessage], vocab: Vocabulary, today: date | None
) -> Understanding | None:
    """The last question's reading, each earlier spend question of the thread read first so a
    follow-up ("and in December?") can start from the one before it."""
    as_of = _as_of(today, vocab)
    if as_of is None:
        return None
    previous: Understanding | None = None
    current: Understanding | None = None
    for message in messages:
        if not isinstance(message, HumanMessage):
            continue
        current = understand(_text(message), vocab, as_of, previous, today)
        if current.spend_signal and current.request is not None and current.answerable:
            previous = current
    return current


def reply_to(messages: Sequence[BaseMessage], vocab: Vocabulary | None = None) -> AIMessage:
    """The planner's next message for a conversation: tool calls, or the final answer.

    Only the last human message is planned from; after its tool results arrive (or once any
    tool call was made for it) the reply is always a final answer. With the warehouse's
    vocabulary (`vocab`), spend questions are read by `agent.offline.understand` into one
    `spend_query` call, or answered with a clarification.
    """
    humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not humans:
        return _reply("The offline planner needs a question to answer.")
    question, after = messages[humans[-1]], messages[humans[-1] + 1 :]
    today = _today(messages)
    reading = read_thread(messages, vocab, today) if vocab is not None else None
    intent = plan_with_tags(_text(question), plan_question(_text(question), today, reading))
    planned = any(isinstance(m, AIMessage) and m.tool_calls for m in after)
    if isinstance(intent, Unsupported):
        if intent.reading is not None and vocab is not None:
            return _reply(clarification_answer(intent.reading, vocab.currency))
        return _reply(unsupported_answer(intent))
    if planned or any(isinstance(m, ToolMessage) for m in after):
        return _reply(answer_from_results(_results(after), intent.default_period, reading))
    return _plan(_prefer_virtual(intent, _virtual_tags(messages)), len(humans))


def plan_with_tags(question: str, intent: ToolPlan | Unsupported) -> ToolPlan | Unsupported:
    """A detection or allocation question beats a spend reading of the same words; refusals and
    tickets stay as they are."""
    if isinstance(intent, ToolPlan) and intent.tool != "spend_query":
        return intent
    if (
        isinstance(intent, Unsupported)
        and intent.reason != "cannot understand that question"
        and not intent.spend
    ):
        return intent
    if _reads_the_bill(intent):
        return plan_detect(question) or intent  # "RI fees on last month's bill" is a bill question
    return plan_detect(question) or plan_optimize(question) or plan_tags(question) or intent


BILL_DIMENSIONS = frozenset(
    {"ChargeCategory", "ChargeFrequency", "ChargeClass", "CommitmentDiscountType",
     "CommitmentDiscountCategory", "CommitmentDiscountStatus"}
)  # fmt: skip


def _reads_the_bill(intent: ToolPlan | Unsupported) -> bool:
    """A complete spend reading over a named period, or naming charge or commitment categories
    (fees, credits, reservations…), asks what the bill says; a savings recommendation or an
    allocation report is not what was asked."""
    if not isinstance(intent, ToolPlan) or intent.tool != "spend_query":
        return False
    named = any(f.get("dimension") in BILL_DIMENSIONS for f in intent.args.get("filters", []))
    return named or intent.default_period is None


def _plan(plan: ToolPlan, turn: int) -> AIMessage:
    call = ToolCall(name=plan.tool, args=dict(plan.args), id=f"call_{turn}", type="tool_call")
    return _reply("", [call])


class OfflinePlanner(BaseChatModel):
    """A deterministic chat model for the FinOps tools; free, keyless and loop-proof.

    Example: `OfflinePlanner().invoke([HumanMessage("spend by provider this month")])` returns
    an AIMessage calling `spend_breakdown` with `{"period": "this_month", "by": ["ProviderName"]}`.
    """

    vocabulary: Callable[[], Any] | None = None
    """Loads the warehouse's vocabulary catalog (set by the runtime); without it spend questions
    fall back to the keyword reading."""

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> OfflinePlanner:
        """The planner already knows its tools (`KNOWN_TOOLS`); binding returns it unchanged."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """One reply for the conversation so far (see `reply_to`)."""
        vocab = self.vocabulary() if self.vocabulary is not None else None
        return ChatResult(generations=[ChatGeneration(message=reply_to(messages, vocab))])
