"""What the Slack app remembers in the state store (migration 12): deliveries already handled and
the approval cards posted for each proposal.

`first_seen` is an insert-or-nothing on the delivery's key, so a Slack retry, the mention/message
double delivery of one message, and two replicas receiving the same event all end with one
handler run. `claim_card` does the same for the card outbox: one card per proposal and channel.
A card Slack refuses for good (`invalid_blocks`, …) keeps its claim as `refused:<error>` (no
message ts), so the outbox never posts it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from warehouse.state.store import StateStore, utc_text

__all__ = ["CardRef", "SlackState"]


@dataclass(frozen=True)
class CardRef:
    """Where a proposal's card is (channel, message ts) and the status it shows."""

    proposal_id: str
    channel: str
    ts: str | None
    shown_status: str


class SlackState:
    """Seen deliveries and card references over one state store."""

    def __init__(self, store: StateStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def first_seen(self, key: str, kind: str) -> bool:
        """Record a delivery key; True only for the first caller ever to record it."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO slack_events (event_key, kind, seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (event_key) DO NOTHING",
                (key, kind, utc_text(self.clock())),
            )
            return cur.rowcount == 1

    def claim_card(self, proposal_id: str, channel: str) -> bool:
        """Reserve the card of a proposal in a channel; False when it exists or is being posted."""
        now = utc_text(self.clock())
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO slack_cards (proposal_id, channel, ts, shown_status, posted_at,"
                " updated_at) VALUES (?, ?, NULL, 'posting', ?, ?)"
                " ON CONFLICT (proposal_id, channel) DO NOTHING",
                (proposal_id, channel, now, now),
            )
            return cur.rowcount == 1

    def release_card(self, proposal_id: str, channel: str) -> None:
        """Drop a reservation whose post failed, so the next outbox pass tries again."""
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM slack_cards WHERE proposal_id = ? AND channel = ? AND ts IS NULL",
                (proposal_id, channel),
            )

    def refuse_card(self, proposal_id: str, channel: str, error: str) -> None:
        """Keep a claimed card that Slack refused for good, so no outbox pass retries it."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE slack_cards SET shown_status = ?, updated_at = ?"
                " WHERE proposal_id = ? AND channel = ? AND ts IS NULL",
                (f"refused:{error}"[:200], utc_text(self.clock()), proposal_id, channel),
            )

    def set_card(self, proposal_id: str, channel: str, ts: str, shown_status: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE slack_cards SET ts = ?, shown_status = ?, updated_at = ?"
                " WHERE proposal_id = ? AND channel = ?",
                (ts, shown_status, utc_text(self.clock()), proposal_id, channel),
            )

    def cards(self, proposal_id: str | None = None) -> list[CardRef]:
        """Posted cards (with a message ts), of one proposal or all."""
        sql = "SELECT proposal_id, channel, ts, shown_status FROM slack_cards WHERE ts IS NOT NULL"
        params: tuple[str, ...] = ()
        if proposal_id is not None:
            sql += " AND proposal_id = ?"
            params = (proposal_id,)
        rows = self.store.query(sql + " ORDER BY posted_at", params)
        return [CardRef(r[0], r[1], r[2], r[3]) for r in rows]

    def has_card(self, proposal_id: str, channel: str) -> bool:
        rows = self.store.query(
            "SELECT 1 FROM slack_cards WHERE proposal_id = ? AND channel = ?",
            (proposal_id, channel),
        )
        return bool(rows)
