"""Which earlier rows an ingest replaces: the same export, never another provider's or account's.

An export is identified by its source (`--source`, default the format name), `ProviderName`,
`BillingAccountId` and billing period (or charge day for API pulls). Deleting by that key means
re-ingesting a provider's export replaces exactly its own rows (restatements), while exports of
other providers or accounts ingested under the same default source are left alone. With an
explicit source, rows of that source and period belonging to a provider or account the new input
does not cover are not silently kept or dropped: the ingest is refused with what would be lost.
"""

from __future__ import annotations

import duckdb

from warehouse.errors import IngestError
from warehouse.ingest.safety import clean

__all__ = ["replace_previous"]


def _period_key(scope: str, table: str) -> str:
    if scope == "billing_period":
        return f"{table}.BillingPeriodStart"
    return f"CAST({table}.ChargePeriodStart AS DATE)"


_SAME_EXPORT = (
    "EXISTS (SELECT 1 FROM _ingest_scope s WHERE s.k = {key} "
    "AND s.p IS NOT DISTINCT FROM costs.ProviderName "
    "AND s.a IS NOT DISTINCT FROM costs.BillingAccountId)"
)


def replace_previous(
    con: duckdb.DuckDBPyConnection, ingest_id: str, source: str, scope: str, *, explicit: bool
) -> int:
    """Delete earlier rows of the same export: same source, provider, billing account and
    billing period (or charge day). With an explicit source, refuse when the source's periods
    also hold rows of providers or accounts this input does not cover."""
    key = _period_key(scope, "costs")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ingest_scope AS SELECT DISTINCT "
        f"{key} AS k, ProviderName AS p, BillingAccountId AS a FROM costs "
        "WHERE x_IngestId = ? AND x_SourceName = ?",
        [ingest_id, source],
    )
    try:
        if explicit:
            _refuse_losses(con, ingest_id, source, key)
        row = con.execute(
            f"DELETE FROM costs WHERE x_SourceName = ? AND x_IngestId <> ? AND "
            f"{_SAME_EXPORT.format(key=key)}",
            [source, ingest_id],
        ).fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS _ingest_scope")
    return int(row[0]) if row else 0


def _refuse_losses(con: duckdb.DuckDBPyConnection, ingest_id: str, source: str, key: str) -> None:
    lost = con.execute(
        f"SELECT ProviderName, BillingAccountId, CAST({key} AS DATE), count(*) FROM costs "
        f"WHERE x_SourceName = ? AND x_IngestId <> ? AND {key} IN (SELECT k FROM _ingest_scope) "
        f"AND NOT {_SAME_EXPORT.format(key=key)} GROUP BY ALL ORDER BY 4 DESC, 1, 2, 3",
        [source, ingest_id],
    ).fetchall()
    if not lost:
        return
    shown = "; ".join(
        f"{n:,} rows of provider {clean(p, 40)}, billing account {clean(a, 40)} ({day})"
        for p, a, day, n in lost[:3]
    )
    more = f"; and {len(lost) - 3:,} more group(s)" if len(lost) > 3 else ""
    raise IngestError(
        f"refused: source {clean(source, 40)!r} already holds rows of providers or billing "
        f"accounts this input does not cover, and re-ingesting under the same source would "
        f"remove them: {shown}{more}. Ingest this export under its own --source, or without "
        "--source (then only rows of the same provider, billing account and period are replaced)"
    )
