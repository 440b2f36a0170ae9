"""The App Home tab: what the bot can do, the user's pending approvals (with the approval cards'
Approve / Reject buttons), their team's month-to-date spend and budgets, and their recent anomalies.

`register_home(bolt, services)` publishes the tab (`views.publish`) on `app_home_opened`, and again
after every decision taken from it. `home_view(data)` is the pure builder; `gather(services, user)`
collects what it shows, under the runtime lock like `/finops`.

The user's team: the `team` values of their viewer scope (`slack.roles`), else the teams whose
`slack.owner_channels` entry is their own user id. With none, the tab shows company-wide spend and
every budget and says so; a scoped viewer never sees anything outside their scope. Only users who
may decide a proposal (the `approvers` allow-list and their Slack role for its action type) see it.

Home buttons carry the cards' action ids (`finops_approve`, `finops_reject`) and the same value
(proposal id and the hash shown). A Home click has no channel or message, so the cards' listeners
cannot answer it: a global middleware acknowledges it at once and hands it to the Home handlers
on the listener executor. They apply the same checks as a card click: the Slack role (a refusal is
audited and shown only to the clicker, at the top of their Home tab), then the ledger (allow-list,
hash, expiry, two-person rule, at most once). The proposal's channel cards are then refreshed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_sdk.errors import SlackApiError

from agent.slack.blocks import APPROVE_ID, REJECT_ID, clip, fit, reject_modal
from agent.slack.cards import refresh_cards
from agent.slack.mrkdwn import escape
from agent.slack.rbac import Principal
from agent.slack.services import Services
from guardrails.approvals import ApprovalError, Proposal
from tools.anomalies.models import Anomaly
from tools.anomalies.store import AnomalyStore
from tools.budgets.service import BudgetStatus, budget_status
from tools.forecast.service import resolve_as_of
from tools.spend.engine import SpendQuery, parse_filter, spend
from warehouse.errors import FinopsError
from warehouse.format import money

__all__ = [
    "HOME_REJECT_MODAL_ID",
    "MAX_HOME_BLOCKS",
    "HomeData",
    "gather",
    "home_view",
    "publish_home",
    "register_home",
]

log = logging.getLogger("finops.slack")
HOME_REJECT_MODAL_ID = "finops_home_reject_modal"
MAX_HOME_BLOCKS = 100  # Slack's limit for a Home tab view
MAX_PROPOSALS = 20  # two blocks each
MAX_ROWS = 10  # budgets and anomalies shown (one section each, lines)
ANOMALY_DAYS = 30
_TEXT = 3000

CAPABILITIES = """*What I can do*
• Ask me in a channel (`@FinOps …`) or here in Messages, e.g. _"What did we spend on EC2 last \
week?"_, _"Why did payments' spend jump on Monday?"_, _"Forecast this month for team search"_.
• `/finops spend --by ServiceName` · `/finops budgets` · `/finops anomalies` · \
`/finops proposals --status pending` · `/finops savings` · `/finops sweep` · `/finops help`
• Proposed actions wait for an approver's *Approve*; nothing changes a cloud before that."""


@dataclass
class Spend:
    total: str
    since: date
    until: date
    scope: str


@dataclass
class HomeData:
    """What one user's Home tab shows (everything already filtered for that user)."""

    user: str
    role: str
    teams: list[str] = field(default_factory=list)
    scope_note: str = ""
    spend: Spend | None = None
    budgets: list[BudgetStatus] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notice: str | None = None


# -- the view ----------------------------------------------------------------------------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, _TEXT)}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_TEXT]}]}


def _code(text: str) -> str:
    return "`" + clip(escape(text).replace("`", "ʼ"), 200) + "`"


def _lines(rows: list[str], more: int, hint: str) -> str:
    tail = [f"…and {more} more: {hint}"] if more > 0 else []
    return "\n".join(rows + tail)


