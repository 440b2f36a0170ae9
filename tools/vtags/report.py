"""Reading the allocation: coverage, explain, candidates, export.

All figures are billed cost in the reporting currency over the stated period, computed from the
same key join the spend queries use, so coverage and `finops spend --by vtag:X` always agree.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel

from tools.query import literal
from tools.settings import ToolSettings
from tools.vtags.definitions import VirtualTag
from warehouse.errors import QueryError

__all__ = [
    "PROVENANCES",
    "Candidate",
    "CandidatesResult",
    "Coverage",
    "CoverageResult",
    "ExplainResult",
    "TagDecision",
    "candidates",
    "coverage",
    "explain",
    "export",
]

PROVENANCES = ("tag", "rule", "inferred", "shared", "default")
_D0 = Decimal(0)


def _vtag(config: ToolSettings, name: str) -> VirtualTag:
    vt = config.virtual_tags.get(name)
    if vt is None:
        valid = ", ".join(sorted(config.virtual_tags)) or "none defined"
        raise QueryError(f"unknown virtual tag {name!r}; defined: {valid}")
    return vt


def _months(since: date | None, until: date | None) -> str:
    clauses = ["TRUE"]
    if since:
        clauses.append(f"m.month >= date_trunc('month', DATE {literal(since.isoformat())})")
    if until:
        clauses.append(f"m.month <= DATE {literal(until.isoformat())}")
    return " AND ".join(clauses)


def _check_month_bounds(since: date | None, until: date | None) -> None:
    if since and since.day != 1:
        raise QueryError(f"--since {since} must be the first day of a month (coverage is monthly)")
    if until and (until + timedelta(days=1)).day != 1:
        raise QueryError(f"--until {until} must be the last day of a month (coverage is monthly)")
    if since and until and until < since:
        raise QueryError(f"--until {until} is before --since {since}")


_WEIGHTED = """
SELECT a.vtag, a.k, m.month, a.value, a.provenance, a.detail, a.confidence,
  m.cost * a.share AS cost
FROM vtag_alloc a
JOIN vtag_keys m ON m.k = a.k AND (a.month IS NULL OR a.month = m.month)
"""


class Coverage(BaseModel):
    """One virtual tag's allocated share of spend, by how it was decided."""

    vtag: str
    total: Decimal
    allocated: Decimal
    allocated_share: Decimal
    by_provenance: dict[str, Decimal]
    values: int


class CoverageResult(BaseModel):
    currency: str
    since: date | None
    until: date | None
    tags: list[Coverage]


def coverage(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    *,
    since: date | None = None,
    until: date | None = None,
) -> CoverageResult:
    """Share of spend each virtual tag allocates, split by provenance (whole months)."""
    _check_month_bounds(since, until)
    months = _months(since, until).replace("m.month", "w.month")
    rows = con.execute(
        f"SELECT w.vtag, w.provenance, sum(w.cost) FROM ({_WEIGHTED}) AS w "
        f"WHERE {months} GROUP BY ALL"
    ).fetchall()
    counts = dict(
        con.execute(
            f"SELECT w.vtag, count(DISTINCT w.value) FROM ({_WEIGHTED}) AS w "
            f"WHERE w.provenance <> 'default' AND {months} GROUP BY ALL"
        ).fetchall()
    )
    out = []
    for name in sorted(config.virtual_tags):
        by = {p: _D0 for p in PROVENANCES}
        for vtag, prov, cost in rows:
            if vtag == name:
                by[prov] = cost or _D0
        total = sum(by.values(), _D0)
        allocated = total - by["default"]
        share = (allocated / total).quantize(Decimal("0.0001")) if total else _D0
        out.append(
            Coverage(
                vtag=name,
                total=total,
                allocated=allocated,
                allocated_share=share,
                by_provenance=by,
                values=int(counts.get(name, 0)),
            )
        )
    return CoverageResult(currency=config.reporting_currency, since=since, until=until, tags=out)


class TagDecision(BaseModel):
    """How one virtual tag was decided for a resource (one row per value it received)."""

    vtag: str
    value: str
    provenance: str
    detail: str | None
    confidence: float | None
    cost: Decimal
    best_guess: str | None = None


class ExplainResult(BaseModel):
    resource_id: str
    currency: str
    matched: list[dict[str, str | None]]
    cost: Decimal
    decisions: list[TagDecision]


