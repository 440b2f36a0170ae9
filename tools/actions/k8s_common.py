"""What the Kubernetes actions share: the workload reference the tools take, inventory ids,
current findings, protection and one connection per cluster."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools.actions import k8s_api
from tools.actions.base import drifted
from tools.actions.findings import current_findings, finding_evidence, stale_findings
from tools.actions.k8s_api import PROTECT_KEYS, Conn, Workload
from tools.actions.limits import protected
from tools.context import ToolContext
from tools.optimize.config import settings
from tools.optimize.models import Finding
from tools.vtags.tagback_models import settings_for

__all__ = [
    "PERMISSIONS",
    "WorkloadRef",
    "address",
    "connection",
    "finding_facts",
    "findings",
    "grouped",
    "guard",
    "moved",
    "parse_id",
    "stale",
    "wid",
]

PERMISSIONS = (
    "apps/deployments:get",
    "apps/deployments:patch",
    "apps/statefulsets:get",
    "apps/statefulsets:patch",
)


class WorkloadRef(BaseModel):
    """A Deployment / StatefulSet: its cluster as in the bills (or a kubeconfig context)."""

    cluster: str | None = Field(default=None, description="Cluster name as in the bills.")
    context: str | None = Field(default=None, description="Kubeconfig context (else cluster's).")
    namespace: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)
    kind: Literal["deployment", "statefulset"] = "deployment"

    @model_validator(mode="after")
    def _valid(self) -> WorkloadRef:
        if not self.cluster and not self.context:
            raise ValueError("give cluster (as in the bills) or context")
        problem = k8s_api.name_problem(self.namespace, self.name)
        if problem:
            raise ValueError(problem)
        return self


def parse_id(resource_id: str) -> tuple[str, str, str, str, str | None] | None:
    """(cluster, namespace, kind, name, container or None) of an inventory resource id."""
    parts = resource_id.split("/")
    if len(parts) in (4, 5) and parts[2] in k8s_api.KINDS and all(parts):
        return parts[0], parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None
    return None


def address(conn: Conn, w: Workload) -> dict[str, Any]:
    """Where a target is: its cluster (as in the bills), context, namespace, kind and name."""
    return {
        "cluster": conn.cluster,
        "context": conn.context,
        "namespace": w.namespace,
        "kind": w.kind,
        "name": w.name,
    }


def wid(t: Mapping[str, Any]) -> str:
    return f"{t['cluster']}/{t['namespace']}/{t['kind']}/{t['name']}"


def findings(ctx: ToolContext) -> dict[str, Finding]:
    """Current Kubernetes findings by id."""
    return {
        fid: f
        for fid, f in current_findings(ctx).items()
        if (f.provider or "").lower() == "kubernetes"
    }


def finding_facts(f: Finding | None) -> dict[str, Any] | None:
    """The finding as the approver sees it, with its current and recommended values."""
    return finding_evidence(f, "current", "recommended")


def stale(
    ctx: ToolContext,
    targets: Sequence[Mapping[str, Any]],
    still: Callable[[Mapping[str, Any], Finding], str | None] | None = None,
) -> list[str]:
    """One problem per target whose finding no longer holds (or, `still`, no longer supports
    the change)."""
    ids = [{**t, "workload": wid(t)} for t in targets]
    return stale_findings(ctx, ids, "workload", still=still)


def guard(ctx: ToolContext, w: Workload) -> str | None:
    """Why the workload is protected (label or annotation), or None."""
    return protected(w.marks, settings(ctx.config), PROTECT_KEYS, "label/annotation")


def moved(ctx: ToolContext, t: Mapping[str, Any], w: Workload | None) -> str | None:
    """Why the workload a proposal saw is gone or now protected, or None."""
    if w is None:
        return f"{wid(t)} no longer exists"
    return drifted(wid(t), guard(ctx, w))


def connection(ctx: ToolContext, t: Mapping[str, Any]) -> Conn:
    """A client for one target's cluster / context (use as a context manager)."""
    return k8s_api.connect(t.get("cluster"), t.get("context"), ctx.config, settings_for(ctx))


def grouped(
    ctx: ToolContext, targets: Iterable[Mapping[str, Any]]
) -> Iterator[tuple[Conn, list[Mapping[str, Any]]]]:
    """Targets by cluster connection (one client per cluster / context)."""
    groups: dict[tuple[str | None, str | None], list[Mapping[str, Any]]] = defaultdict(list)
    for t in targets:
        groups[(t.get("cluster"), t.get("context"))].append(t)
    for _key, group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        with connection(ctx, group[0]) as conn:
            yield conn, group
