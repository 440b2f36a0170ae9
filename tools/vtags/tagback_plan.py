"""Selecting what `tag_resources` proposes: which resources the allocation gives a pushable value
(warehouse), and which of them would change (live tags, read in chunks until the limit).

A resource is judged on its latest month (so an owner change over time pushes the current owner);
only values decided by `tag`, `rule` or `inferred` are pushed, never `default` or `shared`; one
with two pushable values in that month is skipped as a conflict. Billed resources that address
one object (the pods of a deployment) are merged and must agree.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from tools.vtags.definitions import VirtualTag
from tools.vtags.tagback_models import Backend, Candidate, Change, Plan, Skip
from warehouse.cloud import CloudSettings
from warehouse.errors import QueryError

__all__ = ["PUSHED", "make_plan", "select_candidates"]

PUSHED = ("tag", "rule", "inferred")
_READ_CHUNK = 20

_KIND = (
    "CASE WHEN lower(coalesce(t.ServiceName, '')) = 'kubernetes' "
    "OR lower(coalesce(t.ProviderName, '')) = 'kubernetes' THEN 'Kubernetes' "
    "WHEN lower(coalesce(t.ProviderName, '')) IN ('aws', 'amazon web services') THEN 'AWS' END"
)
_SELECT = f"""
WITH r AS (
  SELECT t.ResourceId AS rid, {_KIND} AS kind, m.month, a.value, a.provenance, a.detail,
         a.confidence, m.cost * a.share AS cost, a.k
  FROM vtag_alloc a
  JOIN vtag_keys m ON m.k = a.k AND (a.month IS NULL OR a.month = m.month)
  JOIN vtag_attrs t ON t.k = a.k
  WHERE a.vtag = ? AND coalesce(t.ResourceId, '') <> ''
),
latest AS (SELECT rid, max(month) AS month FROM r WHERE kind IS NOT NULL GROUP BY rid),
x AS (
  SELECT r.rid, r.kind, r.month, r.value, r.provenance, any_value(r.detail) AS detail,
         max(r.confidence) AS confidence, sum(r.cost) AS cost, arg_max(r.k, r.cost) AS k
  FROM r JOIN latest USING (rid, month)
  WHERE r.kind IS NOT NULL
  GROUP BY r.rid, r.kind, r.month, r.value, r.provenance
)
SELECT x.rid, x.kind, x.month, x.value, x.provenance, x.detail, x.confidence, x.cost,
       t.ProviderName, t.ServiceName, t.ResourceType, t.RegionId, t.SubAccountId,
       CAST(t.Tags AS VARCHAR)
FROM x JOIN vtag_attrs t ON t.k = x.k
ORDER BY x.cost DESC NULLS LAST, x.rid, x.value
"""


def _candidate(row: Sequence[Any], cost: Decimal) -> Candidate:
    tags = json.loads(row[13]) if row[13] else {}
    return Candidate(
        resource_id=row[0], provider=row[1], month=row[2], value=row[3], provenance=row[4],
        detail=row[5], confidence=row[6], cost=cost, provider_name=row[8], service=row[9],
        resource_type=row[10], region=row[11], account=row[12],
        tags=tags if isinstance(tags, dict) else {},
    )  # fmt: skip


def _judge(rows: list[Sequence[Any]], vt: VirtualTag, pushed: Collection[str]) -> Candidate | Skip:
    """One resource's latest-month rows → the value to push, or why none is."""
    default = vt.norm(vt.default)
    good = [r for r in rows if r[4] in pushed and r[3] != default]
    month = rows[0][2]
    when = month.strftime("%Y-%m") if isinstance(month, date) else str(month)
    values = sorted({r[3] for r in good})
    if not values:
        decided = ", ".join(sorted({str(r[4]) for r in rows}))
        why = f"{when} decided by {decided} only; pushed are {', '.join(sorted(pushed))}"
        return Skip(resource=rows[0][0], reason=why)
    if len(values) > 1:
        return Skip(resource=rows[0][0], reason=f"{when}: conflicting values {', '.join(values)}")
    best = max(good, key=lambda r: r[7] or 0)
    return _candidate(best, sum((r[7] or Decimal(0) for r in good), Decimal(0)))


