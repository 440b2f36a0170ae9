"""Ticket links in `state.db` (state migration 10): which ticket stands for which dedup key, where
it lives in the tracker, and what has been posted to it.

`ticket_links` has one row per ticket: its dedup key (`finding:<id>`, `proposal:<action hash>`, or
`ticket:<open_ticket proposal id>`), the local `tickets` row, the backend, the tracker's key and
URL (NULL until the tracker accepted it: creation is retried by `sync_tickets`), the approved
`open_ticket` proposal that authorizes every write to it, and the last sync error.
`ticket_tracked` lists the proposals whose decisions and executions the ticket follows, with the
events already posted (so each comment is posted once) and the last status synced.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from tools.tickets.backends import TicketRef
from warehouse.state.store import StateStore, utc_text

__all__ = ["TicketLink", "TicketLinks", "TrackedProposal"]


class TrackedProposal(BaseModel):
    proposal_id: str
    synced_status: str | None = None
    posted: list[str] = []
    synced_at: str | None = None


class TicketLink(BaseModel):
    dedup_key: str
    local_ticket_id: int
    backend: str
    external_key: str | None
    url: str | None
    ticket_proposal_id: str
    finding_id: str | None
    created_at: str
    updated_at: str
    closed_at: str | None
    attempts: int
    last_error: str | None
    tracked: list[TrackedProposal] = []

    @property
    def label(self) -> str:
        """How to name the ticket to a person: the tracker's key, else the local number."""
        return self.external_key or f"#{self.local_ticket_id}"


class TicketLinks:
    """Reads and writes of the link tables; every write is its own short transaction."""

    def __init__(self, store: StateStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def get(self, dedup_key: str) -> TicketLink | None:
        rows = self.store.query("SELECT * FROM ticket_links WHERE dedup_key = ?", (dedup_key,))
        return self._link(rows[0]) if rows else None

    def all(self) -> list[TicketLink]:
        rows = self.store.query("SELECT * FROM ticket_links ORDER BY created_at, dedup_key")
        return [self._link(r) for r in rows]

    def _link(self, row: sqlite3.Row) -> TicketLink:
        tracked = self.store.query(
            "SELECT proposal_id, synced_status, posted, synced_at FROM ticket_tracked"
            " WHERE dedup_key = ? ORDER BY COALESCE(tracked_at, ''), proposal_id",
            (row["dedup_key"],),
        )
        return TicketLink(
            **dict(row),
            tracked=[
                TrackedProposal(**{**dict(t), "posted": json.loads(t["posted"])}) for t in tracked
            ],
        )

    def insert(
        self,
        conn: sqlite3.Connection,
        *,
        dedup_key: str,
        local_ticket_id: int,
        backend: str,
        ticket_proposal_id: str,
        finding_id: str | None,
        tracked: str | None,
    ) -> None:
        """Record a new ticket inside the caller's transaction (with its local row)."""
        now = utc_text(self.clock())
        conn.execute(
            "INSERT INTO ticket_links (dedup_key, local_ticket_id, backend, ticket_proposal_id,"
            " finding_id, created_at, updated_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (dedup_key, local_ticket_id, backend, ticket_proposal_id, finding_id, now, now),
        )
        if tracked:
            self.track(conn, dedup_key, tracked)

    def track(self, conn: sqlite3.Connection, dedup_key: str, proposal_id: str) -> None:
        """Have the ticket follow `proposal_id` (once; the first time it joined is kept)."""
        conn.execute(
            "INSERT INTO ticket_tracked (dedup_key, proposal_id, tracked_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (dedup_key, proposal_id, utc_text(self.clock())),
        )

    def set_external(self, dedup_key: str, ref: TicketRef) -> None:
        self._update(dedup_key, "external_key = ?, url = ?, last_error = NULL", (ref.key, ref.url))

    def record_error(self, dedup_key: str, error: str) -> None:
        self._update(dedup_key, "attempts = attempts + 1, last_error = ?", (error,))

    def mark_closed(self, dedup_key: str) -> None:
        now = utc_text(self.clock())
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE ticket_links SET closed_at = ?, updated_at = ?, last_error = NULL"
                " WHERE dedup_key = ?",
                (now, now, dedup_key),
            )
            conn.execute(
                "UPDATE tickets SET status = 'closed' WHERE id ="
                " (SELECT local_ticket_id FROM ticket_links WHERE dedup_key = ?)",
                (dedup_key,),
            )

    def mark_posted(self, dedup_key: str, proposal_id: str, event: str, status: str) -> None:
        """Append `event` to the tracked proposal's posted events, once."""
        now = utc_text(self.clock())
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT posted FROM ticket_tracked WHERE dedup_key = ? AND proposal_id = ?",
                (dedup_key, proposal_id),
            ).fetchone()
            posted = json.loads(row[0]) if row else []
            if event not in posted:
                posted.append(event)
            conn.execute(
                "UPDATE ticket_tracked SET posted = ?, synced_status = ?, synced_at = ?"
                " WHERE dedup_key = ? AND proposal_id = ?",
                (json.dumps(posted), status, now, dedup_key, proposal_id),
            )
            conn.execute(
                "UPDATE ticket_links SET updated_at = ?, last_error = NULL WHERE dedup_key = ?",
                (now, dedup_key),
            )

    def set_synced_status(self, dedup_key: str, proposal_id: str, status: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE ticket_tracked SET synced_status = ?, synced_at = ?"
                " WHERE dedup_key = ? AND proposal_id = ? AND synced_status IS NOT ?",
                (status, utc_text(self.clock()), dedup_key, proposal_id, status),
            )

    def local_status(self, link: TicketLink) -> str | None:
        rows = self.store.query("SELECT status FROM tickets WHERE id = ?", (link.local_ticket_id,))
        return str(rows[0][0]) if rows else None

    def _update(self, dedup_key: str, assignments: str, values: tuple[object, ...]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE ticket_links SET {assignments}, updated_at = ? WHERE dedup_key = ?",
                (*values, utc_text(self.clock()), dedup_key),
            )
