"""Chat in Slack: an `app_mention`, a direct message, or a follow-up in a channel thread the bot
already answers runs the chat graph on the chat pool (`slack.chat_workers` threads of its own, so
acks never wait behind a model).

A Slack thread is one conversation: its root message's ts names the checkpoint thread
(`slack:CHANNEL:THREAD_TS`), so a follow-up in the thread keeps the context; a follow-up there
needs no new @mention. In a DM the answer comes inline (not in a thread under the question) and
the DM is one conversation (`slack:CHANNEL:im`). Refusals (no role, rate limit) are ephemeral,
seen only by the asker. The model's Markdown is converted to mrkdwn (escaped); an answer longer
than one section ends with "…more" and the full text follows as a file. Every Web API call is
retried on HTTP 429 and connection errors by the client; a final update that still fails is tried
once more and then posted as a new message, so the answer is never lost.

One message shows progress ("querying spend…") and is updated in place with the answer (Block
Kit: the figures with currency, period and scope); a trend, a breakdown or a forecast (with its
80% and 95% bands) also gets a PNG chart. A message is handled once: a Slack retry and the
mention/message double delivery share the message's channel and ts, recorded in the state store
before any work.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage
from slack_sdk.errors import SlackApiError

from agent.runtime.runner import AskResult, Runtime
from agent.slack.blocks import answer_blocks, spend_data, text_blocks
from agent.slack.charts import chart_for, forecast_data
from agent.slack.mrkdwn import escape, from_markdown
from agent.slack.rbac import Principal, ScopeRefusal, check_question, scoped_registry
from agent.slack.services import Services
from tools.forecast.path import ForecastPath, forecast_path
from tools.spend.engine import SpendQuery, spend
from warehouse.errors import FinopsError

__all__ = ["MAX_ANSWER", "handle_message", "thread_id_for", "wants_message"]

log = logging.getLogger("finops.slack")
_MENTION = re.compile(r"<@[A-Z0-9]+>")
MAX_ANSWER = 2900  # what `blocks.answer_blocks` shows in one section
MORE = "\n_…more: the full answer is attached as a file._"
_PROGRESS = {
    "spend_breakdown": "querying spend…",
    "spend_movers": "comparing periods…",
    "spend_forecast": "forecasting…",
    "unit_cost_report": "computing unit cost…",
    "unit_economics_report": "computing unit economics…",
    "anomalies_list": "checking anomalies…",
    "budget_status_report": "checking budgets…",
    "optimization_findings": "looking for savings…",
    "savings_report": "measuring realized savings…",
    "query_sql": "running a read-only query…",
}


def thread_id_for(channel: str, thread_ts: str) -> str:
    """The checkpoint thread of a Slack thread (the same for every message in it)."""
    return f"slack:{channel}:{thread_ts}"


def wants_message(services: Services, event: dict[str, Any]) -> bool:
    """Whether a `message` event is for the bot: a direct message, or a follow-up in a channel
    thread the bot already answers (no new @mention needed). Cheap: runs before the ack."""
    if event.get("bot_id") or event.get("subtype") or not event.get("user"):
        return False
    if event.get("channel_type") == "im":
        return True
    thread_ts = event.get("thread_ts")
    return bool(thread_ts) and (str(event.get("channel")), str(thread_ts)) in services.bot_threads


def handle_message(services: Services, event: dict[str, Any]) -> None:
    """Answer one user message (mention, DM or thread follow-up); runs on the chat pool.

    In a DM the answer comes inline (a DM is one conversation); elsewhere in the message's thread.
    """
    if event.get("bot_id") or event.get("subtype") or not event.get("user"):
        return
    channel, ts, user = str(event["channel"]), str(event["ts"]), str(event["user"])
    if not services.state.first_seen(f"msg:{channel}:{ts}", str(event.get("type"))):
        return
    inline = event.get("channel_type") == "im" and not event.get("thread_ts")
    thread_ts = str(event.get("thread_ts") or ts)
    reply_in = None if inline else thread_ts
    question = _MENTION.sub("", str(event.get("text") or "")).strip()
    principal = services.access.principal(user)
    refusal = _gate(services, principal, question)
    if refusal:
        services.ephemeral(channel, user, refusal, thread_ts=reply_in)
        return
    if not inline:
        services.bot_threads.add(channel, thread_ts)
    progress = services.client.chat_postMessage(
        channel=channel, thread_ts=reply_in, text="_Working on it…_"
    )
    reply = _Reply(services, channel, str(progress["ts"]), reply_in)
    _answer(
        services, principal, question, thread_id_for(channel, "im" if inline else thread_ts), reply
    )


@dataclass(frozen=True)
class _Reply:
    """Where an answer goes: progress message `ts` in `channel`, in `thread_ts` (None: inline)."""

    services: Services
    channel: str
    ts: str
    thread_ts: str | None

    def progress(self, tool: str) -> None:
        text = f"_{_PROGRESS.get(tool, f'running {tool}…')}_"
        self.services.update(self.channel, self.ts, text, text_blocks(text))

    def final(self, text: str, blocks: list[dict[str, Any]]) -> None:
        _final(self.services, self.channel, self.ts, text, blocks, self.thread_ts)


def _answer(
    services: Services, principal: Principal, question: str, thread: str, reply: _Reply
) -> None:
    try:
        result, data, path = _ask(services, principal, question, thread, reply.progress)
    except ScopeRefusal as exc:
        services.refuse(principal.user, "scope", str(exc), question=question)
        text = escape(str(exc))
        reply.final(text, text_blocks(f":no_entry: {text}"))
        return
    except FinopsError as exc:
        text = escape(str(exc))
        reply.final(text, text_blocks(f":warning: {text}"))
        return
    except Exception as exc:
        log.exception("chat run failed")
        message = f"Internal error ({type(exc).__name__}); the server log has the details."
        reply.final(message, text_blocks(f":warning: {message}"))
        return
    answer, rest = _answer_text(services, result)
    reply.final(answer, answer_blocks(answer, data))
    if rest is not None:
        _upload_text(services, reply.channel, reply.thread_ts, rest)
    _upload_chart(services, reply.channel, reply.thread_ts, data, path)
    if result.proposals:
        from agent.slack.cards import post_pending_cards

        post_pending_cards(services)


def _final(
    services: Services,
    channel: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]],
    thread_ts: str | None = None,
) -> None:
    """The answer replaces the progress message; if that update still fails after the client's
    retries (429, connection errors), try once more, then post the answer as a new message (in
    `thread_ts`)."""
    if services.update(channel, ts, text, blocks) or services.update(channel, ts, text, blocks):
        return
    try:
        services.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text[:3000], blocks=blocks
        )
    except SlackApiError as exc:
        log.warning("answer lost: chat.postMessage failed: %s", exc.response.get("error"))


def _gate(services: Services, principal: Principal, question: str) -> str | None:
    """A refusal text (already audited) when this user may not ask now; None when they may."""
    user = principal.user
    if principal.role == "none":
        message = "You have no FinOps role in Slack yet; ask an admin to add you (`slack.roles`)."
        services.refuse(user, "no_role", message)
        return message
    if not question:
        return "Ask me about spend, forecasts, anomalies, budgets or savings."
    again = services.limiter.allow(user)
    if again is not None:
        message = (
            f"Rate limit: at most {services.slack.chat_per_user} questions per "
            f"{services.slack.chat_window_seconds:g} s; try again after {again:%H:%M:%S} UTC."
        )
        services.refuse(user, "rate_limited", message)
        return message
    return None


def _known_values(rt: Runtime, tags: list[str]) -> dict[str, list[str]]:
    """Every value each virtual tag takes in the warehouse (for the scope check)."""
    engine = rt.tool_context("slack", None).engine()
    known: dict[str, list[str]] = {}
    for tag in tags:
        dim = f"vtag:{tag}"
        result = spend(engine, rt.app.config, SpendQuery(by=[dim]))
        known[tag] = [row.dimensions[dim] for row in result.rows]
        definition = rt.app.config.virtual_tags.get(tag)
        if definition is not None:
            known[tag] += [*(definition.allowed_values or []), *definition.alias_map().values()]
    return known


def _ask(
    services: Services, principal: Principal, question: str, thread: str, on_tool: Any
) -> tuple[AskResult, dict[str, Any] | None, ForecastPath | None]:
    with services.locked() as rt:
        if principal.scope:
            try:
                check_question(principal, question, _known_values(rt, sorted(principal.scope)))
            finally:
                rt.close_readonly()
        base = rt.registry
        rt.registry = scoped_registry(base, principal, on_tool)
        try:
            result = rt.ask(question, thread_id=thread, actor=principal.user)
        finally:
            rt.registry = base
        outcomes = _outcomes(rt, thread)
        return result, spend_data(outcomes), _forecast_path(rt, outcomes)


def _forecast_path(rt: Runtime, outcomes: list[dict[str, Any]]) -> ForecastPath | None:
    """The daily path behind a `spend_forecast` answer (for its chart), from the warehouse."""
    data = forecast_data(outcomes)
    if data is None:
        return None
    try:
        return forecast_path(rt.tool_context("slack", None).engine(), rt.app.config, data)
    except (FinopsError, ValueError, KeyError) as exc:
        log.warning("forecast chart data failed: %s", exc)
        return None
    finally:
        rt.close_readonly()


def _outcomes(rt: Runtime, thread: str) -> list[dict[str, Any]]:
    """The tool results of the thread's last turn, from its checkpoint."""
    saved = rt.saver.get_tuple({"configurable": {"thread_id": thread}})
    if saved is None:
        return []
    messages = saved.checkpoint["channel_values"].get("messages", [])
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    return [
        m.artifact
        for m in messages[last_human:]
        if isinstance(m, ToolMessage) and isinstance(m.artifact, dict)
    ]


