"""The warehouse side of usage events: four tables and the append path.

- `usage_events`: one row per accepted event (priced; `cost` is exact, DECIMAL(38,12)).
- `usage_events_hourly`: running sums per hour × provider × model × agent × team × key × project
  (and the unit prices they were priced at), merged on every flush with `ON CONFLICT DO UPDATE`,
  so a roll-up never re-reads an hour of raw events.
- `usage_event_batches`: one row per accepted request (batch id, Idempotency-Key, count, cost).
- `usage_event_tasks`: task costs for the task norm, one row per finished task (written when the
  detector retires it) or per task and batch for events older than the detector's horizon
  (backfills); a task's cost is the sum of its rows.

`append` writes buffered batches in **one transaction**: the raw rows (through Arrow), the hourly
merge, the FOCUS rows of every touched hour in `costs` (see `rollup`), and the batch records. It
either all lands or none of it does, and the caller keeps the batches to retry.

The tables are warehouse migration 5 (`warehouse.migrations`), applied when the warehouse opens.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from tools.events.batch import COLUMNS, PricedBatch
from tools.events.detector import TaskState
from tools.events.rollup import PriceRow, write_focus_rows
from warehouse import migrations

__all__ = ["TABLES", "AppendResult", "append", "ensure_tables", "record_tasks"]

TABLES = ("usage_events", "usage_events_hourly", "usage_event_batches", "usage_event_tasks")
"""The events tables (warehouse migration 5)."""

_ARROW_TYPES: dict[str, pa.DataType] = {
    "event_time": pa.timestamp("us"),
    "received_at": pa.timestamp("us"),
    "uncached_input_tokens": pa.int64(),
    "cache_read_tokens": pa.int64(),
    "cache_write_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "cost": pa.decimal128(38, 12),
}

_MERGE = """
INSERT INTO usage_events_hourly
SELECT date_trunc('hour', e.event_time), e.provider, e.model, e.price_model, e.price_as_of,
       e.agent_id, coalesce(e.team, ''), coalesce(e.api_key_id, ''), coalesce(e.project_id, ''),
       sum(e.uncached_input_tokens), sum(e.cache_read_tokens), sum(e.cache_write_tokens),
       sum(e.output_tokens), sum(e.cost), count(*),
       any_value(p.unit_input), any_value(p.unit_cache_read), any_value(p.unit_cache_write),
       any_value(p.unit_output)
FROM usage_events_batch e
JOIN usage_events_prices p USING (provider, price_model, price_as_of)
GROUP BY ALL
ON CONFLICT DO UPDATE SET
    uncached_input_tokens = uncached_input_tokens + excluded.uncached_input_tokens,
    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    cost = cost + excluded.cost,
    events = events + excluded.events
"""


@dataclass(frozen=True)
class AppendResult:
    """What one flush wrote."""

    events: int
    batches: int
    hours: list[datetime]
    focus_rows: int


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Make sure the events tables exist: a catalog read on a migrated connection, the pending
    warehouse migrations otherwise (never DDL of its own)."""
    migrations.ensure_tables(con, *TABLES)


def _events_table(batches: Sequence[PricedBatch]) -> pa.Table:
    rows = itertools.chain.from_iterable(b.rows for b in batches)
    columns = list(zip(*rows, strict=True)) or [() for _ in COLUMNS]
    arrays = {
        name: pa.array(values, type=_ARROW_TYPES.get(name, pa.string()))
        for name, values in zip(COLUMNS, columns, strict=True)
    }
    return pa.table(arrays)


def _prices_table(prices: Sequence[PriceRow]) -> pa.Table:
    unit = pa.decimal128(38, 18)
    return pa.table(
        {
            "provider": pa.array([p.provider for p in prices], pa.string()),
            "price_model": pa.array([p.price_model for p in prices], pa.string()),
            "price_as_of": pa.array([p.as_of for p in prices], pa.string()),
            "unit_input": pa.array([p.unit_input for p in prices], unit),
            "unit_cache_read": pa.array([p.unit_cache_read for p in prices], unit),
            "unit_cache_write": pa.array([p.unit_cache_write for p in prices], unit),
            "unit_output": pa.array([p.unit_output for p in prices], unit),
        }
    )


def _record_batches(
    con: duckdb.DuckDBPyConnection,
    batches: Sequence[PricedBatch],
    keys: dict[str, str],
    stored_at: datetime,
) -> None:
    rows = [
        (
            b.batch_id,
            keys.get(b.batch_id),
            b.received_at.replace(tzinfo=None),
            stored_at.replace(tzinfo=None),
            b.count,
            b.total_cost,
        )
        for b in batches
    ]
    con.executemany("INSERT INTO usage_event_batches VALUES (?, ?, ?, ?, ?, ?)", rows)


_BACKFILL_TASKS = """
INSERT INTO usage_event_tasks
SELECT agent_id, task_id, min(event_time), max(event_time), sum(cost), count(*), ?
FROM usage_events_batch WHERE task_id IS NOT NULL AND event_time < ? GROUP BY ALL
"""


def record_tasks(con: duckdb.DuckDBPyConnection, tasks: Sequence[TaskState], now: datetime) -> None:
    """Append finished tasks (from the detector) to `usage_event_tasks`."""
    table = pa.table(
        {
            "agent_id": pa.array([t.agent_id for t in tasks], pa.string()),
            "task_id": pa.array([t.task_id for t in tasks], pa.string()),
            "first_time": pa.array([t.first_time for t in tasks], pa.timestamp("us")),
            "last_time": pa.array([t.last_time for t in tasks], pa.timestamp("us")),
            "cost": pa.array([t.cost for t in tasks], pa.decimal128(38, 12)),
            "events": pa.array([t.events for t in tasks], pa.int64()),
        }
    )
    con.register("usage_event_tasks_new", table)
    try:
        con.execute(
            "INSERT INTO usage_event_tasks SELECT *, ? FROM usage_event_tasks_new",
            [now.replace(tzinfo=None)],
        )
    finally:
        con.unregister("usage_event_tasks_new")


def append(
    con: duckdb.DuckDBPyConnection,
    batches: Sequence[PricedBatch],
    prices: Sequence[PriceRow],
    *,
    idempotency_keys: dict[str, str],
    now: datetime,
    history_before: datetime,
) -> AppendResult:
    """Write `batches` (raw rows, hourly sums, FOCUS rows, batch records) in one transaction.

    Tasks of events older than `history_before` (which the detector does not track) go straight
    to `usage_event_tasks`."""
    events = _events_table(batches)
    con.register("usage_events_batch", events)
    con.register("usage_events_prices", _prices_table(prices))
    try:
        con.begin()
        try:
            con.execute("INSERT INTO usage_events SELECT * FROM usage_events_batch")
            con.execute(_MERGE)
            con.execute(_BACKFILL_TASKS, [now.replace(tzinfo=None), history_before])
            hours = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT date_trunc('hour', event_time) FROM usage_events_batch"
                ).fetchall()
            ]
            focus_rows = write_focus_rows(con, hours, now)
            _record_batches(con, batches, idempotency_keys, now)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.unregister("usage_events_batch")
        con.unregister("usage_events_prices")
    return AppendResult(
        events=events.num_rows, batches=len(batches), hours=sorted(hours), focus_rows=focus_rows
    )
