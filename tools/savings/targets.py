"""Which resources an executed proposal changed, what it estimated for each, who owns each, and
whether (and when) it was rolled back — read from the approvals ledger only.

An action's module may declare exactly how its parameters name resources (`register_resources`);
otherwise the generic reading applies: the items of `params.instances`, `volumes`,
`db_instances`, `workloads`, `deployments`, `containers`, `resources` or `targets` (or `params`
itself), each named by `resource_id`, `instance_id`, `volume_id`, `db_instance_id` /
`db_instance_identifier`, or `cluster`/`namespace`/`kind`/`name` (the billed Kubernetes ResourceId
`cluster/namespace/kind/name`). When the result lists what `changed`, only those resources count
(failed ones changed nothing); a dry run changed nothing at all.

Per-resource estimate: the item's own `saving` when it has one; the rest of the proposal's
`expected_monthly_saving` is split evenly over the items without one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from guardrails.approvals import Ledger, Proposal
from tools.actions.rollback import ROLLBACK
from tools.savings.measure import Target

__all__ = [
    "SAVING_ACTIONS",
    "ResourceItem",
    "ResourceReader",
    "executed_targets",
    "register_resources",
    "resource_items",
]

SAVING_ACTIONS: frozenset[str] = frozenset(
    {
        "stop_ec2_instances",
        "resize_ec2_instance",
        "scale_deployment_to_zero",
        "stop_rds_instance",
        "delete_ebs_volume",
        "patch_container_requests",
    }
)
"""Action types whose execution is meant to lower a resource's bills (besides any other action
registered with `register_resources`, or any with a positive expected saving)."""

ResourceItem = dict[str, Any]
"""A proposal's description of one resource: at least `resource_id`; optional `saving`, `owner`."""

ResourceReader = Callable[[Proposal], list[ResourceItem]]

_READERS: dict[str, ResourceReader] = {}
_LIST_KEYS = (
    "instances",
    "volumes",
    "db_instances",
    "workloads",
    "deployments",
    "containers",
    "resources",
    "targets",
)
_ID_KEYS = (
    "resource_id",
    "arn",
    "instance_id",
    "volume_id",
    "db_instance_id",
    "db_instance_identifier",
)


def register_resources(action: str, reader: ResourceReader) -> None:
    """Declare how a proposal of `action` names the resources it changes (one reader per type)."""
    if action in _READERS:
        raise ValueError(f"a resource reader for {action} is registered twice")
    _READERS[action] = reader


def _item_ids(item: Mapping[str, Any]) -> list[str]:
    """Every id an item gives, the billed one first (an RDS ARN before the instance name)."""
    ids = [str(item[k]) for k in _ID_KEYS if item.get(k)]
    parts = [item.get(k) for k in ("cluster", "namespace", "kind", "name")]
    if all(parts):
        cluster, namespace, kind, name = (str(p) for p in parts)
        ids.append(f"{cluster}/{namespace}/{kind.lower()}/{name}")
    return list(dict.fromkeys(ids))


def _item_id(item: Mapping[str, Any]) -> str | None:
    ids = _item_ids(item)
    return ids[0] if ids else None


def _generic(params: Mapping[str, Any]) -> list[ResourceItem]:
    items: list[ResourceItem] = []
    for key in _LIST_KEYS:
        for item in params.get(key) or ():
            rid = _item_id(item) if isinstance(item, Mapping) else None
            if rid:
                items.append({**item, "resource_id": rid, "aliases": _item_ids(item)[1:]})
    top = _item_ids(params)
    if not items and top:
        items.append({**params, "resource_id": top[0], "aliases": top[1:]})
    return items


def resource_items(proposal: Proposal) -> list[ResourceItem]:
    """The resources `proposal` names (registered reader, else the generic reading), unique."""
    reader = _READERS.get(proposal.action)
    found = reader(proposal) if reader is not None else _generic(proposal.params)
    unique: dict[str, ResourceItem] = {}
    for item in found:
        unique.setdefault(str(item["resource_id"]), item)
    return list(unique.values())


