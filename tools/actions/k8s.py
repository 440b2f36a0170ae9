"""Kubernetes optimization actions: `scale_deployment_to_zero` and its reverse
`scale_deployment_back` (Deployments and StatefulSets), proposed by the tools of
`tools.actions.agent_tools`; they run once after approval. Requests: see
`tools.actions.k8s_requests`.

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
from typing import Any, NamedTuple

from pydantic import Field

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import base, k8s_api
from tools.actions.base import ActionError, FindingsOrIds, Planned, TargetAction, Targets
from tools.actions.findings import monthly_cost
from tools.actions.k8s_api import PREVIOUS, Conn, Workload
from tools.actions.k8s_common import (
    PERMISSIONS,
    WorkloadRef,
    address,
    finding_facts,
    findings,
    grouped,
    guard,
    moved,
    parse_id,
    stale,
    wid,
)
from tools.actions.limits import run_rates
from tools.context import ToolContext
from tools.optimize.models import Finding
from warehouse.format import money

__all__ = ["SCALE_BACK", "SCALE_ZERO", "WORKLOADS", "ScaleBackArgs", "ScaleToZeroArgs"]

SCALE_ZERO, SCALE_BACK = "scale_deployment_to_zero", "scale_deployment_back"
_BY_NAME = dict.fromkeys((SCALE_ZERO, SCALE_BACK), PERMISSIONS)


class ScaleToZeroArgs(FindingsOrIds):
    ids = "workloads"
    finding_ids: list[str] = Field(
        default_factory=list, max_length=200, description="Idle k8s findings (finops recommend)."
    )
    workloads: list[WorkloadRef] = Field(default_factory=list, max_length=200)


class ScaleBackArgs(WorkloadRef):
    replicas: int | None = Field(
        default=None, ge=1, le=10_000, description=f"Default: the {PREVIOUS} annotation."
    )


# -- proposing ----------------------------------------------------------------------------------


class _Resolved(NamedTuple):
    entries: Targets
    found: Mapping[str, Finding]
    to: Callable[[Workload], int] | None
    """The replica count to set; None: scale to zero."""


def _resolve(args: ScaleToZeroArgs, found: Mapping[str, Finding]) -> Targets:
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


def _scale_target(conn: Conn, w: Workload, to: int, f: Finding | None) -> dict[str, Any]:
    return {
        **address(conn, w),
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


def _plan(ctx: ToolContext, resolved: _Resolved) -> tuple[Targets, Targets]:
    """(targets with live replicas and billed cost, evidence)."""
    to, found = resolved.to, resolved.found
    by_resource = {f.resource_id: f for f in found.values() if f.action == "scale_to_zero"}
    targets: Targets = []
    evidence: Targets = []
    problems: list[str] = []
    for conn, group in grouped(ctx, resolved.entries):
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
    rates = run_rates(ctx, [wid(t) for t in targets])
    for t, e in zip(targets, evidence, strict=True):
        cost = monthly_cost(found.get(str(t.get("finding_id"))), rates, wid(t))
        t["monthly_cost"] = None if cost is None else str(cost)
        e["monthly_cost"], e["cost_known"] = t["monthly_cost"], cost is not None
    base.admit(ctx, targets, ())
    return targets, evidence


def _names(targets: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{wid(t)} ({t['replicas']} → {t['to_replicas']})" for t in targets)


def _draft(ctx: ToolContext, planned: Planned) -> ProposalDraft:
    action, targets, evidence, rollback_of = planned
    zero, cur = action == SCALE_ZERO, ctx.config.reporting_currency
    cost = base.total(targets, "monthly_cost")
    saving = base.total(targets, "saving", "monthly_cost")
    if zero:
        summary = (
            f"Scale {len(targets)} Kubernetes workload(s) to 0 replicas: {_names(targets)}; "
            f"records the count in annotation {PREVIOUS}; saves about {money(saving, cur)}/month "
            "(findings, else billed run rate)"
        )
    else:
        summary = (
            f"Scale {len(targets)} Kubernetes workload(s) back: {_names(targets)}; removes "
            f"annotation {PREVIOUS}; resumes about {money(cost, cur)}/month of billed cost"
        )
    return base.make_draft(
        ctx,
        action,
        target="k8s/" + ",".join(wid(t) for t in targets),
        params={"provider": "Kubernetes", "workloads": targets},
        summary=summary,
        evidence={"workloads": evidence},
        limits=True,
        rollback_of=rollback_of,
        expected_monthly_saving=saving if zero else Decimal(0),
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


# -- re-validation and execution ----------------------------------------------------------------


def _body(t: Mapping[str, Any]) -> dict[str, Any]:
    """Replicas and the annotation: recorded when scaling to zero, removed when scaling back."""
    note = str(t["replicas"]) if int(t["to_replicas"]) == 0 else None
    return {"metadata": {"annotations": {PREVIOUS: note}}, "spec": {"replicas": t["to_replicas"]}}


def _drift(ctx: ToolContext, t: Mapping[str, Any], w: Workload | None) -> str | None:
    problem = moved(ctx, t, w)
    if problem or w is None:
        return problem
    if w.replicas != t["replicas"]:
        return f"{wid(t)} runs {w.replicas} replica(s) now, the proposal saw {t['replicas']}"
    note = w.annotations.get(PREVIOUS)
    if int(t["to_replicas"]) > 0 and note is not None and note != str(t["to_replicas"]):
        restores = t["to_replicas"]
        return f"{wid(t)} annotation {PREVIOUS} is now {note}, the proposal restores {restores}"
    return None


class Workloads(TargetAction[_Resolved]):
    """Scale Deployments / StatefulSets to zero and back, recording the previous count."""

    names = (SCALE_ZERO, SCALE_BACK)
    permissions = _BY_NAME
    key, noun = "workloads", "workload"

    def resolve(self, ctx: ToolContext, name: str, args: Any) -> _Resolved:
        if name == SCALE_ZERO:
            found = findings(ctx)
            return _Resolved(_resolve(args, found), found, None)
        entries = [{**args.model_dump(exclude={"replicas"}), "finding": None}]
        return _Resolved(entries, {}, _previous(args.replicas))

    def plan(self, ctx: ToolContext, name: str, resolved: _Resolved) -> tuple[Targets, Targets]:
        return _plan(ctx, resolved)

    def draft(self, ctx: ToolContext, planned: Planned) -> ProposalDraft:
        return _draft(ctx, planned)

    def reverse_evidence(self, targets: Targets) -> Targets:
        return [
            {
                "workload": wid(t),
                "replicas_after_original": t["replicas"],
                "restores": t["to_replicas"],
            }
            for t in targets
        ]

    def drift(self, ctx: ToolContext, proposal: Proposal) -> list[str]:
        """Stale findings; else each workload's drift, or what its dry run (the same patch
        with `dryRun=All`) answered."""
        targets: list[Mapping[str, Any]] = proposal.params["workloads"]
        problems = stale(ctx, targets) if base.effective_action(proposal) == SCALE_ZERO else []
        if problems:
            return problems
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
        return problems

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
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
        reverse = SCALE_BACK if base.effective_action(proposal) == SCALE_ZERO else SCALE_ZERO
        back = [
            {
                **{k: v for k, v in c.items() if k not in ("before", "after", PREVIOUS)},
                "replicas": c["after"],
                "to_replicas": c["before"],
            }
            for c in changed
        ]
        return base.outcome(
            "Kubernetes",
            changed,
            failed,
            ident=None,
            previous_replicas={wid(c): c["before"] for c in changed},
            rollback=base.undo(
                proposal, reverse, "workloads", back, f"{reverse} on the {len(back)} workload(s)"
            ),
        )


WORKLOADS = base.register(Workloads())
