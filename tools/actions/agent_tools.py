"""The agent's optimization-action tools: each only proposes (a `ProposalDraft` recorded in the
approvals ledger); the action of the same name (`tools.actions.ec2`, `rds`, `ebs`, `k8s`,
`k8s_requests`, `rollback`, on the base of `tools.actions.base`) re-validates and executes it
once after a human approves.
"""

from __future__ import annotations

from guardrails.approvals import ProposalDraft
from tools.actions import ebs, ec2, k8s, k8s_requests, rds, rollback
from tools.actions.ebs import VolumesArgs
from tools.actions.ec2 import InstancesArgs, ResizeArgs, StartArgs
from tools.actions.k8s import ScaleBackArgs, ScaleToZeroArgs
from tools.actions.k8s_common import PERMISSIONS as K8S_PERMISSIONS
from tools.actions.k8s_requests import RequestsArgs
from tools.actions.rds import RdsStartArgs, RdsStopArgs
from tools.actions.rollback import RollbackActionArgs, propose_rollback
from tools.context import ToolContext
from tools.registry import REGISTRY

__all__ = [
    "delete_ebs_volume",
    "patch_container_requests",
    "resize_ec2_instance",
    "rollback_action",
    "scale_deployment_back",
    "scale_deployment_to_zero",
    "start_ec2_instances",
    "start_rds_instance",
    "stop_ec2_instances",
    "stop_rds_instance",
]


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=rollback.PERMISSIONS[rollback.ROLLBACK],
    example={"proposal_id": "p-1a2b3c4d5e6f"},
)
def rollback_action(ctx: ToolContext, args: RollbackActionArgs) -> ProposalDraft:
    """Propose the exact reverse of an executed action (start what a stop stopped, resize back,
    scale a deployment back to its recorded replicas, ...), only on what it changed. Runs only
    after approval, and refuses if a target changed since. Example:
    {"proposal_id": "p-1a2b3c4d5e6f"}.
    """
    return propose_rollback(ctx, ctx.ledger.get(args.proposal_id))


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=ebs.PERMISSIONS,
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def delete_ebs_volume(ctx: ToolContext, args: VolumesArgs) -> ProposalDraft:
    """Propose deleting unattached EBS volumes, each snapshotted first (nothing changes until
    humans approve; two approvers by default). Give ebs_unattached finding ids from
    optimization_findings, or volume ids. Attached (in-use) and protected (finops:protected=true)
    volumes are refused. Example: {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"volume_ids":
    ["vol-0abc1234def567890"], "region": "us-east-1"}. Returns the proposal id; tell the user
    it awaits approval and that a restore from the snapshot is possible.
    """
    return ebs.VOLUMES.propose(ctx, ebs.DELETE, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=ec2.PERMISSIONS[ec2.STOP],
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def stop_ec2_instances(ctx: ToolContext, args: InstancesArgs) -> ProposalDraft:
    """Propose stopping idle EC2 instances (nothing changes until a human approves). Give idle
    finding ids from optimization_findings, or instance ids. Protected instances
    (finops:protected=true) and ones not running are refused. Example:
    {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"instance_ids": ["i-0abc..."], "region":
    "us-east-1"}. Returns the proposal id; tell the user it awaits approval.
    """
    return ec2.INSTANCES.propose(ctx, ec2.STOP, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=ec2.PERMISSIONS[ec2.START],
    example={"instance_ids": ["i-0abc1234def567890"], "region": "us-east-1"},
)
def start_ec2_instances(ctx: ToolContext, args: StartArgs) -> ProposalDraft:
    """Propose starting stopped EC2 instances (after a human approves). Example:
    {"instance_ids": ["i-0abc1234def567890"], "region": "us-east-1"}.
    """
    return ec2.INSTANCES.propose(ctx, ec2.START, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=ec2.PERMISSIONS[ec2.RESIZE],
    example={"finding_id": "opt-1a2b3c4d5e6f"},
)
def resize_ec2_instance(ctx: ToolContext, args: ResizeArgs) -> ProposalDraft:
    """Propose resizing one EC2 instance (stop, change type, start) after a human approves.
    Give a rightsizing finding id, or instance_id and the new instance_type. Example:
    {"finding_id": "opt-1a2b3c4d5e6f"}.
    """
    return ec2.INSTANCES.propose(ctx, ec2.RESIZE, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=K8S_PERMISSIONS,
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
    return k8s.WORKLOADS.propose(ctx, k8s.SCALE_ZERO, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=K8S_PERMISSIONS,
    example={"cluster": "prod-eu", "namespace": "search", "name": "ranker"},
)
def scale_deployment_back(ctx: ToolContext, args: ScaleBackArgs) -> ProposalDraft:
    """Propose scaling a Deployment / StatefulSet at 0 replicas back to the count recorded in its
    finops.io/previous-replicas annotation (or `replicas`), after a human approves. To undo an
    executed scale_deployment_to_zero proposal prefer rollback_action with its id. Example:
    {"cluster": "prod-eu", "namespace": "search", "name": "ranker"}.
    """
    return k8s.WORKLOADS.propose(ctx, k8s.SCALE_BACK, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=K8S_PERMISSIONS,
    example={"finding_id": "opt-1a2b3c4d5e6f"},
)
def patch_container_requests(ctx: ToolContext, args: RequestsArgs) -> ProposalDraft:
    """Propose setting a Kubernetes container's CPU / memory requests (rightsizing; the pods
    roll), after a human approves. Give a k8s_requests finding id from optimization_findings, or
    cluster (as in the bills) or context, namespace, name, container and cpu and/or memory.
    Example: {"finding_id": "opt-1a2b3c4d5e6f"} or {"cluster": "prod-eu", "namespace": "shop",
    "name": "api", "container": "app", "cpu": "250m", "memory": "512Mi"}.
    """
    return k8s_requests.REQUESTS.propose(ctx, k8s_requests.PATCH_REQUESTS, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=rds.PERMISSIONS[rds.STOP],
    example={"finding_ids": ["opt-1a2b3c4d5e6f"]},
)
def stop_rds_instance(ctx: ToolContext, args: RdsStopArgs) -> ProposalDraft:
    """Propose stopping idle RDS DB instances (nothing changes until a human approves). Give
    rds_idle finding ids from optimization_findings, or DB instance identifiers / ARNs. Refused:
    protected (finops:protected=true), not `available`, read replicas and their sources, Aurora
    members, Multi-AZ SQL Server. RDS has no dry run: the instance is described and checked
    instead. AWS restarts a stopped DB instance after 7 days. Example:
    {"finding_ids": ["opt-1a2b3c4d5e6f"]} or {"db_instance_ids": ["reports-db"], "region":
    "us-east-1"}. Returns the proposal id; tell the user it awaits approval.
    """
    return rds.DB_INSTANCES.propose(ctx, rds.STOP, args)


@REGISTRY.tool(
    effect="write",
    reversible=True,
    permissions=rds.PERMISSIONS[rds.START],
    example={"db_instance_ids": ["reports-db"], "region": "us-east-1"},
)
def start_rds_instance(ctx: ToolContext, args: RdsStartArgs) -> ProposalDraft:
    """Propose starting stopped RDS DB instances (after a human approves). Example:
    {"db_instance_ids": ["reports-db"], "region": "us-east-1"}.
    """
    return rds.DB_INSTANCES.propose(ctx, rds.START, args)
