"""Writing a collection: replace the snapshot of each scope, upsert utilization, one transaction.

A scope is (provider, account_id, region): re-collecting it deletes its earlier `resources` rows
and inserts what was seen now, so a terminated instance disappears from the inventory.
`utilization` is keyed by (provider, resource_id, metric, ts) and upserted: history outside the
new window is kept, and a re-collected period replaces its value (CloudWatch restates the latest
period while it fills). Either everything of a collection lands or nothing does.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.inventory.models import METRICS, Resource, Sample, Scope

__all__ = ["write_collection"]

_RESOURCE_COLUMNS = (
    "provider", "resource_id", "kind", "region", "account_id", "name", "state", "instance_type",
    "attached", "tags", "properties", "launched_at", "collected_at", "source",
)  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _resource_table(provider: str, rows: Sequence[Resource], collected_at: datetime) -> pa.Table:
    seen: dict[str, Resource] = {}
    for r in rows:
        seen[r.resource_id] = r
    items = list(seen.values())
    return pa.table(
        {
            "provider": pa.array([provider] * len(items), pa.string()),
            "resource_id": pa.array([r.resource_id for r in items], pa.string()),
            "kind": pa.array([r.kind for r in items], pa.string()),
            "region": pa.array([r.region for r in items], pa.string()),
            "account_id": pa.array([r.account_id for r in items], pa.string()),
            "name": pa.array([r.name for r in items], pa.string()),
            "state": pa.array([r.state for r in items], pa.string()),
            "instance_type": pa.array([r.instance_type for r in items], pa.string()),
            "attached": pa.array([r.attached for r in items], pa.bool_()),
            "tags": pa.array([_json(r.tags) for r in items], pa.string()),
            "properties": pa.array([_json(r.properties) for r in items], pa.string()),
            "launched_at": pa.array([r.launched_at for r in items], pa.timestamp("us")),
            "collected_at": pa.array([collected_at] * len(items), pa.timestamp("us")),
            "source": pa.array([r.source for r in items], pa.string()),
        }
    )


def _sample_table(provider: str, samples: Sequence[Sample]) -> pa.Table:
    last: dict[tuple[str, str, datetime], Sample] = {}
    for s in samples:
        last[(s.resource_id, s.metric, s.ts)] = s
    items = list(last.values())
    return pa.table(
        {
            "provider": pa.array([provider] * len(items), pa.string()),
            "resource_id": pa.array([s.resource_id for s in items], pa.string()),
            "metric": pa.array([s.metric for s in items], pa.string()),
            "ts": pa.array([s.ts for s in items], pa.timestamp("us")),
            "value": pa.array([float(s.value) for s in items], pa.float64()),
            "unit": pa.array([METRICS.get(s.metric) for s in items], pa.string()),
            "source": pa.array([s.source for s in items], pa.string()),
        }
    )


def write_collection(
    con: duckdb.DuckDBPyConnection,
    provider: str,
    scopes: Sequence[Scope],
    resources: Sequence[Resource],
    samples: Sequence[Sample],
    collected_at: datetime,
) -> tuple[Counter[str], int, Counter[str]]:
    """Replace the scopes' resources and upsert the samples in one transaction.

    Returns (resources written by kind, resources removed, samples upserted by metric)."""
    res = _resource_table(provider, resources, collected_at)
    util = _sample_table(provider, samples)
    cols = ", ".join(_RESOURCE_COLUMNS)
    select = cols.replace("tags,", "tags::JSON,").replace("properties,", "properties::JSON,")
    scope_sql = "provider = ? AND account_id = ? AND region IS NOT DISTINCT FROM ?"
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_inventory_resources", res)
        con.register("_inventory_samples", util)
        removed = 0
        for scope in scopes:
            params = [provider, scope.account_id, scope.region]
            row = con.execute(
                f"SELECT count(*) FROM resources WHERE {scope_sql} AND resource_id NOT IN "
                "(SELECT resource_id FROM _inventory_resources)",
                params,
            ).fetchone()
            removed += int(row[0]) if row else 0
            con.execute(f"DELETE FROM resources WHERE {scope_sql}", params)
        # A resource seen under another scope before (moved account or region) is replaced too.
        con.execute(
            "DELETE FROM resources WHERE provider = ? AND resource_id IN "
            "(SELECT resource_id FROM _inventory_resources)",
            [provider],
        )
        con.execute(f"INSERT INTO resources ({cols}) SELECT {select} FROM _inventory_resources")
        con.execute(
            "INSERT INTO utilization (provider, resource_id, metric, ts, value, unit, source) "
            "SELECT provider, resource_id, metric, ts, value, unit, source FROM _inventory_samples "
            "ON CONFLICT (provider, resource_id, metric, ts) DO UPDATE SET "
            "value = excluded.value, unit = excluded.unit, source = excluded.source"
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("_inventory_resources", "_inventory_samples"):
            with contextlib.suppress(duckdb.Error):
                con.unregister(name)
    kinds = Counter(str(k) for k in res.column("kind").to_pylist())
    metrics = Counter(str(m) for m in util.column("metric").to_pylist())
    return kinds, removed, metrics