def _changed(proposal: Proposal, items: list[ResourceItem]) -> list[ResourceItem]:
    result = proposal.result or {}
    if result.get("dry_run"):
        return []
    changed = result.get("changed")
    if not isinstance(changed, list):
        return items
    ids = {i for c in changed if isinstance(c, Mapping) for i in _item_ids(c)}
    return [i for i in items if ids & {i["resource_id"], *i.get("aliases", ())}]


def _estimates(proposal: Proposal, items: Sequence[ResourceItem]) -> list[Decimal]:
    own = [Decimal(str(i["saving"])) if i.get("saving") not in (None, "") else None for i in items]
    rest = proposal.expected_monthly_saving - sum((o for o in own if o is not None), Decimal(0))
    without = sum(1 for o in own if o is None)
    share = (max(rest, Decimal(0)) / without).quantize(Decimal("0.01")) if without else Decimal(0)
    return [share if o is None else o for o in own]


def _evidence_owner(proposal: Proposal, rid: str) -> str | None:
    for values in proposal.evidence.values():
        for entry in values if isinstance(values, list) else ():
            if not isinstance(entry, Mapping) or rid not in _item_ids(entry):
                continue
            finding = entry.get("finding")
            owner = entry.get("owner") or (
                finding.get("owner") if isinstance(finding, Mapping) else None
            )
            if owner:
                return str(owner)
    return None


def _tracked(p: Proposal) -> bool:
    if p.action == ROLLBACK:
        return False
    return p.action in SAVING_ACTIONS or p.action in _READERS or p.expected_monthly_saving > 0


def _rollbacks(done: Sequence[Proposal]) -> dict[str, list[tuple[datetime, str, set[str]]]]:
    """Original proposal id → (rollback time, rollback id, resource ids it reversed; empty: all)."""
    out: dict[str, list[tuple[datetime, str, set[str]]]] = {}
    for p in done:
        original = p.params.get("rollback_of") if p.action == ROLLBACK else None
        when = p.finished_at or p.started_at
        if original and when is not None and not (p.result or {}).get("dry_run"):
            ids = {str(x) for i in _generic(p.params) for x in (i["resource_id"], *i["aliases"])}
            out.setdefault(str(original), []).append((when, p.id, ids))
    return out


def _rollback_of(
    names: set[str], found: Sequence[tuple[datetime, str, set[str]]]
) -> tuple[datetime | None, str | None]:
    hits = sorted((when, pid) for when, pid, ids in found if not ids or names & ids)
    return hits[0] if hits else (None, None)


def executed_targets(ledger: Ledger) -> list[Target]:
    """One target per (executed saving proposal, resource it changed), oldest first."""
    done = ledger.proposals("done")
    rollbacks = _rollbacks(done)
    targets: list[Target] = []
    for p in sorted(done, key=lambda x: (x.finished_at or x.created_at, x.id)):
        executed = p.finished_at or p.started_at
        if not _tracked(p) or executed is None:
            continue
        items = resource_items(p)
        ids = [str(i["resource_id"]) for i in items]
        estimates = dict(zip(ids, _estimates(p, items), strict=True))
        for item in _changed(p, items):
            rid = str(item["resource_id"])
            names = {rid, *(str(a) for a in item.get("aliases", ()))}
            when, rollback_id = _rollback_of(names, rollbacks.get(p.id, ()))
            owner = p.owner or item.get("owner") or _evidence_owner(p, rid)
            targets.append(
                Target(
                    proposal_id=p.id,
                    resource_id=rid,
                    aliases=tuple(sorted(names - {rid})),
                    action=p.action,
                    executed_at=executed,
                    estimated_monthly=estimates[rid],
                    currency=p.currency,
                    owner=str(owner) if owner else None,
                    rolled_back_at=when,
                    rollback_id=rollback_id,
                )
            )
    return targets
