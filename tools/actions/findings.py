"""Optimization findings as the source of an action: look one up for a proposal, price and
describe it in the evidence, and check right before execution that it still holds.

A finding is recomputed from the warehouse each time (`tools.optimize.engine.recommend`), so
"still holds" means: the same rule still fires on the latest inventory, utilization and bills.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tools.actions.base import ActionError, Targets
from tools.context import ToolContext
from tools.optimize.engine import recommend
from tools.optimize.models import Finding
from tools.vtags.tagback_models import settings_for

__all__ = [
    "ResourceIds",
    "current_findings",
    "finding_evidence",
    "monthly_cost",
    "pick_finding",
    "resolve_ids",
    "stale_findings",
]


def current_findings(ctx: ToolContext) -> dict[str, Finding]:
    """Every current optimization finding by id."""
    return {f.id: f for f in recommend(ctx).findings}


def pick_finding(
    findings: Mapping[str, Finding],
    fid: str,
    action: str,
    fits: Callable[[Finding], bool],
    what: str,
) -> Finding:
    """The finding `fid` when it proposes `action` on `what` (ActionError otherwise)."""
    f = findings.get(fid)
    if f is None:
        raise ActionError(f"no current optimization finding {fid!r} (run finops recommend)")
    aws = (f.provider or "").lower() == "aws"
    if f.action != action or not aws or not fits(f):
        raise ActionError(
            f"finding {fid} is {f.action} on {f.resource_id or f.resource_name}, "
            f"not {action} on {what}"
        )
    return f


@dataclass(frozen=True)
class ResourceIds:
    """How targets of one AWS resource kind are keyed (`key`), what its ids start with
    (`prefix`) and what it is called (`what`, e.g. "an EC2 instance")."""

    key: str
    prefix: str
    what: str


def resolve_ids(
    ctx: ToolContext,
    kind: ResourceIds,
    finding_ids: Sequence[str],
    ids: Sequence[str],
    region: str | None,
    action: str | None,
) -> Targets:
    """Targets (`kind.key`, region, finding; no live state) from finding ids proposing
    `action` on that kind and from explicit ids, de-duplicated; an explicit id gets its finding
    when one proposes `action` on it. `region` (default: the settings') is the explicit ids'."""
    default = region or settings_for(ctx).aws_region
    findings = current_findings(ctx)
    targets: dict[str, dict[str, Any]] = {}
    for fid in finding_ids:
        f = pick_finding(
            findings,
            fid,
            str(action),
            lambda f: (f.resource_id or "").startswith(kind.prefix),
            kind.what,
        )
        rid = str(f.resource_id)
        targets[rid] = {kind.key: rid, "region": f.region or default, "finding": f}
    by_resource = {f.resource_id: f for f in findings.values() if f.action == action}
    for rid in ids:
        if not rid.startswith(kind.prefix):
            raise ActionError(f"{rid!r} is not {kind.what} id ({kind.prefix}...)")
        entry = {kind.key: rid, "region": default, "finding": by_resource.get(rid)}
        targets.setdefault(rid, entry)
    return list(targets.values())


def finding_evidence(f: Finding | None, *fields: str) -> dict[str, Any] | None:
    """What the approver sees of the finding behind a target (plus the finding's `fields`,
    e.g. `recommended`)."""
    if f is None:
        return None
    return {
        "id": f.id,
        "rule": f.rule,
        "summary": f.summary,
        "source": f.source,
        "saving": f.saving.model_dump(mode="json"),
        "evidence": [e.model_dump(mode="json") for e in f.evidence],
        **{name: getattr(f, name) for name in fields},
    }


def monthly_cost(f: Finding | None, rates: Mapping[str, Decimal], *ids: str) -> Decimal | None:
    """A target's monthly cost: its finding's, else the billed run rate of the first of `ids`
    that has bills, else None (unknown)."""
    if f is not None and f.monthly_cost is not None:
        return f.monthly_cost
    return next((rates[i] for i in ids if i in rates), None)


def stale_findings(
    ctx: ToolContext,
    targets: Sequence[Mapping[str, Any]],
    key: str,
    basis: str = "inventory, utilization and bills",
    still: Callable[[Mapping[str, Any], Finding], str | None] | None = None,
) -> list[str]:
    """One problem per target whose finding (`finding_id`) no longer holds on the latest
    `basis`, or (`still`) no longer supports the proposed change."""
    if not any(t.get("finding_id") for t in targets):
        return []
    current = current_findings(ctx)
    problems = []
    for t in targets:
        fid = t.get("finding_id")
        if not fid:
            continue
        f = current.get(str(fid))
        why = f"finding {fid} no longer holds on the latest {basis}" if f is None else None
        why = why or (still(t, f) if still is not None and f is not None else None)
        if why:
            problems.append(f"{t[key]}: {why}")
    return problems
