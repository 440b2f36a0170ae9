"""AWS inventory of one region: EC2 instances, EBS volumes, Elastic IPs, RDS instances and
Elastic Load Balancing v2 load balancers, as `resources` rows.

`resource_id` is what the Cost and Usage Report writes in `line_item_resource_id` (FOCUS
`ResourceId`) for the resource, so the inventory joins the bills:

| kind | resource_id | example |
|---|---|---|
| ec2_instance | instance id | `i-0ed9420a261b3f355` |
| ebs_volume | volume id | `vol-026837028d27a431d` |
| rds_instance | DB instance ARN | `arn:aws:rds:us-east-1:836060457634:db:prod` |
| load_balancer | load balancer ARN | `arn:aws:elasticloadbalancing:…:loadbalancer/app/web/50dc…` |
| elastic_ip | allocation id | `eipalloc-0a1b2c3d4e5f67890` |

An Elastic IP's address is in `properties.public_ip` (bills that carry the address, or no id, for
idle-address charges can be matched through it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warehouse.inventory.aws_calls import AwsCaller
from warehouse.inventory.models import Resource, naive_utc

__all__ = ["addresses", "db_instances", "instances", "load_balancers", "volumes"]

_PROVIDER = "aws"
_TAG_BATCH = 20


def _tags(items: Sequence[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or [] if "Key" in t}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != []}


def _instance(i: dict[str, Any], region: str, owner: str) -> Resource:
    tags = _tags(i.get("Tags"))
    cpu = i.get("CpuOptions") or {}
    vcpus = cpu["CoreCount"] * cpu.get("ThreadsPerCore", 1) if "CoreCount" in cpu else None
    placement = i.get("Placement") or {}
    props = _drop_none(
        {
            "availability_zone": placement.get("AvailabilityZone"),
            "tenancy": placement.get("Tenancy"),
            "lifecycle": i.get("InstanceLifecycle") or "on-demand",
            "platform": i.get("PlatformDetails") or i.get("Platform"),
            "architecture": i.get("Architecture"),
            "vcpus": vcpus,
            "image_id": i.get("ImageId"),
            "vpc_id": i.get("VpcId"),
            "subnet_id": i.get("SubnetId"),
            "private_ip": i.get("PrivateIpAddress"),
            "public_ip": i.get("PublicIpAddress"),
            "monitoring": (i.get("Monitoring") or {}).get("State"),
            "state_reason": (i.get("StateReason") or {}).get("Message"),
            "volumes": [
                m["Ebs"]["VolumeId"]
                for m in i.get("BlockDeviceMappings", [])
                if "VolumeId" in (m.get("Ebs") or {})
            ],
        }
    )
    return Resource(
        _PROVIDER,
        str(i["InstanceId"]),
        "ec2_instance",
        "ec2:DescribeInstances",
        region=region,
        account_id=owner,
        name=tags.get("Name"),
        state=(i.get("State") or {}).get("Name"),
        instance_type=i.get("InstanceType"),
        tags=tags,
        properties=props,
        launched_at=naive_utc(i.get("LaunchTime")),
    )


def instances(caller: AwsCaller, ec2: Any, region: str, account: str) -> list[Resource]:
    """`ec2:DescribeInstances`, every page."""
    return [
        _instance(i, region, str(reservation.get("OwnerId") or account))
        for page in caller.pages(ec2, "describe_instances")
        for reservation in page.get("Reservations", [])
        for i in reservation.get("Instances", [])
    ]


def volumes(caller: AwsCaller, ec2: Any, region: str, account: str) -> list[Resource]:
    """`ec2:DescribeVolumes`, every page; `attached` when an attachment is attached/attaching."""
    out = []
    for page in caller.pages(ec2, "describe_volumes"):
        for v in page.get("Volumes", []):
            tags = _tags(v.get("Tags"))
            attachments = [
                _drop_none(
                    {
                        "instance_id": a.get("InstanceId"),
                        "device": a.get("Device"),
                        "state": a.get("State"),
                        "delete_on_termination": a.get("DeleteOnTermination"),
                    }
                )
                for a in v.get("Attachments", [])
            ]
            attached = any(a.get("state") in ("attached", "attaching") for a in attachments)
            props = _drop_none(
                {
                    "volume_type": v.get("VolumeType"),
                    "size_gib": v.get("Size"),
                    "iops": v.get("Iops"),
                    "throughput": v.get("Throughput"),
                    "availability_zone": v.get("AvailabilityZone"),
                    "encrypted": v.get("Encrypted"),
                    "snapshot_id": v.get("SnapshotId") or None,
                    "multi_attach": v.get("MultiAttachEnabled"),
                    "attachments": attachments,
                }
            )
            out.append(
                Resource(
                    _PROVIDER,
                    str(v["VolumeId"]),
                    "ebs_volume",
                    "ec2:DescribeVolumes",
                    region=region,
                    account_id=account,
                    name=tags.get("Name"),
                    state=v.get("State"),
                    attached=attached,
                    tags=tags,
                    properties=props,
                    launched_at=naive_utc(v.get("CreateTime")),
                )
            )
    return out


def addresses(caller: AwsCaller, ec2: Any, region: str, account: str) -> list[Resource]:
    """`ec2:DescribeAddresses` (one call: the API is not paginated); `attached` when associated."""
    out = []
    for a in caller.call(ec2, "describe_addresses").get("Addresses", []):
        tags = _tags(a.get("Tags"))
        associated = bool(a.get("AssociationId") or a.get("InstanceId"))
        out.append(
            Resource(
                _PROVIDER,
                str(a.get("AllocationId") or a["PublicIp"]),
                "elastic_ip",
                "ec2:DescribeAddresses",
                region=region,
                account_id=account,
                name=tags.get("Name"),
                state="associated" if associated else "unassociated",
                attached=associated,
                tags=tags,
                properties=_drop_none(
                    {
                        "public_ip": a.get("PublicIp"),
                        "association_id": a.get("AssociationId"),
                        "instance_id": a.get("InstanceId"),
                        "network_interface_id": a.get("NetworkInterfaceId"),
                        "private_ip": a.get("PrivateIpAddress"),
                        "domain": a.get("Domain"),
                        "network_border_group": a.get("NetworkBorderGroup"),
                    }
                ),
            )
        )
    return out


def db_instances(caller: AwsCaller, rds: Any, region: str, account: str) -> list[Resource]:
    """`rds:DescribeDBInstances`, every page (tags come in `TagList`)."""
    out = []
    for page in caller.pages(rds, "describe_db_instances"):
        for d in page.get("DBInstances", []):
            arn = str(d["DBInstanceArn"])
            parts = arn.split(":")
            out.append(
                Resource(
                    _PROVIDER,
                    arn,
                    "rds_instance",
                    "rds:DescribeDBInstances",
                    region=region,
                    account_id=parts[4] if len(parts) > 4 and parts[4] else account,
                    name=d.get("DBInstanceIdentifier"),
                    state=d.get("DBInstanceStatus"),
                    instance_type=d.get("DBInstanceClass"),
                    tags=_tags(d.get("TagList")),
                    properties=_drop_none(
                        {
                            "identifier": d.get("DBInstanceIdentifier"),
                            "engine": d.get("Engine"),
                            "engine_version": d.get("EngineVersion"),
                            "multi_az": d.get("MultiAZ"),
                            "storage_type": d.get("StorageType"),
                            "allocated_storage_gib": d.get("AllocatedStorage"),
                            "iops": d.get("Iops"),
                            "availability_zone": d.get("AvailabilityZone"),
                            "db_cluster": d.get("DBClusterIdentifier"),
                            "dbi_resource_id": d.get("DbiResourceId"),
                            "license_model": d.get("LicenseModel"),
                        }
                    ),
                    launched_at=naive_utc(d.get("InstanceCreateTime")),
                )
            )
    return out


def _targets(caller: AwsCaller, elb: Any) -> dict[str, list[dict[str, Any]]]:
    """Load balancer ARN → its target groups with registered / healthy target counts."""
    by_lb: dict[str, list[dict[str, Any]]] = {}
    for page in caller.pages(elb, "describe_target_groups"):
        for tg in page.get("TargetGroups", []):
            arns = tg.get("LoadBalancerArns") or []
            if not arns:
                continue
            health = caller.call(elb, "describe_target_health", TargetGroupArn=tg["TargetGroupArn"])
            states = [
                (d.get("TargetHealth") or {}).get("State")
                for d in health.get("TargetHealthDescriptions", [])
            ]
            entry = {
                "name": tg.get("TargetGroupName"),
                "arn": tg["TargetGroupArn"],
                "targets": len(states),
                "healthy": sum(1 for s in states if s == "healthy"),
            }
            for lb in arns:
                by_lb.setdefault(str(lb), []).append(entry)
    return by_lb


def _load_balancer(
    lb: dict[str, Any],
    tags: dict[str, str],
    groups: list[dict[str, Any]],
    region: str,
    account: str,
) -> Resource:
    arn = str(lb["LoadBalancerArn"])
    registered = sum(int(t["targets"]) for t in groups)
    parts = arn.split(":")
    return Resource(
        _PROVIDER,
        arn,
        "load_balancer",
        "elasticloadbalancing:DescribeLoadBalancers",
        region=region,
        account_id=parts[4] if len(parts) > 4 and parts[4] else account,
        name=lb.get("LoadBalancerName"),
        state=(lb.get("State") or {}).get("Code"),
        attached=registered > 0,
        tags=tags,
        properties=_drop_none(
            {
                "type": lb.get("Type"),
                "scheme": lb.get("Scheme"),
                "dns_name": lb.get("DNSName"),
                "vpc_id": lb.get("VpcId"),
                "ip_address_type": lb.get("IpAddressType"),
                "availability_zones": [z.get("ZoneName") for z in lb.get("AvailabilityZones", [])],
                "target_groups": groups,
                "registered_targets": registered,
            }
        ),
        launched_at=naive_utc(lb.get("CreatedTime")),
    )


def load_balancers(caller: AwsCaller, elb: Any, region: str, account: str) -> list[Resource]:
    """`elasticloadbalancing:DescribeLoadBalancers` (every page), `DescribeTags` (20 ARNs a
    call), `DescribeTargetGroups` and `DescribeTargetHealth`; `attached` when any target is
    registered."""
    lbs = [
        lb
        for page in caller.pages(elb, "describe_load_balancers")
        for lb in page.get("LoadBalancers", [])
    ]
    arns = [str(lb["LoadBalancerArn"]) for lb in lbs]
    tags: dict[str, dict[str, str]] = {}
    for i in range(0, len(arns), _TAG_BATCH):
        described = caller.call(elb, "describe_tags", ResourceArns=arns[i : i + _TAG_BATCH])
        for d in described.get("TagDescriptions", []):
            tags[str(d["ResourceArn"])] = _tags(d.get("Tags"))
    groups = _targets(caller, elb) if lbs else {}
    return [
        _load_balancer(lb, tags.get(arn, {}), groups.get(arn, []), region, account)
        for lb, arn in zip(lbs, arns, strict=True)
    ]
