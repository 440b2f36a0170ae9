"""Kubernetes optimization actions: `scale_deployment_to_zero` and its reverse
`scale_deployment_back` (Deployments and StatefulSets). The tools only propose; the actions run
once after approval. Requests: see `tools.actions.k8s_requests`.

A proposal names each workload (`cluster/namespace/kind/name`, with the kubeconfig context it
resolved to), the replica count the proposer saw live and the count it sets, its billed monthly
run rate and, from an idle finding (`finops recommend`, rule `k8s_idle`), the finding id and its
saving. All of that is in the parameters, so covered by the approval's hash.

Scaling to zero writes, in one strategic merge patch at the resourceVersion just read, replicas 0
and the annotation `finops.io/previous-replicas` with the count it replaced; scaling back sets the
recorded count and removes the annotation. Right before acting the action re-validates: blast
radius (`actions:` limits), each workload still exists with the replica count the proposal saw,
is not protected (label or annotation `finops.io/protected=true`, or the optimizer's
`protect_keys`), the idle finding still holds on the latest utilization, and the same patch passes
the API server's dry run (`dryRun=All`). Any drift fails the proposal with the reason; nothing
changes. The result records the previous counts and the exact reverse (`rollback`), which
`rollback_action {"proposal_id": ...}` proposes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, model_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import k8s_api
from tools.actions.aws_ec2 import ActionError
from tools.actions.config import actions_settings
from tools.actions.k8s_api import PREVIOUS, Conn, Workload
from tools.actions.k8s_common import (
    PERMISSIONS,
    WorkloadRef,
    blast_radius,
    finding_facts,
    findings,
    grouped,
    guard,
    money,
    parse_id,
    stale,
    wid,
)
from tools.actions.limits import run_rates
from tools.actions.rollback import (
    ROLLBACK,
    effective_action,
    how_to_roll_back,
    register_reverse,
    reverse_targets,
)
from tools.context import ToolContext
from tools.optimize.models import Finding
from tools.registry import REGISTRY, ActionSpec

__all__ = ["SCALE_BACK", "SCALE_ZERO", "ScaleBackArgs", "ScaleToZeroArgs"]

SCALE_ZERO, SCALE_BACK = "scale_deployment_to_zero", "scale_deployment_back"


class ScaleToZeroArgs(BaseModel):
    finding_ids: list[str] = Field(
        default_factory=list, max_length=200, description="Idle k8s findings (finops recommend)."
    )
    workloads: list[WorkloadRef] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _some(self) -> ScaleToZeroArgs:
        if not self.finding_ids and not self.workloads:
            raise ValueError("give finding_ids or workloads")
        return self


class ScaleBackArgs(WorkloadRef):
    replicas: int | None = Field(
        default=None, ge=1, le=10_000, description=f"Default: the {PREVIOUS} annotation."
    )


# -- proposing ----------------------------------------------------------------------------------


def _resolve(args: ScaleToZeroArgs, found: Mapping[str, Finding]) -> list[dict[str, Any]]:
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for fid in args.finding_ids:
        f = found.get(fid)
        if f is None:
            raise ActionError(f"no current Kubernetes finding {fid!r} (run finops recommend)")
        parts = parse_id(f.resource_id or "")
        if f.action != "scale_to_zero" or parts is None or parts[4] is not None:
            raise ActionError(f"finding {fid} is {f.action} on {f.resource_id}, not scale_to_zero")
        cluster, ns, kind, name, _ = parts
        ref = {"cluster": cluster, "context": None, "namespace": ns, "kind": kind, "name": name}
        out[(cluster, ns, kind, name)] = {**ref, "finding": f}
    for w in args.workloads:
        key = (w.cluster or w.context or "", w.namespace, w.kind, w.name)
        out.setdefault(key, {**w.model_dump(), "finding": None})
    return list(out.values())


def _scale_target(conn: Conn, w: Workload, to: int, f: Finding | None) -> dict[str, Any]:
    return {
        "cluster": conn.cluster,
        "context": conn.context,
        "namespace": w.namespace,
        "kind": w.kind,
        "name": w.name,
        "replicas": w.replicas,
        "to_replicas": to,
        "finding_id": f.id if f is not None else None,
        "saving": None if f is None or f.saving.monthly is None else str(f.saving.monthly),
    }


def _check_live(ctx: ToolContext, r: Mapping[str, Any], w: Workload | None, to_zero: bool) -> str:
    where = f"{r.get('cluster') or r.get('context')}/{r['namespace']}/{r['kind']}/{r['name']}"
    if w is None:
        return f"{where}: not found"
    why = guard(ctx, w)
    if why:
        return f"{where}: {why}; never changed by the agent"
    if to_zero and w.replicas == 0:
        return f"{where}: already scaled to zero"
    if not to_zero and w.replicas != 0:
        return f"{where}: runs {w.replicas} replica(s), not scaled to zero"
    return ""


def _plan(
    ctx: ToolContext,
    resolved: Sequence[Mapping[str, Any]],
    to: Callable[[Workload], int] | None,
    found: Mapping[str, Finding],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(targets with live replicas, evidence); `to` None means scale to zero."""
    by_resource = {f.resource_id: f for f in found.values() if f.action == "scale_to_zero"}
    targets: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    problems: list[str] = []
    for conn, group in grouped(ctx, resolved):
        for r in group:
            w = k8s_api.read(conn, str(r["kind"]), str(r["namespace"]), str(r["name"]))
            problem = _check_live(ctx, r, w, to is None)
            if problem or w is None:
                problems.append(problem)
                continue
            ref = {
                "cluster": conn.cluster,
                "namespace": w.namespace,
                "kind": w.kind,
                "name": w.name,
            }
            if any(wid(t) == wid(ref) for t in targets):
                continue
            f = r.get("finding") or (by_resource.get(wid(ref)) if to is None else None)
            try:
                target = _scale_target(conn, w, 0 if to is None else to(w), f)
            except ActionError as exc:
                problems.append(f"{wid(ref)}: {exc}")
                continue
            targets.append(target)
            evidence.append(
                {
                    "workload": wid(target),
                    "context": conn.context,
                    "live_replicas": w.replicas,
                    "live_labels": w.labels,
                    "live_annotations": w.annotations,
                    "finding": finding_facts(f),
                }
            )
    if problems:
        raise ActionError("; ".join(problems))
    return _priced(ctx, targets, evidence, found)


