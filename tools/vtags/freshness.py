"""Is the allocation current? Queries with `vtag:` dimensions refuse stale allocations.

Read-only connections (the agent's) cannot rebuild, so they check and explain; writable paths
(the CLI, ingest, the runtime before it opens the read-only connection) call `ensure_allocation`.
"""

from __future__ import annotations

import json

from tools.query import Engine
from tools.settings import ToolSettings
from warehouse.errors import QueryError

__all__ = ["FINGERPRINT_SQL", "fingerprint_of", "require_fresh"]

FINGERPRINT_SQL = (
    "SELECT (SELECT count(*) FROM costs), (SELECT count(*) FROM ingests), "
    "(SELECT CAST(max(finished_at) AS VARCHAR) FROM ingests)"
)
"""What changes when data lands: row count, ingest count, last ingest time."""


def fingerprint_of(row: tuple[object, ...] | None) -> str:
    return json.dumps([None if v is None else str(v) for v in (row or ())])


def require_fresh(engine: Engine, config: ToolSettings) -> None:
    """Raise QueryError unless `vtag_alloc` was built from these definitions and this data."""
    from tools.vtags.allocate import definitions_sha

    hint = "run `finops tags refresh`"
    if not {"vtag_meta", "vtag_alloc"} <= engine.tables():
        raise QueryError(f"virtual tags have not been allocated yet; {hint}")
    meta = engine.query("SELECT definitions_sha, fingerprint FROM vtag_meta")
    if not meta or meta[0][0] != definitions_sha(config):
        raise QueryError(f"virtual tag definitions changed since the last allocation; {hint}")
    current = fingerprint_of(engine.query(FINGERPRINT_SQL)[0])
    if meta[0][1] != current:
        raise QueryError(f"cost data changed since the last allocation; {hint}")
