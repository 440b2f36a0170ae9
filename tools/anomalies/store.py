"""Anomalies, feedback and mute windows in `state.db` (tables of state migration 5).

An anomaly row is keyed by its stable id (hash of series + start day), so a repeat detection
updates the row — last_seen, end day, figures, root cause — and never creates a second one; a
status a person set (expected / planned / false_positive) is never overwritten by detection.
Each row keeps (in `detail`) the key its root cause was computed from, so a repeat detection
of an unchanged anomaly reuses the explanation instead of recomputing it.
Feedback rows keep who, when and why; mute windows keep their scope, days and author.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tools.anomalies.models import (
    DISMISSED,
    MARKABLE,
    Anomaly,
    Contributor,
    Feedback,
    Mute,
    check_status,
)
from warehouse.errors import QueryError
from warehouse.state.store import StateStore, utc_text

__all__ = ["AnomalyStore"]

_KEY = "root_cause_key"
"""In `detail`: what the stored root cause was computed from (`rootcause.cause_keys`)."""
_DETAIL = ("counted_days", "impact_percent", "threshold", "level", "incident", "muted_by")


def _root_cause(text: str) -> dict[str, list[Contributor]]:
    return {
        dim: [Contributor.model_validate(c) for c in items]
        for dim, items in json.loads(text).items()
    }


def _row_to_anomaly(row: sqlite3.Row, feedback: Sequence[Feedback] = ()) -> Anomaly:
    detail = json.loads(row["detail"])
    detail.pop(_KEY, None)
    root = _root_cause(row["root_cause"])
    return Anomaly(
        id=row["id"],
        series=dict(json.loads(row["series"])),
        direction=row["direction"],
        start_day=date.fromisoformat(row["start_day"]),
        end_day=date.fromisoformat(row["end_day"]),
        days=row["days"],
        expected=Decimal(row["expected"]),
        actual=Decimal(row["actual"]),
        impact=Decimal(row["impact"]),
        score=row["score"],
        status=row["status"],
        currency=row["currency"],
        metric=row["metric"],
        root_cause=root,
        owner=row["owner"],
        first_seen=datetime.fromisoformat(row["first_seen"]),
        last_seen=datetime.fromisoformat(row["last_seen"]),
        feedback=list(feedback),
        **detail,
    )


def _values(a: Anomaly) -> dict[str, Any]:
    detail = a.model_dump(mode="json", include=set(_DETAIL))
    return {
        "id": a.id,
        "series": json.dumps(list(a.series.items()), ensure_ascii=False),
        "series_key": a.key,
        "direction": a.direction,
        "start_day": a.start_day.isoformat(),
        "end_day": a.end_day.isoformat(),
        "days": a.days,
        "status": a.status,
        "metric": a.metric,
        "currency": a.currency,
        "expected": str(a.expected),
        "actual": str(a.actual),
        "impact": str(a.impact),
        "score": a.score,
        "root_cause": json.dumps(
            {d: [c.model_dump(mode="json") for c in items] for d, items in a.root_cause.items()}
        ),
        "owner": a.owner,
        "detail": json.dumps(detail),
    }


class AnomalyStore:
    """Reads and writes of the anomaly tables; every write in one state-store transaction."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    # -- reads ------------------------------------------------------------------------------

    def feedback(self, anomaly_id: str) -> list[Feedback]:
        rows = self.store.query(
            "SELECT status, actor, at, reason FROM anomaly_feedback WHERE anomaly_id = ? "
            "ORDER BY id",
            (anomaly_id,),
        )
        return [
            Feedback(
                status=r["status"],
                by=r["actor"],
                at=datetime.fromisoformat(r["at"]),
                reason=r["reason"],
            )
            for r in rows
        ]

    def get(self, anomaly_id: str) -> Anomaly | None:
        rows = self.store.query("SELECT * FROM anomalies WHERE id = ?", (anomaly_id,))
        return _row_to_anomaly(rows[0], self.feedback(anomaly_id)) if rows else None

    def require(self, anomaly_id: str) -> Anomaly:
        found = self.get(anomaly_id.strip())
        if found is None:
            raise QueryError(
                f"no anomaly {anomaly_id!r}; `finops anomalies --status all` lists the stored ones"
            )
        return found

    def listing(
        self, *, since: date | None, until: date | None, statuses: Iterable[str]
    ) -> list[Anomaly]:
        """Stored anomalies with these statuses whose days overlap [since, until], newest first."""
        wanted = list(statuses)
        sql = f"SELECT * FROM anomalies WHERE status IN ({', '.join('?' for _ in wanted)})"
        params: list[Any] = list(wanted)
        if since is not None:
            sql += " AND end_day >= ?"
            params.append(since.isoformat())
        if until is not None:
            sql += " AND start_day <= ?"
            params.append(until.isoformat())
        sql += " ORDER BY start_day DESC, CAST(impact AS REAL) DESC, id"
        return [_row_to_anomaly(r) for r in self.store.query(sql, params)]

    def overlapping(self, a: Anomaly, gap: int) -> Anomaly | None:
        """A stored anomaly of the same series and direction whose days touch `a`'s (± gap)."""
        rows = self.store.query(
            "SELECT * FROM anomalies WHERE series_key = ? AND direction = ? "
            "AND julianday(end_day) >= julianday(?) - ? AND julianday(start_day) <= "
            "julianday(?) + ? ORDER BY start_day LIMIT 1",
            (a.key, a.direction, a.start_day.isoformat(), gap, a.end_day.isoformat(), gap),
        )
        return _row_to_anomaly(rows[0]) if rows else None

    def new_normals(self, since: date) -> list[Anomaly]:
        rows = self.store.query(
            "SELECT * FROM anomalies WHERE status = 'new_normal' AND end_day >= ?",
            (since.isoformat(),),
        )
        return [_row_to_anomaly(r) for r in rows]

    def false_positives(self) -> dict[str, tuple[dict[str, str], int]]:
        """Series key → (series, how many of its anomalies are marked false_positive)."""
        rows = self.store.query(
            "SELECT series_key, min(series) AS series, count(*) AS n FROM anomalies "
            "WHERE status = 'false_positive' GROUP BY series_key"
        )
        return {r["series_key"]: (dict(json.loads(r["series"])), int(r["n"])) for r in rows}

    def root_causes(
        self, wanted: Iterable[tuple[str, str]]
    ) -> dict[str, dict[str, list[Contributor]]]:
        """Stored explanations by root-cause key, for (series key, root-cause key) pairs: rows
        of those series whose stored key (kept in `detail`) is one of the keys given."""
        pairs = list(wanted)
        by_key = {k for _, k in pairs}
        series = sorted({s for s, _ in pairs})
        out: dict[str, dict[str, list[Contributor]]] = {}
        for i in range(0, len(series), 500):
            chunk = series[i : i + 500]
            rows = self.store.query(
                "SELECT root_cause, detail FROM anomalies WHERE series_key IN "
                f"({', '.join('?' for _ in chunk)})",
                chunk,
            )
            for r in rows:
                key = json.loads(r["detail"]).get(_KEY)
                if key in by_key:
                    out[key] = _root_cause(r["root_cause"])
        return out

    def mutes(self) -> list[Mute]:
        rows = self.store.query("SELECT * FROM anomaly_mutes ORDER BY id")
        return [
            Mute(
                id=r["id"],
                dimension=r["dimension"],
                value=r["value"],
                from_day=date.fromisoformat(r["from_day"]),
                until_day=date.fromisoformat(r["until_day"]),
                by=r["actor"],
                at=datetime.fromisoformat(r["at"]),
                reason=r["reason"],
            )
            for r in rows
        ]

    # -- writes -----------------------------------------------------------------------------

    def save(
        self, conn: sqlite3.Connection, a: Anomaly, now: datetime, cause_key: str | None = None
    ) -> str:
        """Insert or update one detection; returns `new` or `updated`. Keeps a person's status.

        `cause_key` is what its root cause was computed from (`rootcause.cause_keys`)."""
        values = _values(a)
        if cause_key is not None:
            values["detail"] = json.dumps({**json.loads(values["detail"]), _KEY: cause_key})
        existing = conn.execute("SELECT status FROM anomalies WHERE id = ?", (a.id,)).fetchone()
        if existing is None:
            values["first_seen"] = values["last_seen"] = utc_text(now)
            cols = ", ".join(values)
            conn.execute(
                f"INSERT INTO anomalies ({cols}) VALUES ({', '.join('?' for _ in values)})",
                tuple(values.values()),
            )
            return "new"
        if existing["status"] in DISMISSED:
            values["status"] = existing["status"]
        values["last_seen"] = utc_text(now)
        del values["id"]
        assignments = ", ".join(f"{c} = ?" for c in values)
        conn.execute(f"UPDATE anomalies SET {assignments} WHERE id = ?", (*values.values(), a.id))
        return "updated"

    def mark(
        self, anomaly_id: str, status: str, by: str, reason: str | None, now: datetime
    ) -> Anomaly:
        """Record a person's verdict; refuses unknown ids, statuses and empty names."""
        wanted = check_status(status, MARKABLE)
        if not by.strip():
            raise QueryError("--by must name who marks the anomaly")
        current = self.require(anomaly_id)
        with self.store.transaction() as conn:
            conn.execute("UPDATE anomalies SET status = ? WHERE id = ?", (wanted, current.id))
            conn.execute(
                "INSERT INTO anomaly_feedback (anomaly_id, status, actor, at, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (current.id, wanted, by.strip(), utc_text(now), reason),
            )
        return self.require(current.id)

    def add_mute(
        self,
        dimension: str,
        value: str,
        from_day: date,
        until_day: date,
        by: str,
        reason: str | None,
        now: datetime,
    ) -> Mute:
        if not by.strip():
            raise QueryError("--by must name who adds the mute window")
        if until_day < from_day:
            raise QueryError(f"--until {until_day} is before --from {from_day}")
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO anomaly_mutes (dimension, value, from_day, until_day, actor, at, "
                "reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    dimension,
                    value,
                    from_day.isoformat(),
                    until_day.isoformat(),
                    by.strip(),
                    utc_text(now),
                    reason,
                ),
            )
            mute_id = int(cur.lastrowid or 0)
        return next(m for m in self.mutes() if m.id == mute_id)