def _proposal_blocks(p: Proposal) -> list[dict[str, Any]]:
    value = json.dumps({"p": p.id, "h": p.action_hash})
    votes = " · 1 of 2 approvals recorded" if p.votes else ""
    text = (
        f"*{clip(escape(p.summary), 500)}*\n{_code(p.action)} on {_code(p.target)} · saves "
        f"{money(p.expected_monthly_saving, p.currency)}/month · risk {escape(p.risk)} · owner "
        f"{escape(p.owner or 'unknown')} · expires {p.expires_at:%Y-%m-%d %H:%M} UTC{votes}\n"
        f"`{p.id}` · hash `{p.action_hash[:16]}`"
    )
    buttons = [
        {"type": "button", "action_id": APPROVE_ID, "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": REJECT_ID, "style": "danger", "value": value,
         "text": {"type": "plain_text", "text": "Reject"}},
    ]  # fmt: skip
    return [
        _section(text),
        {"type": "actions", "block_id": f"finops_home:{p.id}", "elements": buttons},
    ]


def _approvals(data: HomeData) -> list[dict[str, Any]]:
    blocks = [_header(f"Your pending approvals ({len(data.proposals)})")]
    if not data.proposals:
        return [*blocks, _context("Nothing waits for your approval.")]
    for p in data.proposals[:MAX_PROPOSALS]:
        blocks += _proposal_blocks(p)
    more = len(data.proposals) - MAX_PROPOSALS
    if more > 0:
        blocks.append(
            _context(f"…and {more} more: `/finops proposals --status pending` lists them all.")
        )
    return blocks


def _budget_line(s: BudgetStatus) -> str:
    crossed = [f"{t.on} ≥ {t.percent}%" for t in s.thresholds if t.crossed]
    state = f":red_circle: crossed {', '.join(crossed)}" if crossed else ":large_green_circle: ok"
    return (
        f"• *{escape(s.name)}* ({escape('; '.join(s.scope) or 'all spend')}): "
        f"{money(s.actual, s.currency)} of {money(s.amount, s.currency)} ({s.actual_percent}%) "
        f"as of {s.as_of}, forecast {money(s.forecast, s.currency)} ({s.forecast_percent}%) · "
        f"{state}"
    )


def _spending(data: HomeData) -> list[dict[str, Any]]:
    who = ", ".join(escape(t) for t in data.teams) if data.teams else "company-wide"
    blocks = [_header("Month-to-date spend and budgets")]
    if data.scope_note:
        blocks.append(_context(escape(data.scope_note)))
    if data.spend is not None:
        s = data.spend
        blocks.append(
            _section(f"*{who}*: {s.total} billed, {s.since} to {s.until} · scope {_code(s.scope)}")
        )
    rows = [_budget_line(b) for b in data.budgets[:MAX_ROWS]]
    more = len(data.budgets) - MAX_ROWS
    blocks.append(
        _section(_lines(rows, more, "`/finops budgets`") if rows else "_No budgets to show._")
    )
    return blocks


def _anomaly_line(a: Anomaly) -> str:
    return (
        f"• `{a.id}` {escape(a.scope)}: {money(a.actual, a.currency)} vs expected "
        f"{money(a.expected, a.currency)} ({a.start_day}..{a.end_day}, {a.status}, owner "
        f"{escape(a.owner or 'unknown')})"
    )


def _anomalies(data: HomeData) -> list[dict[str, Any]]:
    rows = [_anomaly_line(a) for a in data.anomalies[:MAX_ROWS]]
    more = len(data.anomalies) - MAX_ROWS
    text = _lines(rows, more, "`/finops anomalies`") if rows else "_No open anomalies._"
    return [_header(f"Recent anomalies ({ANOMALY_DAYS} days)"), _section(text)]


def home_view(data: HomeData) -> dict[str, Any]:
    """The Home tab for one user: at most `MAX_HOME_BLOCKS` blocks, user text escaped."""
    blocks: list[dict[str, Any]] = [_header("FinOps agent")]
    if data.notice:
        blocks.append(_section(f":information_source: {escape(data.notice)}"))
    blocks.append(_section(CAPABILITIES))
    if data.role == "none":
        message = "You have no FinOps role in Slack yet; ask an admin to add you (`slack.roles`)."
        return {"type": "home", "blocks": fit([*blocks, _section(message)], MAX_HOME_BLOCKS)}
    tail: list[dict[str, Any]] = [{"type": "divider"}, *_spending(data)]
    tail += [{"type": "divider"}, *_anomalies(data)]
    if data.problems:
        tail.append(_context(escape(" · ".join(data.problems))))
    head = [{"type": "divider"}, *_approvals(data)] if data.role in ("approver", "admin") else []
    return {"type": "home", "blocks": fit([*blocks, *head, *tail], MAX_HOME_BLOCKS)}