def _priced(
    ctx: ToolContext,
    targets: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    found: Mapping[str, Finding],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rates = run_rates(ctx, [wid(t) for t in targets])
    for t, e in zip(targets, evidence, strict=True):
        f = found.get(str(t.get("finding_id")))
        cost = f.monthly_cost if f is not None and f.monthly_cost is not None else rates.get(wid(t))
        t["monthly_cost"] = None if cost is None else str(cost)
        e["monthly_cost"], e["cost_known"] = t["monthly_cost"], cost is not None
    limit = blast_radius(ctx, targets)
    if limit:
        raise ActionError(limit)
    return targets, evidence


def _names(targets: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{wid(t)} ({t['replicas']} → {t['to_replicas']})" for t in targets)


def _draft(
    ctx: ToolContext,
    action: str,
    targets: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    rollback_of: str | None = None,
) -> ProposalDraft:
    zero = action == SCALE_ZERO
    cost = sum((Decimal(t.get("monthly_cost") or 0) for t in targets), Decimal(0))
    saving = sum(
        (Decimal(t.get("saving") or t.get("monthly_cost") or 0) for t in targets), Decimal(0)
    )
    if zero:
        summary = (
            f"Scale {len(targets)} Kubernetes workload(s) to 0 replicas: {_names(targets)}; "
            f"records the count in annotation {PREVIOUS}; saves about {money(ctx, saving)}/month "
            "(findings, else billed run rate)"
        )
    else:
        summary = (
            f"Scale {len(targets)} Kubernetes workload(s) back: {_names(targets)}; removes "
            f"annotation {PREVIOUS}; resumes about {money(ctx, cost)}/month of billed cost"
        )
    params: dict[str, Any] = {"provider": "Kubernetes", "workloads": targets}
    if rollback_of:
        params |= {"rollback_of": rollback_of, "action": action}
        summary = f"Roll back {rollback_of}: {summary}"
    return ProposalDraft(
        action=ROLLBACK if rollback_of else action,
        target="k8s/" + ",".join(wid(t) for t in targets),
        params=params,
        summary=summary,
        evidence={
            "workloads": evidence,
            "requested_by": ctx.actor,
            "blast_radius": actions_settings(ctx.config).model_dump(mode="json"),
        },
        expected_monthly_saving=saving if zero else Decimal(0),
        currency=ctx.config.reporting_currency,
        risk="medium" if zero else "low",
        rollback=(
            "rollback_action with this proposal's id proposes scaling exactly these workloads "
            f"back to the counts recorded here and in {PREVIOUS} (approved the same way). At 0 "
            "replicas the workload serves nothing; a HorizontalPodAutoscaler on it pauses."
            if zero
            else "rollback_action with this proposal's id proposes scaling these workloads to "
            "zero again (approved the same way)."
        ),
    )


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=PERMISSIONS,
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def scale_deployment_to_zero(ctx: ToolContext, args: ScaleToZeroArgs) -> ProposalDraft:
    """Propose scaling idle Kubernetes Deployments / StatefulSets to 0 replicas (nothing changes
    until a human approves). Give idle finding ids from optimization_findings (rule k8s_idle), or
    workloads by cluster (as in the bills) or kubeconfig context, namespace and name. The previous
    replica count is recorded for the rollback. Protected workloads (label finops.io/protected=
    true) are refused. Example: {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"workloads":
    [{"cluster": "prod-eu", "namespace": "search", "name": "ranker"}]}.
    """
    found = findings(ctx)
    targets, evidence = _plan(ctx, _resolve(args, found), None, found)
    return _draft(ctx, SCALE_ZERO, targets, evidence)


def _previous(replicas: int | None) -> Callable[[Workload], int]:
    def to(w: Workload) -> int:
        if replicas is not None:
            return replicas
        text = w.annotations.get(PREVIOUS)
        if text is None:
            raise ActionError(f"no {PREVIOUS} annotation; give replicas")
        if not text.isdigit() or int(text) < 1:
            raise ActionError(f"annotation {PREVIOUS}={text!r} is not a replica count")
        return int(text)

    return to


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=PERMISSIONS,
    example={"cluster": "prod-eu", "namespace": "search", "name": "ranker"},
)
def scale_deployment_back(ctx: ToolContext, args: ScaleBackArgs) -> ProposalDraft:
    """Propose scaling a Deployment / StatefulSet at 0 replicas back to the count recorded in its
    finops.io/previous-replicas annotation (or `replicas`), after a human approves. To undo an
    executed scale_deployment_to_zero proposal prefer rollback_action with its id. Example:
    {"cluster": "prod-eu", "namespace": "search", "name": "ranker"}.
    """
    resolved = [{**args.model_dump(exclude={"replicas"}), "finding": None}]
    targets, evidence = _plan(ctx, resolved, _previous(args.replicas), {})
    return _draft(ctx, SCALE_BACK, targets, evidence)


# -- re-validation and execution ----------------------------------------------------------------


def _body(t: Mapping[str, Any]) -> dict[str, Any]:
    """Replicas and the annotation: recorded when scaling to zero, removed when scaling back."""
    note = str(t["replicas"]) if int(t["to_replicas"]) == 0 else None
    return {"metadata": {"annotations": {PREVIOUS: note}}, "spec": {"replicas": t["to_replicas"]}}


def _drift(ctx: ToolContext, t: Mapping[str, Any], w: Workload | None) -> str | None:
    if w is None:
        return f"{wid(t)} no longer exists"
    why = guard(ctx, w)
    if why:
        return f"{wid(t)} is now {why}"
    if w.replicas != t["replicas"]:
        return f"{wid(t)} runs {w.replicas} replica(s) now, the proposal saw {t['replicas']}"
    note = w.annotations.get(PREVIOUS)
    if int(t["to_replicas"]) > 0 and note is not None and note != str(t["to_replicas"]):
        restores = t["to_replicas"]
        return f"{wid(t)} annotation {PREVIOUS} is now {note}, the proposal restores {restores}"
    return None


def _precheck(ctx: ToolContext, proposal: Proposal) -> str | None:
    targets: list[Mapping[str, Any]] = proposal.params["workloads"]
    try:
        limit = blast_radius(ctx, targets)
        if limit:
            return limit
        problems = stale(ctx, targets) if effective_action(proposal) == SCALE_ZERO else []
        if problems:
            return "; ".join(problems) + "; propose again"
        for conn, group in grouped(ctx, targets):
            for t in group:
                w = k8s_api.read(conn, str(t["kind"]), str(t["namespace"]), str(t["name"]))
                problem = _drift(ctx, t, w)
                if problem or w is None:
                    problems.append(problem or "")
                    continue
                tried = k8s_api.patch(conn, w, _body(t), dry_run=True)
                if tried.replicas != t["to_replicas"]:
                    problems.append(f"{wid(t)}: the dry run answered {tried.replicas} replicas")
        if problems:
            return "; ".join(problems) + "; propose again"
    except ActionError as exc:
        return str(exc)
    return None


def _execute(ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
    changed: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for conn, group in grouped(ctx, proposal.params["workloads"]):
        for t in group:
            try:
                w = k8s_api.read(conn, str(t["kind"]), str(t["namespace"]), str(t["name"]))
                problem = _drift(ctx, t, w)
                if problem or w is None:
                    raise ActionError(problem or "gone")
                after = k8s_api.patch(conn, w, _body(t), dry_run=False)
            except ActionError as exc:
                failed.append({"workload": wid(t), "error": str(exc)})
                continue
            note = after.annotations.get(PREVIOUS)
            changed.append({**t, "before": w.replicas, "after": after.replicas, PREVIOUS: note})
    if failed and not changed:
        raise ActionError("nothing changed: " + "; ".join(f["error"] for f in failed))
    reverse = SCALE_BACK if effective_action(proposal) == SCALE_ZERO else SCALE_ZERO
    back = [
        {
            **{k: v for k, v in c.items() if k not in ("before", "after", PREVIOUS)},
            "replicas": c["after"],
            "to_replicas": c["before"],
            "finding_id": None,
            "saving": None,
        }
        for c in changed
    ]
    return {
        "provider": "Kubernetes",
        "changed": changed,
        "failed": failed,
        "previous_replicas": {wid(c): c["before"] for c in changed},
        "rollback": {
            "action": reverse,
            "workloads": back,
            "how": f"{how_to_roll_back(proposal.id)} proposes {reverse} on the "
            f"{len(back)} workload(s)",
        },
    }


# -- rollback -----------------------------------------------------------------------------------


def _reverse(ctx: ToolContext, original: Proposal) -> ProposalDraft:
    """The reverse of an executed scale (see `tools.actions.rollback`)."""
    action, targets = reverse_targets(ctx, original, "workloads", "workload")
    evidence = [
        {"workload": wid(t), "replicas_after_original": t["replicas"], "restores": t["to_replicas"]}
        for t in targets
    ]
    return _draft(ctx, action, targets, evidence, rollback_of=original.id)


for _name in (SCALE_ZERO, SCALE_BACK):
    REGISTRY.action(
        ActionSpec(name=_name, precheck=_precheck, execute=_execute, permissions=PERMISSIONS)
    )
    register_reverse(_name, _reverse, PERMISSIONS)
