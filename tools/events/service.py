"""The usage-event pipeline: accept → buffer → flush to the warehouse → evaluate the rules.

`submit` (called per HTTP request) validates and prices a whole batch or refuses it, then adds it
to an in-memory buffer; nothing is stored yet, so the request returns in microseconds per event.
`flush` (called at least every `events.flush_seconds` by the server, and on demand) appends every
buffered batch to the warehouse in one transaction, updates the in-memory windows, refreshes the
norms when due, evaluates the burn-rate rules and applies the findings to the flags (and, per
config, the ledger). A failed append (e.g. another process holding the warehouse's write lock)
keeps the batches buffered for the next flush; past `events.max_buffered_events` new requests get
503 until the warehouse takes them.

The warehouse is opened for each flush and closed after it, so `finops spend` and other commands
can open the file between flushes. The clock is injected: received times, windows and flag times
all come from it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
from pydantic import BaseModel

from guardrails.audit import AuditLog
from tools.events.batch import BatchRejected, PricedBatch, Pricer, Window, read_batch
from tools.events.config import EventsConfig, RunawayConfig
from tools.events.detector import Detector, TaskState
from tools.events.flags import Flag, FlagBook, FlagHook, Proposer, list_flags
from tools.events.norms import AgentNorm, load_norms
from tools.events.rollup import price_row
from tools.events.rules import evaluate
from tools.events.storage import append, ensure_tables, record_tasks
from tools.settings import ToolSettings
from warehouse.ingest.ai_common import PriceTable, load_price_table
from warehouse.state.store import StateStore

__all__ = ["Accepted", "EventService", "FlushReport"]

log = logging.getLogger("finops.events")


class Accepted(BaseModel):
    """The answer to an accepted batch."""

    batch_id: str
    accepted: int
    cost_usd: Decimal
    currency: str = "USD"
    received_at: datetime
    stored: bool = False
    duplicate: bool = False


class FlushReport(BaseModel):
    """What one flush did."""

    at: datetime
    events: int = 0
    batches: int = 0
    stored_batch_ids: list[str] = []
    focus_rows: int = 0
    flags_opened: list[str] = []
    pending_events: int = 0
    seconds: float = 0.0
    error: str | None = None


def _section(config: ToolSettings, name: str, default: Any) -> Any:
    return getattr(config, name, None) or default


class EventService:
    """One instance per server process; `submit` and `flush` may run on different threads."""

    def __init__(
        self,
        *,
        config: ToolSettings,
        open_warehouse: Callable[[], duckdb.DuckDBPyConnection],
        store: StateStore,
        clock: Callable[[], datetime],
        proposer: Proposer | None = None,
        prices: PriceTable | None = None,
        events: EventsConfig | None = None,
        runaway: RunawayConfig | None = None,
        on_flag: FlagHook | None = None,
    ) -> None:
        self.config = config
        self.events: EventsConfig = events or _section(config, "events", EventsConfig())
        self.rules: RunawayConfig = runaway or _section(config, "runaway", RunawayConfig())
        self.open_warehouse = open_warehouse
        self.store = store
        self.clock = clock
        self.pricer = Pricer(prices or load_price_table())
        audit = AuditLog.configured(store, clock, config.audit, os.environ)
        self.flagbook = FlagBook(store, audit, config, self.rules, proposer, on_flag)
        self.detector = Detector(
            timedelta(minutes=self.rules.window_minutes),
            timedelta(minutes=self.rules.task_idle_minutes),
            self.rules.max_tracked_tasks,
        )
        self.norms: dict[str, AgentNorm] = {}
        self._norms_at: datetime | None = None
        self._pending: list[PricedBatch] = []
        self._finished: list[TaskState] = []
        self._pending_events = 0
        self._keys: dict[str, str] = {}
        self._recent: OrderedDict[str, Accepted] = OrderedDict()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.stored_events = 0
        self.last_flush: FlushReport | None = None

    # -- intake ------------------------------------------------------------------------------

    def submit(self, body: bytes, idempotency_key: str | None = None) -> Accepted:
        """Validate and price a batch; buffer it (all or nothing) or raise `BatchRejected`."""
        if idempotency_key:
            with self._lock:
                seen = self._recent.get(idempotency_key)
            if seen is not None:
                return seen.model_copy(update={"duplicate": True})
        if self._pending_events >= self.events.max_buffered_events:
            raise BatchRejected(
                503, f"{self._pending_events:,} events are waiting for the warehouse; retry"
            )
        batch = read_batch(
            body,
            received_at=self.clock(),
            pricer=self.pricer,
            max_lines=self.events.max_lines,
            window=Window(
                max_skew=timedelta(seconds=self.events.max_clock_skew_seconds),
                max_age=timedelta(days=self.events.max_age_days),
            ),
        )
        accepted = Accepted(
            batch_id=batch.batch_id,
            accepted=batch.count,
            cost_usd=batch.total_cost,
            received_at=batch.received_at,
        )
        with self._lock:
            self._pending.append(batch)
            self._pending_events += batch.count
            if idempotency_key:
                self._keys[batch.batch_id] = idempotency_key
                self._remember(idempotency_key, accepted)
        return accepted

    def _remember(self, key: str, accepted: Accepted) -> None:
        self._recent[key] = accepted
        while len(self._recent) > self.events.remember_batches:
            self._recent.popitem(last=False)

    @property
    def pending_events(self) -> int:
        return self._pending_events

    # -- flush -------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the tables and rebuild windows, norms and idempotency keys from the warehouse."""
        now = self.clock()
        con = self.open_warehouse()
        try:
            ensure_tables(con)
            self.detector.seed(con, now)
            self._refresh_norms(con, now)
            self._seed_keys(con)
        finally:
            con.close()

    def _seed_keys(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.events.remember_batches:
            return
        rows = con.execute(
            "SELECT idempotency_key, batch_id, events, cost, received_at FROM usage_event_batches "
            "WHERE idempotency_key IS NOT NULL ORDER BY stored_at DESC LIMIT ?",
            [self.events.remember_batches],
        ).fetchall()
        for key, batch_id, events, cost, received in reversed(rows):
            self._remember(
                key,
                Accepted(
                    batch_id=batch_id,
                    accepted=events,
                    cost_usd=cost,
                    received_at=received.replace(tzinfo=UTC),
                    stored=True,
                ),
            )

    def _refresh_norms(self, con: duckdb.DuckDBPyConnection, now: datetime) -> None:
        self.norms = load_norms(con, self.rules, now)
        self._norms_at = now

    def _norms_due(self, now: datetime) -> bool:
        every = timedelta(minutes=self.rules.norm_refresh_minutes)
        return self._norms_at is None or now - self._norms_at >= every

    def flush(self) -> FlushReport:
        """Store every buffered batch, then evaluate the rules (serialized across threads)."""
        with self._flush_lock:
            return self._flush()

    def _take(self) -> list[PricedBatch]:
        with self._lock:
            batches, self._pending = self._pending, []
            return batches

    def _put_back(self, batches: list[PricedBatch]) -> None:
        with self._lock:
            self._pending = batches + self._pending

    def _flush(self) -> FlushReport:
        started = time.perf_counter()
        now = self.clock()
        batches = self._take()
        report = FlushReport(at=now)
        con: duckdb.DuckDBPyConnection | None = None
        try:
            if batches:
                con = self.open_warehouse()
                self._store(con, batches, now, report)
            if self.rules.enabled:
                self._finished += self.detector.expire(now)
            if report.error is None and (self._finished or self._norms_due(now)):
                con = con or self.open_warehouse()
                self._maintain(con, now)
        except duckdb.Error as exc:
            report.error = report.error or f"warehouse: {str(exc).splitlines()[0]}"
        finally:
            if con is not None:
                con.close()
        if report.error is not None and batches and not report.stored_batch_ids:
            self._put_back(batches)
            log.warning("flush failed, %d event(s) kept: %s", self._pending_events, report.error)
        if self.rules.enabled:
            findings = evaluate(self.detector, self.norms, self.rules, now)
            report.flags_opened = [f.id for f in self.flagbook.apply(findings, now)]
        report.pending_events = self._pending_events
        report.seconds = time.perf_counter() - started
        self.last_flush = report
        return report

    def _maintain(self, con: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """Record retired tasks (for the task norm) and refresh the norms when due."""
        ensure_tables(con)
        if self._finished:
            record_tasks(con, self._finished, now)
            self._finished = []
        if self._norms_due(now):
            self._refresh_norms(con, now)

    def _store(
        self,
        con: duckdb.DuckDBPyConnection,
        batches: list[PricedBatch],
        now: datetime,
        report: FlushReport,
    ) -> None:
        prices = [price_row(p) for p in self.pricer.used()]
        keys = {b.batch_id: self._keys[b.batch_id] for b in batches if b.batch_id in self._keys}
        try:
            ensure_tables(con)
            result = append(
                con,
                batches,
                prices,
                idempotency_keys=keys,
                now=now,
                history_before=self.detector.oldest(now),
            )
        except duckdb.Error as exc:
            report.error = f"warehouse: {str(exc).splitlines()[0]}"
            return
        with self._lock:
            self._pending_events -= result.events
            for b in batches:
                self._keys.pop(b.batch_id, None)
        self.stored_events += result.events
        report.events, report.batches = result.events, result.batches
        report.stored_batch_ids = [b.batch_id for b in batches]
        report.focus_rows = result.focus_rows
        if self.rules.enabled:
            self.detector.update(batches, now)

    # -- reading -----------------------------------------------------------------------------

    def flags(self, status: str | None = None, limit: int = 100) -> list[Flag]:
        return list_flags(self.store, status, limit)

    def health(self) -> dict[str, Any]:
        last = self.last_flush
        return {
            "ok": last is None or last.error is None,
            "pending_events": self._pending_events,
            "stored_events": self.stored_events,
            "last_flush": None if last is None else last.model_dump(mode="json"),
            "agents_tracked": len(self.detector.agents),
            "tasks_tracked": len(self.detector.tasks),
            "agents_with_norm": sum(1 for n in self.norms.values() if n.hourly_median),
        }
