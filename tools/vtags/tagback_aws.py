"""AWS: address billed resources by ARN and tag them through the Resource Groups Tagging API.

ARNs. A FOCUS / CUR `ResourceId` that is already an ARN is used as it is (any service the tagging
API supports: RDS, Lambda, DynamoDB, ELB, …). A plain id is turned into an ARN for these types,
with the row's `RegionId` (else the configured region) and `SubAccountId` (12 digits):

| ResourceId | ARN |
|---|---|
| `i-…` EC2 instance | `arn:aws:ec2:{region}:{account}:instance/{id}` |
| `vol-…` EBS volume | `arn:aws:ec2:{region}:{account}:volume/{id}` |
| `snap-…` EBS snapshot | `arn:aws:ec2:{region}:{account}:snapshot/{id}` |
| `nat-…` NAT gateway | `arn:aws:ec2:{region}:{account}:natgateway/{id}` |
| `eipalloc-…` Elastic IP | `arn:aws:ec2:{region}:{account}:elastic-ip/{id}` |
| bucket name (ServiceName S3 or ResourceType bucket) | `arn:aws:s3:::{name}` |

(`aws-cn` / `aws-us-gov` partitions follow the region.) Anything else is skipped with the reason.

Reading. Current tags come from `GetResources` with the ARN list (100 per call). `GetResources`
lists only tagged (or once tagged) resources, so existence is checked separately for the types
above (`ec2:Describe*` with an id filter, treating terminated / deleted as gone; `s3:HeadBucket`);
for other ARNs a missing resource shows up as a per-resource failure of `TagResources`.

Writing. `TagResources` / `UntagResources` per region and value, 20 ARNs per call; each call's
`FailedResourcesMap` is reported per resource. Calls go to `AWS_ENDPOINT_URL` when set.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tools.vtags.tagback_models import Candidate, Live, Skip, TagBackError
from warehouse.cloud import CloudSettings, aws_client
from warehouse.errors import QueryError

__all__ = ["AWS", "AwsBackend", "arn_for"]

_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
_S3_SERVICES = {"amazon simple storage service", "amazons3", "amazon s3", "s3"}
_BATCH = 20
_READ_BATCH = 100


@dataclass(frozen=True)
class _Ec2Type:
    arn_type: str
    operation: str
    filter_param: str
    filter_name: str
    items: tuple[str, ...]
    id_field: str
    gone: tuple[str, ...] = ()


_EC2 = {
    "i-": _Ec2Type(
        "instance", "describe_instances", "Filters", "instance-id",
        ("Reservations", "Instances"), "InstanceId", ("shutting-down", "terminated"),
    ),
    "vol-": _Ec2Type(
        "volume", "describe_volumes", "Filters", "volume-id", ("Volumes",), "VolumeId",
        ("deleting", "deleted"),
    ),
    "snap-": _Ec2Type(
        "snapshot", "describe_snapshots", "Filters", "snapshot-id", ("Snapshots",), "SnapshotId"
    ),
    "nat-": _Ec2Type(
        "natgateway", "describe_nat_gateways", "Filter", "nat-gateway-id", ("NatGateways",),
        "NatGatewayId", ("deleting", "deleted"),
    ),
    "eipalloc-": _Ec2Type(
        "elastic-ip", "describe_addresses", "Filters", "allocation-id", ("Addresses",),
        "AllocationId",
    ),
}  # fmt: skip
_EC2_BY_ARN_TYPE = {t.arn_type: t for t in _EC2.values()}
_SUPPORTED = (
    "an ARN, or an EC2 instance (i-), EBS volume (vol-), EBS snapshot (snap-), NAT gateway (nat-), "
    "Elastic IP (eipalloc-) id, or an S3 bucket name"
)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _region(c: Candidate, settings: CloudSettings) -> str | None:
    raw = (c.region or "").strip().lower()
    if raw in ("", "global", "none"):
        return settings.aws_region
    return raw if _REGION.match(raw) else None


def _from_arn(arn: str, c: Candidate, settings: CloudSettings) -> dict[str, Any] | Skip:
    m = _ARN.match(arn)
    assert m is not None
    service, region, rest = m.group(2), m.group(3), m.group(5)
    kind = "arn"
    arn_type, _, ident = rest.partition("/")
    if service == "ec2" and arn_type in _EC2_BY_ARN_TYPE and ident:
        kind = f"ec2:{arn_type}"
    elif service == "s3" and "/" not in rest:
        kind = "s3:bucket"
    home = region or _region(c, settings)
    if home is None:
        return Skip(resource=c.resource_id, reason=f"RegionId {c.region!r} is not an AWS region")
    return {"resource_id": c.resource_id, "arn": arn, "region": home, "kind": kind}


def arn_for(c: Candidate, settings: CloudSettings) -> dict[str, Any] | Skip:
    """The AWS target of a billed resource: ARN, region for the API calls, kind; or a Skip."""
    rid = c.resource_id.strip()
    if rid.startswith("arn:"):
        if not _ARN.match(rid):
            return Skip(resource=rid, reason="ResourceId looks like an ARN but is malformed")
        return _from_arn(rid, c, settings)
    region = _region(c, settings)
    if region is None:
        return Skip(resource=rid, reason=f"RegionId {c.region!r} is not an AWS region")
    part = _partition(region)
    prefix = next((p for p in _EC2 if rid.startswith(p)), None)
    if prefix is not None and re.fullmatch(re.escape(prefix) + r"[0-9a-f]{8,17}", rid):
        if not _ACCOUNT.match(c.account or ""):
            return Skip(resource=rid, reason="no 12-digit account id (SubAccountId) for its ARN")
        t = _EC2[prefix]
        arn = f"arn:{part}:ec2:{region}:{c.account}:{t.arn_type}/{rid}"
        return {"resource_id": rid, "arn": arn, "region": region, "kind": f"ec2:{t.arn_type}"}
    s3 = (c.service or "").lower() in _S3_SERVICES or (c.resource_type or "").lower() == "bucket"
    if s3 and _BUCKET.match(rid):
        arn = f"arn:{part}:s3:::{rid}"
        return {"resource_id": rid, "arn": arn, "region": region, "kind": "s3:bucket"}
    return Skip(resource=rid, reason=f"not a taggable AWS id: expected {_SUPPORTED}")


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _walk(node: Any, path: tuple[str, ...]) -> Iterable[Mapping[str, Any]]:
    if not path:
        yield node
        return
    for child in node.get(path[0]) or []:
        yield from _walk(child, path[1:])


def _state(item: Mapping[str, Any]) -> str | None:
    state = item.get("State")
    return state.get("Name") if isinstance(state, Mapping) else state


def _ec2_gone(ec2: Any, kind: str, targets: Sequence[Mapping[str, Any]]) -> set[str]:
    t = _EC2_BY_ARN_TYPE[kind.split(":", 1)[1]]
    ids = {str(x["arn"]).rsplit("/", 1)[-1]: str(x["arn"]) for x in targets}
    alive: set[str] = set()
    for chunk in _chunks(sorted(ids), 50):
        resp = getattr(ec2, t.operation)(
            **{t.filter_param: [{"Name": t.filter_name, "Values": chunk}]}
        )
        for item in _walk(resp, t.items):
            if _state(item) not in t.gone:
                alive.add(str(item.get(t.id_field)))
    return {arn for ident, arn in ids.items() if ident not in alive}


def _s3_gone(s3: Any, targets: Sequence[Mapping[str, Any]]) -> set[str]:
    gone = set()
    for t in targets:
        try:
            s3.head_bucket(Bucket=str(t["arn"]).rsplit(":", 1)[-1])
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                gone.add(str(t["arn"]))
            elif code not in ("403", "AccessDenied"):
                raise
    return gone


def _tags(tagging: Any, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for chunk in _chunks(list(arns), _READ_BATCH):
        token = ""
        while True:
            kwargs: dict[str, Any] = {"ResourceARNList": list(chunk)}
            if token:
                kwargs["PaginationToken"] = token
            resp = tagging.get_resources(**kwargs)
            for mapping in resp.get("ResourceTagMappingList", []):
                out[mapping["ResourceARN"]] = {t["Key"]: t["Value"] for t in mapping["Tags"]}
            token = resp.get("PaginationToken") or ""
            if not token:
                break
    return out


def _by(targets: Iterable[Mapping[str, Any]], *fields: str) -> dict[tuple[Any, ...], list[Any]]:
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for t in targets:
        groups[tuple(t.get(f) for f in fields)].append(t)
    return dict(sorted(groups.items(), key=lambda kv: repr(kv[0])))


def _read_region(
    region: str, targets: Sequence[Mapping[str, Any]], settings: CloudSettings
) -> Live:
    gone: set[str] = set()
    for (kind,), group in _by(targets, "kind").items():
        if str(kind).startswith("ec2:"):
            gone |= _ec2_gone(aws_client("ec2", region, settings), str(kind), group)
        elif kind == "s3:bucket":
            gone |= _s3_gone(aws_client("s3", region, settings), group)
    arns = [str(t["arn"]) for t in targets if t["arn"] not in gone]
    tags = _tags(aws_client("resourcegroupstaggingapi", region, settings), arns)
    return {
        str(t["arn"]): None if t["arn"] in gone else tags.get(str(t["arn"]), {}) for t in targets
    }


def _error(info: Mapping[str, Any]) -> str:
    code = info.get("ErrorCode") or info.get("StatusCode") or "error"
    return f"{code}: {info.get('ErrorMessage') or 'no message'}"


def _call(tagging: Any, key: str, value: str | None, arns: list[str]) -> dict[str, str]:
    """One TagResources / UntagResources call; failures by ARN."""
    try:
        if value is None:
            resp = tagging.untag_resources(ResourceARNList=arns, TagKeys=[key])
        else:
            resp = tagging.tag_resources(ResourceARNList=arns, Tags={key: value})
    except (BotoCoreError, ClientError) as exc:
        return dict.fromkeys(arns, f"{type(exc).__name__}: {exc}")
    failed = resp.get("FailedResourcesMap") or {}
    return {arn: _error(info) for arn, info in failed.items()}


class AwsBackend:
    """Tags on AWS resources through the Resource Groups Tagging API."""

    provider: str = "AWS"
    permissions: tuple[str, ...] = (
        "tag:GetResources",
        "tag:TagResources",
        "tag:UntagResources",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeNatGateways",
        "ec2:DescribeAddresses",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "s3:ListBucket",
        "s3:GetBucketTagging",
        "s3:PutBucketTagging",
    )

    def check_key(self, key: str) -> None:
        if not 1 <= len(key) <= 128 or not _TAG_TEXT.match(key):
            raise QueryError(
                f"tag key {key!r} is not a valid AWS tag key: 1-128 letters, digits, spaces "
                "and _ . : / = + - @"
            )
        if key.lower().startswith("aws:"):
            raise QueryError(f"tag key {key!r}: the aws: prefix is reserved by AWS")

    def value_problem(self, value: str) -> str | None:
        if len(value) > 256 or not _TAG_TEXT.match(value):
            return (
                f"value {value!r} is not a valid AWS tag value (at most 256 letters, digits, "
                "spaces and _ . : / = + - @)"
            )
        return None

    def target(self, c: Candidate, settings: CloudSettings) -> dict[str, Any] | Skip:
        return arn_for(c, settings)

    def ref(self, target: Mapping[str, Any]) -> str:
        return str(target["arn"])

    def read(self, targets: Sequence[Mapping[str, Any]], settings: CloudSettings) -> Live:
        out: dict[str, dict[str, str] | None] = {}
        for (region,), group in _by(targets, "region").items():
            try:
                out.update(_read_region(str(region), group, settings))
            except (BotoCoreError, ClientError) as exc:
                raise TagBackError(f"AWS {region}: could not read current tags: {exc}") from None
        return out

    def apply(
        self, key: str, targets: Sequence[Mapping[str, Any]], settings: CloudSettings
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        changed: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for (region, value), group in _by(targets, "region", "value").items():
            try:
                tagging = aws_client("resourcegroupstaggingapi", str(region), settings)
            except BotoCoreError as exc:
                failed.extend({"resource": t["arn"], "error": str(exc)} for t in group)
                continue
            for chunk in _chunks(group, _BATCH):
                errors = _call(tagging, key, value, [str(t["arn"]) for t in chunk])
                for t in chunk:
                    if t["arn"] in errors:
                        failed.append({"resource": t["arn"], "error": errors[t["arn"]]})
                    else:
                        changed.append(dict(t))
        return changed, failed


AWS = AwsBackend()