# -- what it shows -----------------------------------------------------------------------------


def _teams(services: Services, principal: Principal) -> tuple[list[str], str]:
    if principal.scope:
        teams = principal.scope.get("team", [])
        return teams, f"Limited to your scope: {'; '.join(principal.scope_filters())}."
    owned = sorted(
        t for t, target in services.slack.owner_channels.items() if target == principal.user
    )
    if owned:
        return owned, ""
    return [], (
        "No team is mapped to your Slack user (a viewer scope {team: […]} in slack.roles, or "
        "your user id in slack.owner_channels), so this shows company-wide spend and every budget."
    )


def _decidable(services: Services, principal: Principal) -> list[Proposal]:
    if principal.user not in services.config.approvers:
        return []
    now = services.clock()
    return [
        p
        for p in services.runtime.ledger.proposals("pending")
        if p.expires_at > now
        and principal.may_decide(p.action)
        and all(v.approver != principal.user for v in p.votes)
    ]


def _mine(owner: str | None, teams: list[str], scoped: bool) -> bool:
    if teams:
        return (owner or "").lower() in {t.lower() for t in teams}
    return not scoped


def _figures(services: Services, data: HomeData, principal: Principal) -> None:
    scoped = bool(principal.scope)
    filters = principal.scope_filters() if scoped else []
    if data.teams and not scoped:
        filters = [f"vtag:team={','.join(data.teams)}"]
    with services.locked() as rt:
        ctx = rt.tool_context(principal.user, None)
        try:
            engine = ctx.engine()
            as_of = resolve_as_of(engine, None, services.clock().date())
            query = SpendQuery(
                since=as_of.replace(day=1), until=as_of, filters=[parse_filter(f) for f in filters]
            )
            result = spend(engine, ctx.config, query)
            total = money(result.total, result.currency)
            data.spend = Spend(
                total, query.since or as_of, as_of, "; ".join(filters) or "all spend"
            )
            for b in ctx.config.budgets:
                if b.enabled and _mine(b.team(), data.teams, scoped):
                    data.budgets.append(budget_status(engine, ctx.config, b, as_of=as_of))
            recent = AnomalyStore(rt.store).listing(
                since=as_of - timedelta(days=ANOMALY_DAYS), until=None, statuses=["open"]
            )
            data.anomalies = [a for a in recent if _mine(a.owner, data.teams, scoped)]
        except FinopsError as exc:
            data.problems.append(f"Figures unavailable: {exc}")
        finally:
            rt.close_readonly()


def gather(services: Services, user: str, notice: str | None = None) -> HomeData:
    """Everything `user`'s Home tab shows, filtered by their role, scope and team."""
    principal = services.access.principal(user)
    data = HomeData(user=user, role=principal.role, notice=notice)
    if principal.role == "none":
        return data
    data.teams, data.scope_note = _teams(services, principal)
    if principal.role in ("approver", "admin"):
        data.proposals = _decidable(services, principal)
    _figures(services, data, principal)
    return data


def publish_home(services: Services, user: str, notice: str | None = None) -> None:
    try:
        services.client.views_publish(user_id=user, view=home_view(gather(services, user, notice)))
    except SlackApiError as exc:
        log.warning("views.publish failed: %s", exc.response.get("error"))


# -- decisions from the Home tab ---------------------------------------------------------------


def _value(body: dict[str, Any]) -> tuple[str, str, str]:
    value = json.loads(body["actions"][0]["value"])
    return str(body["user"]["id"]), str(value["p"]), str(value["h"])


def _allowed(services: Services, user: str, pid: str) -> Proposal | None:
    """The proposal if `user` has the Slack role to decide it; otherwise a private refusal."""
    try:
        p = services.runtime.ledger.get(pid)
    except ApprovalError as exc:
        publish_home(services, user, notice=str(exc))
        return None
    if services.access.principal(user).may_decide(p.action):
        return p
    message = f"You are not an approver for `{p.action}` proposals; nothing changed."
    services.refuse(user, "not_allowed", message, proposal_id=p.id, action=p.action, surface="home")
    publish_home(services, user, notice=message)
    return None