def _answer_text(services: Services, result: AskResult) -> tuple[str, str | None]:
    """The answer as mrkdwn for the message, and the full model text when it is longer than one
    section (the message then ends with "…more" and the full answer follows as a file)."""
    full = from_markdown(result.answer or "(no answer)")
    suffix = _suffix(services, result)
    if len(full) + len(suffix) <= MAX_ANSWER:
        return full + suffix, None
    room = MAX_ANSWER - len(suffix) - len(MORE)
    cut = full.rfind("\n", 0, room)
    head = full[: cut if cut > room // 2 else room].rstrip()
    if head.count("```") % 2:
        head += "\n```"
    return head + MORE + suffix, result.answer or ""


def _suffix(services: Services, result: AskResult) -> str:
    answer = ""
    if result.stopped:
        answer += f"\n_(stopped: {escape(result.stopped)})_"
    if result.proposals:
        where = services.slack.approvals_channel
        place = f"<#{where}>" if where else "`finops proposals`"
        answer += f"\nProposal(s) {', '.join(result.proposals)} wait for approval in {place}."
    return answer


def _upload_text(services: Services, channel: str, thread_ts: str | None, text: str) -> None:
    try:
        services.client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, content=text, filename="answer.md",
            title="Full answer",
        )  # fmt: skip
    except SlackApiError as exc:
        log.warning("files_upload_v2 failed: %s", exc.response.get("error"))


def _upload_chart(
    services: Services,
    channel: str,
    thread_ts: str | None,
    data: dict[str, Any] | None,
    path: ForecastPath | None,
) -> None:
    try:
        chart = chart_for(data, path)
    except (ValueError, TypeError) as exc:
        log.warning("chart failed: %s", exc)
        return
    if chart is None:
        return
    try:
        services.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=chart.png,
            filename="chart.png",
            title=chart.title,
            alt_txt=chart.caption or chart.title,
            initial_comment=chart.caption,
        )
    except SlackApiError as exc:
        log.warning("files_upload_v2 failed: %s", exc.response.get("error"))
