"""`patch_container_requests`: set one container's CPU / memory requests on a Deployment or
StatefulSet (VPA-style rightsizing), after approval (the tool: `tools.actions.agent_tools`).

From a `k8s_requests` finding (`finops recommend`: p90 CPU / p95 memory usage plus the VPA
margin; a container finding is per pod, a workload finding with one container is divided by the
live replica count) the new requests are rounded up to a millicore / MiB; or give the container
and `cpu` / `memory` quantities explicitly. The proposal records the requests the proposer saw
live (`requests`, a key absent there is null) and the ones it sets (`to_requests`).

The change is a strategic merge patch of `spec.template.spec.containers[name=…].resources.
requests` at the resourceVersion just read (other containers and keys stay as they are; null
removes a key), so the controller rolls the pods. Right before acting: blast radius, the workload
and container still exist with the requests the proposal saw, not protected, the finding still
holds and does not now recommend more than the proposal sets, and the API server's dry run
(`dryRun=All`) answers with exactly the new requests. The result records the old requests;
`rollback_action` proposes setting them back (the same action with the values swapped).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field, model_validator

from guardrails.approvals import Proposal, ProposalDraft
from tools.actions import base, k8s_api
from tools.actions.base import ActionError, Planned, TargetAction, Targets
from tools.actions.findings import monthly_cost
from tools.actions.k8s_api import Conn, Workload, cpu_text, memory_text, same_quantity
from tools.actions.k8s_common import (
    PERMISSIONS,
    address,
    connection,
    finding_facts,
    findings,
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
from warehouse.inventory.k8s_usage import quantity

__all__ = ["PATCH_REQUESTS", "REQUESTS", "RequestsArgs"]

PATCH_REQUESTS = "patch_container_requests"
_BY_NAME = {PATCH_REQUESTS: PERMISSIONS}


class RequestsArgs(BaseModel):
    finding_id: str | None = Field(default=None, description="A k8s_requests finding.")
    cluster: str | None = Field(default=None, description="Cluster name as in the bills.")
    context: str | None = Field(default=None, description="Kubeconfig context (else cluster's).")
    namespace: str | None = None
    name: str | None = None
    kind: Literal["deployment", "statefulset"] = "deployment"
    container: str | None = None
    cpu: str | None = Field(default=None, description='CPU request, e.g. "250m".')
    memory: str | None = Field(default=None, description='Memory request, e.g. "512Mi".')

    @model_validator(mode="after")
    def _some(self) -> RequestsArgs:
        if self.finding_id:
            return self
        if not (self.cluster or self.context) or not self.namespace or not self.name:
            raise ValueError("give finding_id, or cluster/context, namespace and name")
        problem = k8s_api.name_problem(self.namespace, self.name)
        if problem:
            raise ValueError(problem)
        if not self.container or not (self.cpu or self.memory):
            raise ValueError("give the container and cpu and/or memory")
        for key, value in (("cpu", self.cpu), ("memory", self.memory)):
            if value is not None and not (quantity(value) or 0) > 0:
                raise ValueError(f"{key} {value!r} is not a positive Kubernetes quantity")
        return self


def _from_finding(f: Finding, live: Workload, container: str | None) -> tuple[str, dict[str, str]]:
    """(container, new requests) a finding recommends, per pod, rounded up."""
    d = f.details
    per = 1
    if container is None:
        if len(live.requests) != 1:
            raise ActionError(
                f"{f.id} sizes the whole workload, which has {len(live.requests)} containers; "
                "give container, cpu and memory"
            )
        container, per = next(iter(live.requests)), max(live.replicas, 1)
    new: dict[str, str] = {}
    pairs = (
        ("cpu", "cpu_request_cores", "recommended_cpu_cores", cpu_text),
        ("memory", "memory_request_bytes", "recommended_memory_bytes", memory_text),
    )
    for key, cur, rec, text in pairs:
        now, to = d.get(cur), d.get(rec)
        if now and to and float(to) < float(now) * (1 - 1e-9):
            new[key] = text(float(to) / per)
    if not new:
        raise ActionError(f"{f.id} recommends no lower request")
    return container, new


def _target(
    ctx: ToolContext, conn: Conn, w: Workload, container: str, new: dict[str, str | None]
) -> dict[str, Any]:
    where = f"{conn.cluster}/{w.namespace}/{w.kind}/{w.name}"
    why = guard(ctx, w)
    if why:
        raise ActionError(f"{where}: {why}; never changed by the agent")
    if container not in w.requests:
        raise ActionError(f"{where} has no container {container!r} ({', '.join(w.requests)})")
    now = w.requests[container]
    before = {k: now.get(k) for k in new}
    if all(same_quantity(before[k], new[k]) for k in new):
        raise ActionError(f"{where} container {container} already requests {new}")
    return {
        **address(conn, w),
        "container": container,
        "replicas": w.replicas,
        "requests": before,
        "to_requests": new,
    }


class _Ask(NamedTuple):
    """A resolved request: where, which container, the requests asked for (None: the
    finding's), the finding, and every current Kubernetes finding."""

    ref: dict[str, Any]
    namespace: str
    kind: str
    name: str
    container: str | None
    new: dict[str, str] | None
    finding: Finding | None
    current: dict[str, Finding]


def _resolve(ctx: ToolContext, args: RequestsArgs) -> _Ask:
    current = findings(ctx)
    if not args.finding_id:
        new = {k: v for k, v in (("cpu", args.cpu), ("memory", args.memory)) if v}
        ref = {"cluster": args.cluster, "context": args.context}
        ns, name = str(args.namespace), str(args.name)
        return _Ask(ref, ns, args.kind, name, args.container, new, None, current)
    f = current.get(args.finding_id)
    if f is None:
        raise ActionError(f"no current Kubernetes finding {args.finding_id!r}")
    parts = parse_id(f.resource_id or "")
    if f.action != "set_requests" or parts is None:
        raise ActionError(f"finding {f.id} is {f.action} on {f.resource_id}, not set_requests")
    cluster, ns, kind, name, container = parts
    return _Ask({"cluster": cluster, "context": None}, ns, kind, name, container, None, f, current)


def _plan(ctx: ToolContext, ask: _Ask) -> tuple[dict[str, Any], Finding | None]:
    f = ask.finding
    with connection(ctx, ask.ref) as conn:
        w = k8s_api.read(conn, ask.kind, ask.namespace, ask.name)
        if w is None:
            raise ActionError(f"{conn.cluster}/{ask.namespace}/{ask.kind}/{ask.name}: not found")
        if ask.new is None and f is not None:
            container, new = _from_finding(f, w, ask.container)
        else:
            container, new = str(ask.container), dict(ask.new or {})
            f = _matching(ask.current, conn.cluster, w, container, new)
        return _target(ctx, conn, w, container, dict(new)), f


def _sized(f: Finding) -> str | None:
    """The container a finding sizes, None when it sizes the whole workload."""
    parts = parse_id(f.resource_id or "")
    return parts[4] if parts else None


def _matching(
    current: dict[str, Finding], cluster: str, w: Workload, container: str, new: dict[str, str]
) -> Finding | None:
    """The finding whose recommendation these explicit requests are, if any."""
    ids = {f"{cluster}/{w.namespace}/{w.kind}/{w.name}/{container}"}
    if len(w.requests) == 1:
        ids.add(f"{cluster}/{w.namespace}/{w.kind}/{w.name}")
    for f in current.values():
        if f.action == "set_requests" and f.resource_id in ids:
            try:
                _c, rec = _from_finding(f, w, _sized(f))
            except ActionError:
                return None
            return f if rec == new else None
    return None


def _text(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v if v is not None else '(none)'}" for k, v in sorted(r.items()))


def _draft(
    ctx: ToolContext, t: dict[str, Any], evidence: dict[str, Any], rollback_of: str | None = None
) -> ProposalDraft:
    saving = Decimal(t["saving"]) if t.get("saving") else Decimal(0)
    change = ", ".join(
        f"{k} {t['requests'].get(k) or '(none)'} → {t['to_requests'][k] or '(none)'}"
        for k in sorted(t["to_requests"])
    )
    summary = (
        f"Set requests of container {t['container']} in {wid(t)}: {change} (rolling restart of "
        f"{t['replicas']} pod(s))"
    )
    summary += (
        f"; saves about {money(saving, ctx.config.reporting_currency)}/month (finding)"
        if saving
        else "; saving not estimated"
    )
    return base.make_draft(
        ctx,
        PATCH_REQUESTS,
        target=f"k8s/{wid(t)}/{t['container']}",
        params={"provider": "Kubernetes", "workloads": [t]},
        summary=summary,
        evidence=evidence,
        rollback_of=rollback_of,
        expected_monthly_saving=saving,
        risk="medium",
        rollback=f"rollback_action with this proposal's id proposes setting {t['container']}'s "
        f"requests back to {_text(t['requests'])} (another rolling restart, approved the same "
        "way). Lower requests pack pods tighter: CPU may be throttled under contention and pods "
        "above their memory request are evicted first under node memory pressure.",
    )


# -- re-validation and execution ----------------------------------------------------------------


def _body(t: Mapping[str, Any]) -> dict[str, Any]:
    container = {"name": t["container"], "resources": {"requests": dict(t["to_requests"])}}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def _drift(ctx: ToolContext, t: Mapping[str, Any], w: Workload | None) -> str | None:
    problem = moved(ctx, t, w)
    if problem or w is None:
        return problem
    now = w.requests.get(str(t["container"]))
    if now is None:
        return f"{wid(t)} no longer has container {t['container']}"
    for key, saw in t["requests"].items():
        if not same_quantity(now.get(key), saw):
            return (
                f"{wid(t)} {t['container']} {key} request is now {now.get(key)}, "
                f"the proposal saw {saw}"
            )
    return None


def _still_recommended(ctx: ToolContext, t: Mapping[str, Any], w: Workload) -> str | None:
    """Why the finding behind the proposal no longer holds, or now recommends more."""

    def higher(_t: Mapping[str, Any], f: Finding) -> str | None:
        _c, rec = _from_finding(f, w, _sized(f))
        for key, value in rec.items():
            proposed = quantity(t["to_requests"].get(key))
            if proposed is not None and (quantity(value) or 0) > proposed:
                return f"the finding now recommends {key} {value}, above {t['to_requests'][key]}"
        return None

    return "; ".join(stale(ctx, [t], higher)) or None


class Requests(TargetAction[_Ask]):
    """Set one container's CPU / memory requests (the pods roll); reversed by setting the
    recorded requests back."""

    names = (PATCH_REQUESTS,)
    permissions = _BY_NAME
    key, noun = "workloads", "workload"

    def resolve(self, ctx: ToolContext, name: str, args: Any) -> _Ask:
        return _resolve(ctx, args)

    def plan(self, ctx: ToolContext, name: str, resolved: _Ask) -> tuple[Targets, Any]:
        t, f = _plan(ctx, resolved)
        cost = monthly_cost(f, run_rates(ctx, [wid(t)]), wid(t))
        t |= {
            "finding_id": f.id if f is not None else None,
            "saving": None if f is None or f.saving.monthly is None else str(f.saving.monthly),
            "monthly_cost": None if cost is None else str(cost),
        }
        base.admit(ctx, [t], ())
        return [t], {
            "workload": wid(t),
            "finding": finding_facts(f),
            "cost_known": cost is not None,
        }

    def draft(self, ctx: ToolContext, planned: Planned) -> ProposalDraft:
        [t] = planned.targets
        return _draft(ctx, t, planned.evidence, planned.rollback_of)

    def reverse_evidence(self, targets: Targets) -> dict[str, Any]:
        [t] = targets
        return {"workload": wid(t), "requests_after_original": t["requests"]}

    def recheck(self, ctx: ToolContext, proposal: Proposal) -> str | None:
        """Drift and the finding on the workload as read now, then the same patch with
        `dryRun=All` must answer exactly the new requests."""
        t: dict[str, Any] = proposal.params["workloads"][0]
        with connection(ctx, t) as conn:
            w = k8s_api.read(conn, str(t["kind"]), str(t["namespace"]), str(t["name"]))
            problem = _drift(ctx, t, w) or (_still_recommended(ctx, t, w) if w else None)
            if problem or w is None:
                return f"{problem}; propose again"
            tried = k8s_api.patch(conn, w, _body(t), dry_run=True).requests.get(t["container"], {})
            for key, value in t["to_requests"].items():
                if not same_quantity(tried.get(key), value):
                    return f"{wid(t)}: the dry run answered {key} {tried.get(key)}, not {value}"
        return None

    def execute(self, ctx: ToolContext, proposal: Proposal) -> dict[str, Any]:
        t: dict[str, Any] = proposal.params["workloads"][0]
        with connection(ctx, t) as conn:
            w = k8s_api.read(conn, str(t["kind"]), str(t["namespace"]), str(t["name"]))
            problem = _drift(ctx, t, w)
            if problem or w is None:
                raise ActionError(f"nothing changed: {problem}")
            after = k8s_api.patch(conn, w, _body(t), dry_run=False).requests.get(t["container"], {})
        now = {k: after.get(k) for k in t["to_requests"]}
        back = {**t, "requests": now, "to_requests": dict(t["requests"])}
        how = f"setting {t['container']}'s requests back to {_text(t['requests'])}"
        return base.outcome(
            "Kubernetes",
            [{**t, "before": dict(t["requests"]), "after": now}],
            [],
            ident=None,
            previous_requests={f"{wid(t)}/{t['container']}": dict(t["requests"])},
            rollback=base.undo(proposal, PATCH_REQUESTS, "workloads", [back], how),
        )


REQUESTS = base.register(Requests())