def handle_home_approve(services: Services, body: dict[str, Any]) -> None:
    """Approve from the Home tab: the cards' checks, then run, refresh the cards and the tab."""
    user, pid, seen = _value(body)
    if _allowed(services, user, pid) is None:
        return
    try:
        decision = services.runtime.ledger.approve(pid, user, seen_hash=seen)
    except ApprovalError as exc:
        refresh_cards(services)
        publish_home(services, user, notice=f"Not recorded: {exc}")
        return
    refresh_cards(services)
    if decision.outcome == "approved":
        with services.locked() as rt:
            done = rt.run_action(pid)
        refresh_cards(services)
        notice = f"{pid} approved by you: {done.status}."
    else:
        notice = f"{pid}: your approval is recorded; it needs a second approver."
    publish_home(services, user, notice=notice)


def handle_home_reject_click(services: Services, body: dict[str, Any]) -> None:
    """Reject from the Home tab: ask the reason in a modal (nothing is decided yet)."""
    user, pid, seen = _value(body)
    p = _allowed(services, user, pid)
    if p is None:
        return
    if p.status not in ("pending", "approved"):
        publish_home(services, user, notice=f"{p.id} is already {p.status}; nothing changed.")
        return
    view = {**reject_modal(p.id, {"h": seen}), "callback_id": HOME_REJECT_MODAL_ID}
    services.client.views_open(trigger_id=body["trigger_id"], view=view)


def handle_home_reject_submit(services: Services, body: dict[str, Any]) -> None:
    view = body["view"]
    user, pid = str(body["user"]["id"]), str(json.loads(view["private_metadata"])["p"])
    reason = str(view["state"]["values"]["reason"]["value"]["value"] or "").strip()
    if _allowed(services, user, pid) is None:
        return
    try:
        with services.locked() as rt:
            rejected = rt.reject(pid, user, reason)
    except ApprovalError as exc:
        publish_home(services, user, notice=f"Not recorded: {exc}")
        return
    refresh_cards(services)
    publish_home(services, user, notice=f"{pid} rejected by you: {rejected.status}.")


def _home_click(body: dict[str, Any]) -> str | None:
    """The action id of an Approve / Reject click on a Home tab, else None."""
    if body.get("type") != "block_actions" or (body.get("view") or {}).get("type") != "home":
        return None
    actions = body.get("actions") or []
    action_id = actions[0].get("action_id") if actions else None
    return str(action_id) if action_id in (APPROVE_ID, REJECT_ID) else None


def _submit(pool: Executor, fn: Callable[..., None], *args: Any) -> None:
    """Run `fn(*args)` on `pool`, logging what it raises (Bolt does not see it)."""

    def run() -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("Slack Home handler %s failed", fn.__name__)

    pool.submit(run)


def register_home(bolt: App, services: Services, work: Executor | None = None) -> None:
    """Publish the Home tab on `app_home_opened`; route Home clicks to the Home handlers.

    `work` is the pool that runs after the ack (default: Bolt's listener executor). A Reject
    click's `views.open` runs on Bolt's listener executor at once: its `trigger_id` expires in 3 s.
    """
    acks: Executor = bolt.listener_runner.listener_executor
    pool = work or acks

    @bolt.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            _submit(pool, publish_home, services, str(event["user"]))

    @bolt.middleware
    def home_clicks(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        # Bolt runs only the first matching listener and the cards' listeners (registered
        # first) match these action ids, so a Home click is taken here, before any listener.
        action_id = _home_click(body)
        if action_id is None:
            next()
            return None
        if action_id == APPROVE_ID:
            _submit(pool, handle_home_approve, services, body)
        else:
            _submit(acks, handle_home_reject_click, services, body)
        return BoltResponse(status=200, body="")  # the ack; the work runs after it

    @bolt.view(HOME_REJECT_MODAL_ID)
    def on_home_reject_reason(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _submit(pool, handle_home_reject_submit, services, body)
