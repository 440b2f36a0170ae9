"""Optimization findings as the source of an action: look one up for a proposal, describe it in
the evidence, and check right before execution that it still holds.

Used by the RDS and EBS actions (`tools.actions.rds`, `tools.actions.ebs`); a finding is
recomputed from the warehouse each time (`tools.optimize.engine.recommend`), so "still holds"
means: the same rule still fires on the latest inventory, utilization and bills.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tools.actions.aws_ec2 import ActionError
from tools.context import ToolContext
from tools.optimize.engine import recommend
from tools.optimize.models import Finding

__all__ = ["current_findings", "finding_evidence", "pick_finding", "stale_findings"]


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


def finding_evidence(f: Finding | None) -> dict[str, Any] | None:
    """What the approver sees of the finding behind a target."""
    if f is None:
        return None
    return {
        "id": f.id,
        "rule": f.rule,
        "summary": f.summary,
        "source": f.source,
        "saving": f.saving.model_dump(mode="json"),
        "evidence": [e.model_dump(mode="json") for e in f.evidence],
    }


def stale_findings(ctx: ToolContext, targets: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    """One problem per target whose finding (`finding_id`) no longer holds."""
    if not any(t.get("finding_id") for t in targets):
        return []
    current = current_findings(ctx)
    return [
        f"{t[key]}: finding {t['finding_id']} no longer holds on the latest inventory, "
        "utilization and bills"
        for t in targets
        if t.get("finding_id") and str(t["finding_id"]) not in current
    ]
