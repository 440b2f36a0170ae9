"""Keep tickets in step with the proposals they track: `sync_tickets`.

A ticket follows its tracked proposals (and the `rollback_action` proposals that name one via
`params.rollback_of`). Each change becomes one comment: approved (by whom), rejected (with the
reason), expired, executed (result summary), failed (the error), rolled back. Events already
posted are recorded per ticket and proposal, so re-running the sync posts nothing new; events in
`tickets.close_on` (and a local ticket closed with `finops tickets close`) close the ticket in the
tracker. A ticket the tracker did not accept yet (tracker down when its proposal executed) is
created first — found by its dedup label before creating, so a retry never files it twice.

Approval: every write made here lands on a ticket whose own `open_ticket` proposal was approved;
that approval covers the ticket's lifecycle (comments, closing) as its declared follow-up. No
ticket is created or touched without one (invariant 1).

Failures of the tracker never propagate: they are recorded on the link (`attempts`,
`last_error`, scrubbed of secrets), audited, logged, and retried on the next sync — so an
approval or an execution never fails because Jira or GitHub is down.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, Field

from guardrails.approvals import Proposal
from tools.context import ToolContext
from tools.tickets.backends import (
    LocalBackend,
    NewTicket,
    TicketBackend,
    TicketBackendError,
    dedup_label,
    scrub,
)
from tools.tickets.config import TicketsConfig
from tools.tickets.github import GitHubBackend
from tools.tickets.jira import JiraBackend
from tools.tickets.links import TicketLink, TicketLinks
from warehouse.format import money
from warehouse.state.store import StateStore

__all__ = ["Event", "SyncReport", "make_backend", "new_ticket", "proposal_events", "sync_tickets"]

log = logging.getLogger(__name__)


class Event(BaseModel):
    key: str
    kind: str
    text: str


class SyncReport(BaseModel):
    """What one sync did: tickets created, comments posted, tickets closed, errors (scrubbed)."""

    created: list[str] = Field(default_factory=list)
    comments: int = 0
    closed: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)


def make_backend(
    config: TicketsConfig,
    store: StateStore,
    clock: Callable[[], datetime],
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> TicketBackend:
    """The configured backend with its secrets read from `environ` (default: the process
    environment, read now); TicketBackendError names a missing variable."""
    env = os.environ if environ is None else environ
    if config.backend == "jira" and config.jira is not None:
        return JiraBackend.build(config.jira, env, config.timeout_seconds, transport)
    if config.backend == "github" and config.github is not None:
        return GitHubBackend.build(config.github, env, config.timeout_seconds, transport)
    return LocalBackend(store, clock)


def new_ticket(ctx: ToolContext, proposal: Proposal, local_id: int, dedup_key: str) -> NewTicket:
    """The ticket an approved `open_ticket` proposal files, with owner routing and evidence."""
    p = proposal.params
    config = ctx.config.tickets
    route = config.route(p.get("owner"))
    return NewTicket(
        local_id=local_id,
        title=str(p["title"]),
        body=_body(ctx, proposal),
        owner=p.get("owner"),
        priority=str(p.get("priority", "medium")),
        labels=list(dict.fromkeys([*config.labels, *route.labels])),
        dedup_label=dedup_label(dedup_key),
        route=route,
    )


def _body(ctx: ToolContext, proposal: Proposal) -> str:
    p = proposal.params
    lines = [str(p.get("body") or "").strip(), "", f"Owner: {p.get('owner') or 'unassigned'}"]
    if p.get("finding_id"):
        lines.append(f"Finding: {p['finding_id']}")
    tracked = p.get("proposal_id")
    if tracked:
        t = ctx.ledger.get(str(tracked))
        lines += [
            f"Proposal: {t.id} ({t.status}) - {t.action} on {t.target}: {t.summary}",
            f"Expected saving: {money(t.expected_monthly_saving, t.currency)} a month",
            f"Review it: finops proposals show {t.id}",
            "Evidence:",
            *(f"- {k}: {_short(v, 200)}" for k, v in list(t.evidence.items())[:12]),
        ]
    lines += ["", f"Filed by the FinOps agent after approval of {proposal.id}."]
    return "\n".join(lines).strip()


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _outcome(result: Mapping[str, Any] | None) -> str:
    result = dict(result or {})
    if "error" in result:
        return str(result["error"])
    if result.get("dry_run"):
        return f"dry run, nothing changed ({result.get('would')})"
    return _short({k: v for k, v in result.items() if k != "rollback"}, 400)


def _at(moment: datetime | None) -> str:
    return f" at {moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def proposal_events(p: Proposal, rollbacks: list[Proposal]) -> list[Event]:
    """Every event the proposal has reached so far, oldest first (stable keys)."""
    events: list[Event] = []
    if p.decided_by and p.status != "rejected":
        text = f"Proposal {p.id} approved by {p.decided_by}{_at(p.decided_at)}."
        events.append(Event(key="approved", kind="approved", text=text))
    if p.status == "rejected":
        why = p.reason or "no reason given"
        text = f"Proposal {p.id} rejected by {p.decided_by}{_at(p.decided_at)}: {why}."
        events.append(Event(key="rejected", kind="rejected", text=text))
    elif p.status == "expired":
        text = f"Proposal {p.id} expired before it was executed; nothing changed."
        events.append(Event(key="expired", kind="expired", text=text))
    elif p.status in ("done", "failed"):
        verb = "executed" if p.status == "done" else "failed"
        text = f"Proposal {p.id} {verb}{_at(p.finished_at)}: {_outcome(p.result)}"
        events.append(Event(key=p.status, kind=p.status, text=text))
    for r in rollbacks:
        if r.status == "done":
            text = f"Proposal {p.id} rolled back by {r.id} (approved by {r.decided_by})" + (
                f"{_at(r.finished_at)}: {_outcome(r.result)}"
            )
            events.append(Event(key=f"rolled_back:{r.id}", kind="rolled_back", text=text))
        elif r.status == "failed":
            text = f"Rollback {r.id} of proposal {p.id} failed: {_outcome(r.result)}"
            events.append(Event(key=f"rollback_failed:{r.id}", kind="rollback_failed", text=text))
    return events


def _rollbacks(ctx: ToolContext) -> dict[str, list[str]]:
    """Proposal id → ids of the rollback proposals naming it (`params.rollback_of`), oldest
    first; one query per sync (portable SQL: the JSON is read here, not by the database)."""
    rows = ctx.store.query(
        "SELECT id, params FROM proposals WHERE params LIKE ? ORDER BY created_at, id",
        ('%"rollback_of"%',),
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        of = json.loads(r["params"]).get("rollback_of")
        if of:
            out.setdefault(str(of), []).append(str(r["id"]))
    return out


def sync_tickets(
    ctx: ToolContext,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> SyncReport:
    """Create pending tickets and post every new proposal event, once; never raises for a
    tracker failure (recorded on the link and retried next time)."""
    links = TicketLinks(ctx.store, ctx.clock)
    report = SyncReport()
    todo = links.all()
    if not todo:
        return report
    try:
        backend = make_backend(ctx.config.tickets, ctx.store, ctx.clock, environ, transport)
    except TicketBackendError as exc:
        for link in todo:
            _failed(ctx, links, link, str(exc), report)
        return report
    rollbacks = _rollbacks(ctx)
    for link in todo:
        if link.backend != backend.name:
            report.skipped.append(f"{link.label}: filed in {link.backend}, not {backend.name}")
            continue
        try:
            _sync_one(ctx, links, backend, link, rollbacks, report)
        except TicketBackendError as exc:
            _failed(ctx, links, link, str(exc), report)
        except Exception as exc:  # a tracker's odd answer must not break an approval
            error = f"{backend.name}: unexpected {type(exc).__name__}: {exc}"
            _failed(ctx, links, link, scrub(error, backend.secrets)[:500], report)
    return report


def _failed(
    ctx: ToolContext, links: TicketLinks, link: TicketLink, error: str, report: SyncReport
) -> None:
    links.record_error(link.dedup_key, error)
    report.errors.append(f"{link.label}: {error}")
    log.warning("ticket sync failed for %s: %s", link.label, error)
    ctx.audit.append("ticket_sync_error", "finops", {"dedup_key": link.dedup_key, "error": error})


def _sync_one(
    ctx: ToolContext,
    links: TicketLinks,
    backend: TicketBackend,
    link: TicketLink,
    rollbacks: dict[str, list[str]],
    report: SyncReport,
) -> None:
    if link.external_key is None:
        link = _create_pending(ctx, links, backend, link)
        report.created.append(link.label)
    key = str(link.external_key)
    close_due = link.closed_at is None and links.local_status(link) == "closed"
    for tracked in link.tracked:
        p = ctx.ledger.get(tracked.proposal_id)
        backs = [ctx.ledger.get(r) for r in rollbacks.get(p.id, [])]
        for event in proposal_events(p, backs):
            close_due |= link.closed_at is None and event.kind in ctx.config.tickets.close_on
            if event.key in tracked.posted:
                continue
            backend.comment(key, event.text)
            links.mark_posted(link.dedup_key, p.id, event.key, p.status)
            report.comments += 1
            _audit(ctx, link, backend, f"comment:{p.id}:{event.key}")
        links.set_synced_status(link.dedup_key, p.id, p.status)
    if close_due:
        backend.close(key)
        links.mark_closed(link.dedup_key)
        report.closed.append(link.label)
        _audit(ctx, link, backend, "close")


def _create_pending(
    ctx: ToolContext, links: TicketLinks, backend: TicketBackend, link: TicketLink
) -> TicketLink:
    """File a ticket whose creation failed earlier (found first by its dedup label)."""
    proposal = ctx.ledger.get(link.ticket_proposal_id)
    ticket = new_ticket(ctx, proposal, link.local_ticket_id, link.dedup_key)
    ref = backend.find(ticket.dedup_label) or backend.create(ticket)
    links.set_external(link.dedup_key, ref)
    _audit(ctx, link.model_copy(update={"external_key": ref.key}), backend, "create")
    return link.model_copy(update={"external_key": ref.key, "url": ref.url})


def _audit(ctx: ToolContext, link: TicketLink, backend: TicketBackend, what: str) -> None:
    ctx.audit.append(
        "ticket_update",
        "finops",
        {
            "dedup_key": link.dedup_key,
            "backend": backend.name,
            "ticket": link.external_key,
            "what": what,
            "authorized_by": link.ticket_proposal_id,
        },
    )
