"""The delivery ledger (`alert_deliveries` in state.db): at most one delivery per alert key,
channel and event, across processes.

A sender first *claims* the row inside a `BEGIN IMMEDIATE` transaction (the primary key
`(dedupe_key, channel, event)` backs it up), delivers outside any transaction, then records the
outcome together with its audit entry. Claim rules:

* no row → insert `sending`, go;
* `sent` → skip (already delivered);
* `sending`, claimed within the lease → skip (another process is on it);
* `sending`, older than the lease → the sender died mid-way: mark `unknown`, skip. We cannot know
  whether the message went out, and the promise is "never twice", so it is not resent;
* `failed` (retries exhausted earlier, or a secret was missing) → claim again: the alert was
  never delivered there, so a later send may try;
* a `resolve` goes only where its `trigger` was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from guardrails.audit import AuditLog
from tools.notify.models import Alert
from warehouse.state.store import StateStore, utc_text

__all__ = ["AUDIT_KIND", "Claim", "DeliveryLedger", "DeliveryRecord", "recent_deliveries"]

AUDIT_KIND = "notification"
Status = Literal["sending", "sent", "failed", "unknown"]


@dataclass(frozen=True)
class Claim:
    granted: bool
    reason: str = ""


class DeliveryRecord(BaseModel):
    """One row of the ledger, as `finops notify log` shows it."""

    dedupe_key: str
    channel: str
    event: str
    alert_id: str
    kind: str
    severity: str
    owner: str | None
    title: str
    channel_type: str
    status: str
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str
    sent_at: str | None


class DeliveryLedger:
    """Claims, attempts and outcomes of alert deliveries; outcomes are audited."""

    def __init__(self, store: StateStore, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    @staticmethod
    def _key(alert: Alert, channel: str) -> tuple[str, str, str]:
        return (alert.dedupe_key, channel, alert.event)

    def claim(self, alert: Alert, channel: str, channel_type: str, lease: timedelta) -> Claim:
        """Reserve the delivery of `alert` on `channel`, or say why not."""
        now = self.clock()
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT status, updated_at, sent_at FROM alert_deliveries "
                "WHERE dedupe_key = ? AND channel = ? AND event = ?",
                self._key(alert, channel),
            ).fetchone()
            if row is None:
                if alert.event == "resolve" and not self._triggered(conn, alert, channel):
                    return Claim(False, "no trigger was sent to this channel; nothing to resolve")
                conn.execute(
                    "INSERT INTO alert_deliveries (dedupe_key, channel, event, alert_id, kind, "
                    "severity, owner, title, channel_type, status, attempts, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'sending', 0, ?, ?)",
                    (
                        *self._key(alert, channel),
                        alert.id,
                        alert.kind,
                        alert.severity,
                        alert.owner,
                        alert.title,
                        channel_type,
                        utc_text(now),
                        utc_text(now),
                    ),
                )
                return Claim(True)
            status, updated_at, sent_at = row
            if status == "sent":
                return Claim(False, f"already sent at {sent_at}")
            if status == "unknown":
                return Claim(False, f"outcome unknown since {updated_at}; not resent")
            if status == "sending":
                if updated_at >= utc_text(now - lease):
                    return Claim(False, f"being delivered by another sender since {updated_at}")
                self._set(conn, alert, channel, "unknown", "sender stopped mid-delivery", now)
                self.audit.append(
                    AUDIT_KIND,
                    "finops",
                    self._payload(alert, channel, channel_type, "unknown", None, None),
                )
                return Claim(False, f"a sender stopped mid-delivery ({updated_at}); not resent")
            conn.execute(
                "UPDATE alert_deliveries SET status = 'sending', updated_at = ?, severity = ?, "
                "title = ? WHERE dedupe_key = ? AND channel = ? AND event = ?",
                (utc_text(now), alert.severity, alert.title, *self._key(alert, channel)),
            )
            return Claim(True)

    @staticmethod
    def _triggered(conn: Any, alert: Alert, channel: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM alert_deliveries WHERE dedupe_key = ? AND channel = ? "
            "AND event = 'trigger' AND status = 'sent'",
            (alert.dedupe_key, channel),
        ).fetchone()
        return row is not None

    def _set(
        self,
        conn: Any,
        alert: Alert,
        channel: str,
        status: Status,
        error: str | None,
        now: datetime,
    ) -> None:
        conn.execute(
            "UPDATE alert_deliveries SET status = ?, last_error = ?, updated_at = ?, "
            "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
            "WHERE dedupe_key = ? AND channel = ? AND event = ?",
            (status, error, utc_text(now), status, utc_text(now), *self._key(alert, channel)),
        )

    def attempted(self, alert: Alert, channel: str, error: str | None) -> None:
        """Count one try (and its error), which also renews the claim's lease."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?, "
                "updated_at = ? WHERE dedupe_key = ? AND channel = ? AND event = ?",
                (error, utc_text(self.clock()), *self._key(alert, channel)),
            )

    def finish(
        self,
        alert: Alert,
        channel: str,
        channel_type: str,
        *,
        sent: bool,
        error: str | None,
        extra: dict[str, Any],
    ) -> None:
        """Record the outcome and its audit entry in one transaction."""
        status: Status = "sent" if sent else "failed"
        with self.store.transaction() as conn:
            self._set(conn, alert, channel, status, error, self.clock())
            payload = self._payload(alert, channel, channel_type, status, error, extra)
            self.audit.append(AUDIT_KIND, "finops", payload)

    @staticmethod
    def _payload(
        alert: Alert,
        channel: str,
        channel_type: str,
        status: str,
        error: str | None,
        extra: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "alert_id": alert.id,
            "dedupe": alert.dedupe_key,
            "event": alert.event,
            "kind": alert.kind,
            "severity": alert.severity,
            "owner": alert.owner,
            "channel": channel,
            "channel_type": channel_type,
            "status": status,
            "error": error,
            **(extra or {}),
        }


def recent_deliveries(store: StateStore, limit: int = 50) -> list[DeliveryRecord]:
    """Newest deliveries first."""
    rows = store.query(
        "SELECT * FROM alert_deliveries ORDER BY updated_at DESC, rowid DESC LIMIT ?", (limit,)
    )
    return [DeliveryRecord(**dict(r)) for r in rows]
