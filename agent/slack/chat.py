"""Chat in Slack: an `app_mention` or a direct message runs the chat graph, and the answer goes to
the message's thread.

A Slack thread is one conversation: its root message's ts names the checkpoint thread
(`slack:CHANNEL:THREAD_TS`), so a follow-up in the thread keeps the context. One message in the
thread shows progress ("querying spend…") and is updated in place with the answer (Block Kit: the
figures with currency, period and scope); a trend, a breakdown or a forecast (with its 80% and
95% bands) also gets a PNG chart. A message is handled once: a Slack retry and the
mention/message double delivery share the message's channel and ts, recorded in the state store
before any work.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage
from slack_sdk.errors import SlackApiError

from agent.runtime.runner import AskResult, Runtime
from agent.slack.blocks import answer_blocks, spend_data, text_blocks
from agent.slack.charts import chart_for, forecast_data
from agent.slack.rbac import Principal, ScopeRefusal, check_question, scoped_registry
from agent.slack.services import Services
from tools.forecast.path import ForecastPath, forecast_path
from tools.spend.engine import SpendQuery, spend
from warehouse.errors import FinopsError

__all__ = ["handle_message", "thread_id_for"]

log = logging.getLogger("finops.slack")
_MENTION = re.compile(r"<@[A-Z0-9]+>")
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


def handle_message(services: Services, event: dict[str, Any]) -> None:
    """Answer one user message (mention or DM) in its thread; runs after Slack's ack."""
    if event.get("bot_id") or event.get("subtype") or not event.get("user"):
        return
    channel, ts, user = str(event["channel"]), str(event["ts"]), str(event["user"])
    if not services.state.first_seen(f"msg:{channel}:{ts}", str(event.get("type"))):
        return
    thread_ts = str(event.get("thread_ts") or ts)
    question = _MENTION.sub("", str(event.get("text") or "")).strip()
    principal = services.access.principal(user)
    refusal = _gate(services, principal, question)
    if refusal:
        services.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=refusal)
        return
    progress = services.client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text="_Working on it…_"
    )
    reply_ts = str(progress["ts"])

    def on_tool(name: str) -> None:
        text = f"_{_PROGRESS.get(name, f'running {name}…')}_"
        services.update(channel, reply_ts, text, text_blocks(text))

    try:
        thread = thread_id_for(channel, thread_ts)
        result, data, path = _ask(services, principal, question, thread, on_tool)
    except ScopeRefusal as exc:
        services.refuse(user, "scope", str(exc), question=question)
        services.update(channel, reply_ts, str(exc), text_blocks(f":no_entry: {exc}"))
        return
    except FinopsError as exc:
        services.update(channel, reply_ts, str(exc), text_blocks(f":warning: {exc}"))
        return
    except Exception as exc:
        log.exception("chat run failed")
        message = f"Internal error ({type(exc).__name__}); the server log has the details."
        services.update(channel, reply_ts, message, text_blocks(f":warning: {message}"))
        return
    answer = _with_proposals(services, result)
    services.update(channel, reply_ts, answer, answer_blocks(answer, data))
    _upload_chart(services, channel, thread_ts, data, path)
    if result.proposals:
        from agent.slack.cards import post_pending_cards

        post_pending_cards(services)


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


def _with_proposals(services: Services, result: AskResult) -> str:
    answer = result.answer or "(no answer)"
    if result.stopped:
        answer += f"\n_(stopped: {result.stopped})_"
    if result.proposals:
        where = services.slack.approvals_channel
        place = f"<#{where}>" if where else "`finops proposals`"
        answer += f"\nProposal(s) {', '.join(result.proposals)} wait for approval in {place}."
    return answer


def _upload_chart(
    services: Services,
    channel: str,
    thread_ts: str,
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