def explain(con: duckdb.DuckDBPyConnection, config: ToolSettings, resource: str) -> ExplainResult:
    """Why each virtual tag has its value for a resource (by ResourceId, else ResourceName)."""
    keys = con.execute(
        "SELECT k, ProviderName, SubAccountName, ServiceName, ResourceId, ResourceName, "
        "CAST(Tags AS VARCHAR) FROM vtag_attrs WHERE ResourceId = ? OR "
        "(ResourceName = ? AND NOT EXISTS (SELECT 1 FROM vtag_attrs WHERE ResourceId = ?))",
        [resource, resource, resource],
    ).fetchall()
    if not keys:
        raise QueryError(
            f"no cost rows for resource {resource!r} (looked up by ResourceId, then ResourceName)"
        )
    ks = ", ".join(str(int(r[0])) for r in keys)
    cols = ("provider", "account", "service", "resource_id", "resource_name", "tags")
    matched = [dict(zip(cols, r[1:], strict=True)) for r in keys]
    rows = con.execute(
        f"SELECT w.vtag, w.value, w.provenance, any_value(w.detail), any_value(w.confidence), "
        f"sum(w.cost), any_value(g.value || ' at ' || round(g.confidence, 2) || ' (' || "
        f"g.reason || ')') FROM ({_WEIGHTED}) AS w LEFT JOIN vtag_guess g "
        f"ON g.vtag = w.vtag AND g.k = w.k AND w.provenance = 'default' "
        f"WHERE w.k IN ({ks}) GROUP BY w.vtag, w.value, w.provenance "
        f"ORDER BY w.vtag, sum(w.cost) DESC"
    ).fetchall()
    decisions = [
        TagDecision(
            vtag=r[0],
            value=r[1],
            provenance=r[2],
            detail=r[3],
            confidence=float(r[4]) if r[4] is not None else None,
            cost=r[5] or _D0,
            best_guess=r[6],
        )
        for r in rows
    ]
    return ExplainResult(
        resource_id=resource,
        currency=config.reporting_currency,
        matched=matched,
        cost=sum((d.cost for d in decisions if d.vtag == decisions[0].vtag), _D0)
        if decisions
        else _D0,
        decisions=decisions,
    )


class Candidate(BaseModel):
    """Unallocated spend of one resource (or account, when rows carry no resource id)."""

    vtag: str
    provider: str | None
    account: str | None
    resource_id: str | None
    resource_name: str | None
    service: str | None
    cost: Decimal
    suggested: str | None
    confidence: float | None
    reason: str | None


class CandidatesResult(BaseModel):
    vtag: str
    currency: str
    unallocated: Decimal
    total: Decimal
    candidates: list[Candidate]


def candidates(
    con: duckdb.DuckDBPyConnection, config: ToolSettings, vtag: str, *, top: int = 20
) -> CandidatesResult:
    """The largest unallocated spend of a virtual tag, with the best guess below threshold."""
    _vtag(config, vtag)
    if top < 1:
        raise QueryError(f"--top must be at least 1, got {top}")
    rows = con.execute(
        f"SELECT t.ProviderName, coalesce(t.SubAccountName, t.SubAccountId), t.ResourceId, "
        f"t.ResourceName, t.ServiceName, sum(w.cost) AS c, any_value(g.value), "
        f"any_value(g.confidence), any_value(g.reason) "
        f"FROM ({_WEIGHTED}) AS w JOIN vtag_attrs t ON t.k = w.k "
        f"LEFT JOIN vtag_guess g ON g.vtag = w.vtag AND g.k = w.k "
        f"WHERE w.vtag = ? AND w.provenance = 'default' "
        f"GROUP BY 1, 2, 3, 4, 5 ORDER BY c DESC NULLS LAST, 1, 2, 3 LIMIT {int(top)}",
        [vtag],
    ).fetchall()
    totals = con.execute(
        f"SELECT sum(cost) FILTER (WHERE provenance = 'default'), sum(cost) "
        f"FROM ({_WEIGHTED}) AS w WHERE w.vtag = ?",
        [vtag],
    ).fetchone()
    return CandidatesResult(
        vtag=vtag,
        currency=config.reporting_currency,
        unallocated=(totals[0] if totals else None) or _D0,
        total=(totals[1] if totals else None) or _D0,
        candidates=[
            Candidate(
                vtag=vtag,
                provider=r[0],
                account=r[1],
                resource_id=r[2],
                resource_name=r[3],
                service=r[4],
                cost=r[5] or _D0,
                suggested=r[6],
                confidence=float(r[7]) if r[7] is not None else None,
                reason=r[8],
            )
            for r in rows
        ],
    )


def export(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    path: Path,
    *,
    file_format: Literal["csv", "parquet"] | None = None,
) -> int:
    """Write resource id → (vtag, value, provenance, detail, confidence, cost); rows written.

    One row per resource (or account when there is no resource id), virtual tag and value.
    """
    fmt = file_format or ("parquet" if path.suffix.lower() == ".parquet" else "csv")
    if fmt not in ("csv", "parquet"):
        raise QueryError(f"unsupported export format {fmt!r}; use csv or parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    query = (
        f"SELECT t.ProviderName AS provider, t.SubAccountId AS sub_account_id, "
        f"t.ResourceId AS resource_id, any_value(t.ResourceName) AS resource_name, "
        f"w.vtag, w.value, w.provenance, any_value(w.detail) AS detail, "
        f"max(w.confidence) AS confidence, CAST(sum(w.cost) AS DECIMAL(38,6)) AS cost "
        f"FROM ({_WEIGHTED}) AS w JOIN vtag_attrs t ON t.k = w.k "
        f"GROUP BY t.ProviderName, t.SubAccountId, t.ResourceId, w.vtag, w.value, w.provenance "
        f"ORDER BY provider, sub_account_id, resource_id, vtag, cost DESC"
    )
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
    row = con.execute(f"COPY ({query}) TO {literal(str(path))} ({options})").fetchone()
    return int(row[0]) if row else 0