def select_candidates(
    con: duckdb.DuckDBPyConnection,
    name: str,
    vt: VirtualTag,
    *,
    value: str | None = None,
    provider: str | None = None,
    pushed: Collection[str] = PUSHED,
) -> tuple[list[Candidate], list[Skip]]:
    """Resources of virtual tag `name` (largest latest-month cost first) whose value would be
    pushed, and the ones skipped with why."""
    try:
        rows = con.execute(_SELECT, [name]).fetchall()
    except duckdb.CatalogException:
        raise QueryError("the allocation is not built yet: run `finops tags refresh`") from None
    wanted = vt.norm(value) if value else None
    by_rid: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        if provider is None or row[1] == provider:
            by_rid.setdefault(row[0], []).append(row)
    found: list[Candidate] = []
    skipped: list[Skip] = []
    for group in by_rid.values():
        if wanted is not None and all(r[3] != wanted for r in group):
            continue
        judged = _judge(group, vt, pushed)
        if isinstance(judged, Skip):
            skipped.append(judged)
        elif wanted is None or judged.value == wanted:
            found.append(judged)
    found.sort(key=lambda c: (-c.cost, c.resource_id))
    return found, skipped


def _evidence(
    ref: str, members: list[Candidate], tags: Mapping[str, str], currency: str
) -> dict[str, Any]:
    first = members[0]
    cost = sum((m.cost for m in members), Decimal(0))
    return {
        "resource": ref,
        "value": first.value,
        "provenance": first.provenance,
        "detail": first.detail,
        "confidence": first.confidence,
        "cost": f"{currency} {cost:.2f} in {first.month:%Y-%m}" if first.month else None,
        "billed_resource_ids": sorted({m.resource_id for m in members})[:5],
        "current_tags": dict(tags),
    }


def _group(
    backend: Backend, found: list[Candidate], settings: CloudSettings, plan: Plan
) -> list[tuple[str, dict[str, Any], list[Candidate]]]:
    """Targets in cost order; billed resources of one object (pods of a deployment) merged."""
    groups: dict[str, tuple[dict[str, Any], list[Candidate]]] = {}
    for c in found:
        problem = backend.value_problem(c.value)
        target = (
            Skip(resource=c.resource_id, reason=problem) if problem else backend.target(c, settings)
        )
        if isinstance(target, Skip):
            plan.skipped.append(target)
            continue
        ref = backend.ref(target)
        groups.setdefault(ref, (target, []))[1].append(c)
    out = []
    for ref, (target, members) in groups.items():
        values = sorted({m.value for m in members})
        if len(values) > 1:
            reason = f"its billed resources disagree: {', '.join(values)}"
            plan.skipped.append(Skip(resource=ref, reason=reason))
        else:
            out.append((ref, target, members))
    return out


def make_plan(
    backend: Backend, found: list[Candidate], key: str, settings: CloudSettings, *,
    limit: int, currency: str,
) -> Plan:  # fmt: skip
    """Read live tags in chunks until `limit` resources would change."""
    plan = Plan()
    targets = _group(backend, found, settings, plan)
    done = 0
    while done < len(targets) and len(plan.changes) < limit:
        chunk = targets[done : done + _READ_CHUNK]
        done += len(chunk)
        live = backend.read([t for _ref, t, _m in chunk], settings)
        for ref, target, members in chunk:
            tags = live.get(ref)
            value = members[0].value
            if len(plan.changes) >= limit:
                plan.not_examined += 1
            elif tags is None:
                plan.skipped.append(Skip(resource=ref, reason="no longer exists"))
            elif tags.get(key) == value:
                plan.already_set.append(ref)
            else:
                full = {**target, "value": value, "previous": tags.get(key)}
                evidence = _evidence(ref, members, tags, currency)
                plan.changes.append(Change(target=full, evidence=evidence))
    plan.not_examined += len(targets) - done
    return plan
