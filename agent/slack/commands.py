"""`/finops` in Slack, with the CLI's semantics: `spend …`, `sweep`, `budgets`, `anomalies`,
`proposals`, `savings`, `help`.

Each subcommand calls the same functions as its CLI command (`tools.spend.engine.spend`,
`tools.sweep.service.run_sweep`, `tools.budgets.service.budget_status`,
`tools.anomalies.service.run_detection`, the ledger, `tools.savings.service.build_report`) and
answers with the same figures: currency, period and scope on each. The reply goes to the
command's `response_url` (visible to the caller only). Roles: viewers read (a scoped viewer only
`spend`, held to their scope, and `help`); `sweep` needs analyst or above. Every refusal is audited.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn

from agent.slack.blocks import answer_blocks, text_blocks
from agent.slack.rbac import Principal
from agent.slack.services import Services
from tools.anomalies.service import run_detection
from tools.budgets.service import budget_status
from tools.context import ToolContext
from tools.periods import parse_day
from tools.spend.engine import SpendQuery, parse_filter, spend
from tools.sweep.service import run_sweep
from warehouse.errors import FinopsError, QueryError
from warehouse.format import money

__all__ = ["HELP", "run_command"]

HELP = """*`/finops` commands* (same meaning as the `finops` CLI)
• `spend [--by ServiceName] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--grain day|week|month] \
[--filter DIM=VALUE] [--metric billed|effective|list] [--top N]`
• `budgets` — spend to date and forecast against each budget
• `anomalies [--since D] [--until D] [--status open,resolved]`
• `proposals [--status pending]`
• `savings [--by owner|action|month] [--status measured]`
• `sweep` — ingest, detect, evaluate budgets, propose (analysts)
• `help`"""

Reply = Callable[[str, list[dict[str, Any]]], None]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise QueryError(f"{self.prog}: {message}")


def _parser(name: str, *options: str) -> _Parser:
    p = _Parser(prog=f"/finops {name}", add_help=False)
    for opt in options:
        if opt == "--filter":
            p.add_argument(opt, action="append", default=[])
        else:
            p.add_argument(opt)
    return p


def _parse(name: str, args: list[str], *options: str) -> argparse.Namespace:
    ns, unknown = _parser(name, *options).parse_known_args(args)
    if unknown:
        raise QueryError(f"/finops {name}: unknown argument(s) {' '.join(unknown)}")
    return ns


def _day(value: str | None, flag: str) -> date | None:
    return parse_day(value, flag)


def _spend(ctx: ToolContext, principal: Principal, args: list[str]) -> tuple[str, Any]:
    ns = _parse(
        "spend", args, "--by", "--since", "--until", "--grain", "--filter", "--metric", "--top"
    )
    filters = [parse_filter(f) for f in ns.filter]
    scoped = {f"vtag:{t}".lower() for t in principal.scope}
    if any(f.dimension.lower() in scoped for f in filters):
        raise PermissionError(f"your results are already limited to {principal.scope_filters()}")
    filters += [parse_filter(f) for f in principal.scope_filters()]
    query = SpendQuery.model_validate(
        {
            "by": [ns.by] if ns.by else [],
            "since": _day(ns.since, "--since"),
            "until": _day(ns.until, "--until"),
            "grain": ns.grain or "total",
            "filters": filters,
            "metric": ns.metric or "billed",
            "top": int(ns.top) if ns.top else None,
        }
    )
    result = spend(ctx.engine(), ctx.config, query)
    return f"{result.metric.capitalize()} cost", result.model_dump(mode="json")


def _budgets(ctx: ToolContext) -> str:
    if not ctx.config.budgets:
        raise QueryError("no budgets are defined in finops.yaml (`budgets:`)")
    lines = []
    for b in ctx.config.budgets:
        if not b.enabled:
            continue
        s = budget_status(ctx.engine(), ctx.config, b)
        cur = s.currency
        lines.append(
            f"*{s.name}* ({'; '.join(s.scope) or 'all spend'}; owner {s.owner or 'unassigned'}): "
            f"{money(s.amount, cur)} for {s.period_start}..{s.period_end}, as of {s.as_of}: spent "
            f"{money(s.actual, cur)} ({s.actual_percent}%), forecast {money(s.forecast, cur)} "
            f"({s.forecast_percent}%)"
            + "".join(
                f" · {t.on} ≥ {t.percent}% {'CROSSED' if t.crossed else 'ok'}" for t in s.thresholds
            )
        )
    return "\n".join(lines)


def _anomalies(ctx: ToolContext, args: list[str]) -> str:
    ns = _parse("anomalies", args, "--since", "--until", "--status")
    report = run_detection(
        ctx,
        since=_day(ns.since, "--since"),
        until=_day(ns.until, "--until"),
        statuses=ns.status.split(",") if ns.status else None,
    )
    head = (
        f"Cost anomalies, {report.metric} cost in {report.currency}, {report.since} to "
        f"{report.until}: {len(report.anomalies)}"
    )
    rows = [
        f"• `{a.id}` {a.scope}: {money(a.actual, a.currency)} vs expected "
        f"{money(a.expected, a.currency)} ({a.start_day}..{a.end_day}, {a.status}, owner "
        f"{a.owner or 'unknown'})"
        for a in report.anomalies[:15]
    ]
    return "\n".join([head, *rows])


def _proposals(ctx: ToolContext, args: list[str]) -> str:
    ns = _parse("proposals", args, "--status")
    ctx.ledger.expire_due()
    items = ctx.ledger.proposals(ns.status)
    rows = [
        f"• `{p.id}` {p.status} `{p.action}` on `{p.target}`: "
        f"{money(p.expected_monthly_saving, p.currency)}/month, expires "
        f"{p.expires_at:%Y-%m-%d %H:%M} UTC"
        for p in items[:25]
    ]
    return "\n".join([f"*Proposals ({ns.status or 'all'})*: {len(items)}", *rows])


def _savings(ctx: ToolContext, args: list[str]) -> str:
    ns = _parse("savings", args, "--by", "--status")
    try:
        from tools.savings.service import build_report
    except ImportError:
        return "Realized savings are not available in this installation."
    r = build_report(ctx, by=(ns.by or "owner").lower(), status=ns.status)
    cur = r.currency
    if not r.rows:
        return f"No executed saving actions to measure yet ({cur}, {r.metric} cost)."
    rows = [
        f"• {g.key}: estimated {money(g.estimated_monthly, cur)}/month, measured "
        f"{money(g.measured_monthly, cur)}/month, realized so far {money(g.realized, cur)}"
        for g in [*r.groups, r.total]
    ]
    return "\n".join([f"*Realized savings by {r.by}* ({r.metric} cost, {cur})", *rows])


def _sweep(services: Services, ctx: ToolContext, args: list[str]) -> str:
    ns = _parse("sweep", args, "--since")
    rt = services.runtime
    rt.close_readonly()
    sweep_ctx = ToolContext(
        config=ctx.config, store=rt.store, ledger=rt.ledger, audit=rt.audit, clock=rt.clock,
        warehouse=rt.app.warehouse, actor=ctx.actor, config_path=rt.app.home.config_path,
    )  # fmt: skip
    try:
        result = run_sweep(
            sweep_ctx, ctx.config.sweep, since=_day(ns.since, "--since"), environ=dict(rt.environ)
        )
    finally:
        rt.app.close()
    return result.digest


def _dispatch(
    services: Services, principal: Principal, name: str, args: list[str], reply: Reply
) -> None:
    if name == "sweep" and not principal.at_least("analyst"):
        raise PermissionError("`/finops sweep` needs the analyst role")
    if principal.scope and name not in ("spend", "help"):
        raise PermissionError(f"your role is limited to {principal.scope_filters()}: use `spend`")
    with services.locked() as rt:
        ctx = rt.tool_context(principal.user, None)
        try:
            if name == "spend":
                title, data = _spend(ctx, principal, args)
                reply(title, answer_blocks(f"*{title}*", data))
                return
            handlers: dict[str, Callable[[], str]] = {
                "budgets": lambda: _budgets(ctx),
                "anomalies": lambda: _anomalies(ctx, args),
                "proposals": lambda: _proposals(ctx, args),
                "savings": lambda: _savings(ctx, args),
                "sweep": lambda: _sweep(services, ctx, args),
            }
            if name not in handlers:
                raise QueryError(f"unknown subcommand {name!r}; try `/finops help`")
            text = handlers[name]()
        finally:
            rt.close_readonly()
    reply(text, text_blocks(text))
    if name == "sweep":
        from agent.slack.cards import post_pending_cards

        post_pending_cards(services)


def run_command(services: Services, user: str, text: str, reply: Reply) -> None:
    """Run one `/finops` command for `user` and reply (after Slack's ack)."""
    principal = services.access.principal(user)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        reply(f"Could not parse the command: {exc}", text_blocks(f":warning: {exc}"))
        return
    name, args = (words[0].lower(), words[1:]) if words else ("help", [])
    if principal.role == "none":
        message = "You have no FinOps role in Slack yet; ask an admin to add you (`slack.roles`)."
        services.refuse(user, "no_role", message, command=name)
        reply(message, text_blocks(message))
        return
    if name == "help":
        reply("finops help", text_blocks(HELP))
        return
    try:
        _dispatch(services, principal, name, args, reply)
    except PermissionError as exc:
        services.refuse(user, "not_allowed", str(exc), command=name)
        reply(str(exc), text_blocks(f":no_entry: {exc}"))
    except (FinopsError, ValueError) as exc:
        reply(str(exc), text_blocks(f":warning: {exc}"))
