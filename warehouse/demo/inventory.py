"""The catalog's tables turned into billed series: one per resource × SKU, in a fixed order.

Each `Series` knows its provider, account, FOCUS service triple, SKU, units and unit price, how
its daily quantity moves (schedule, noise, weekend dip, growth), its tags, its true team and how
an allocator could find that team when no ownership tag is present (`inferable_from`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from warehouse.demo.catalog import (
    ACCOUNTS,
    AZURE_STORAGE,
    BUCKETS,
    CONTROLLERS,
    FUNCTIONS,
    INTER_AZ_GB,
    OWNERSHIP_TAG_KEYS,
    PROVIDERS,
    RDS,
    VMS,
    WAREHOUSES,
    Provider,
    Tag,
    rows,
    tag,
)

__all__ = ["Series", "cloud_series"]

_EC2 = ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines")
_RDS = ("Amazon Relational Database Service", "Databases", "Relational Databases")
_S3 = ("Amazon Simple Storage Service", "Storage", "Object Storage")
_LAMBDA = ("AWS Lambda", "Compute", "Serverless Compute")
_DT = ("AWS Data Transfer", "Networking", "Network Connectivity")
_AZ_VM = ("Virtual Machines", "Compute", "Virtual Machines")
_AZ_ST = ("Storage Accounts", "Storage", "Storage Platforms")
_AZ_SQL = ("Azure SQL Database", "Databases", "Relational Databases")
_GCE = ("Compute Engine", "Compute", "Virtual Machines")
_BQ = ("BigQuery", "Analytics", "Data Processing")
_GCS = ("Cloud Storage", "Storage", "Object Storage")
_SF_WH = ("Snowflake Warehouses", "Databases", "Data Warehouses")
_SF_ST = ("Snowflake Storage", "Storage", "Storage Platforms")
_K8S = ("Kubernetes", "Compute", "Containers")


@dataclass(frozen=True)
class Series:
    """One billed line (resource × SKU) and how its daily quantity moves."""

    key: str
    account: str
    service: tuple[str, str, str]
    sku: tuple[str, str]
    units: tuple[str, str]
    price: Decimal
    base: float
    resource: tuple[str, str, str] | None = None
    tags: dict[str, str] | None = None
    schedule: str = "flat"
    """flat (every day the same), auto (12–24 h a day) or biz (weekdays only)."""
    noise: float = 0.0
    weekend: float = 1.0
    growth: float = 0.0
    pricing_category: str = "Standard"
    util: str | None = None
    """normal, idle, oversized_cpu or oversized_mem: the hourly utilization profile written."""
    team_override: str | None = None
    namespace: bool = False

    @property
    def provider(self) -> Provider:
        return PROVIDERS[self.account.split(":")[0]]

    @property
    def team(self) -> str:
        return self.team_override or ACCOUNTS[self.account][2]

    @property
    def inferable_from(self) -> str:
        """How an allocator can find the owner: tag, resource_name, namespace or account."""
        if self.tags and set(self.tags) & set(OWNERSHIP_TAG_KEYS):
            return "tag"
        token = {"ml-platform": "ml"}.get(self.team, self.team)
        name = (self.resource[1] if self.resource else "").lower().replace("_", "-")
        if token in name.split("-"):
            return "resource_name"
        return "namespace" if self.namespace else "account"


def _tags(owner: Tag, **extra: str) -> dict[str, str] | None:
    out = dict(extra)
    if owner:
        out[owner[0]] = owner[1]
    return out or None


def _vm(acct: str, name: str, size: str, price: str, sched: str, owner: str, util: str) -> Series:
    provider, sub = acct.split(":")[0], ACCOUNTS[acct][0]
    if provider == "aws":
        rid = "i-0" + hashlib.sha256(f"ec2/{name}".encode()).hexdigest()[:16]
        rtype, sku, service = "Instance", (f"BoxUsage:{size}", "Instance"), _EC2
        units, tags = ("Hours", "Hours"), _tags(tag(owner), Name=name)
    elif provider == "azure":
        rid = (
            f"/subscriptions/{sub}/resourceGroups/rg-{acct[6:]}/providers/"
            f"Microsoft.Compute/virtualMachines/{name}"
        )
        rtype, sku, service = "Virtual machine", (size, f"{size} Linux"), _AZ_VM
        units, tags = ("1 Hour", "Hours"), _tags(tag(owner), environment="prod")
    else:
        rid = f"//compute.googleapis.com/projects/{sub}/zones/europe-west1-b/instances/{name}"
        rtype, sku, service = "compute.googleapis.com/Instance", (size, f"{size} Belgium"), _GCE
        units, tags = ("hour", "Hours"), _tags(tag(owner))
    spot = name.startswith("ml-train-gpu")
    return Series(
        f"{provider}:vm:{name}",
        acct,
        service,
        sku,
        units,
        Decimal(price),
        10 if sched == "biz" else 24,
        (rid, name, rtype),
        tags,
        sched,
        util=None if util == "-" else util,
        pricing_category="Dynamic" if spot else "Standard",
    )


@dataclass(frozen=True)
class _Product:
    """A priced SKU of one service; `series` makes a billed line of it."""

    service: tuple[str, str, str]
    sku: tuple[str, str]
    units: tuple[str, str]
    price: str

    def series(self, key: str, account: str, base: float, **kw: Any) -> Series:
        return Series(
            key, account, self.service, self.sku, self.units, Decimal(self.price), base, **kw
        )


_S3_STORED = _Product(_S3, ("TimedStorage-ByteHrs", "Storage"), ("GB-Mo", "GB-Mo"), "0.023")
_S3_OUT = _Product(_S3, ("DataTransfer-Out-Bytes", "Data Transfer Out"), ("GB", "GB"), "0.09")
_LAMBDA_GBS = _Product(
    _LAMBDA, ("Lambda-GB-Second", "Duration"), ("GB-Seconds", "GB-Seconds"), "0.0000166667"
)
_INTER_AZ = _Product(
    _DT, ("DataTransfer-Regional-Bytes", "Inter-AZ Data Transfer"), ("GB", "GB"), "0.01"
)
_AZ_HOT = _Product(_AZ_ST, ("Hot LRS", "Data Stored"), ("1 GB/Month", "GB/Month"), "0.0184")
_AZ_VCORE = _Product(_AZ_SQL, ("GP_Gen5_8", "vCore"), ("1 Hour", "vCore Hours"), "0.2525")
_BQ_SCAN = _Product(_BQ, ("Analysis", "Analysis (on-demand)"), ("tebibyte", "TiB"), "6.25")
_BQ_STORED = _Product(
    _BQ, ("Active Logical Storage", "Active Logical Storage"), ("gibibyte month", "GiB-Mo"), "0.02"
)
_GCS_STORED = _Product(
    _GCS, ("Standard Storage", "Standard Storage Belgium"), ("gibibyte month", "GiB-Mo"), "0.020"
)
_SF_STORED = _Product(_SF_ST, ("STORAGE", "Storage"), ("TB-Mo", "TB-Mo"), "23.00")


def _rds() -> list[Series]:
    out = []
    for acct, name, cls, price, owner in rows(RDS):
        arn = f"arn:aws:rds:us-east-1:{ACCOUNTS[acct][0]}:db:{name}"
        db = _Product(_RDS, (f"InstanceUsage:{cls}", "Database"), ("Hours", "Hours"), price)
        out.append(
            db.series(
                f"aws:rds:{name}",
                acct,
                24,
                resource=(arn, name, "DB Instance"),
                tags=_tags(tag(owner)),
            )
        )
    return out


def _aws() -> list[Series]:
    out = []
    for acct, bucket, gb, growth, transfer, owner in rows(BUCKETS):
        kw: dict[str, Any] = {
            "resource": (f"arn:aws:s3:::{bucket}", bucket, "Bucket"),
            "tags": _tags(tag(owner)),
        }
        out.append(
            _S3_STORED.series(
                f"aws:s3-storage:{bucket}",
                acct,
                float(gb) / 30,
                growth=float(growth),
                noise=0.005,
                **kw,
            )
        )
        if float(transfer):
            out.append(
                _S3_OUT.series(
                    f"aws:s3-transfer:{bucket}",
                    acct,
                    float(transfer),
                    noise=0.12,
                    weekend=0.6,
                    **kw,
                )
            )
    for acct, fn, gb_seconds, owner in rows(FUNCTIONS):
        arn = f"arn:aws:lambda:us-east-1:{ACCOUNTS[acct][0]}:function:{fn}"
        out.append(
            _LAMBDA_GBS.series(
                f"aws:lambda:{fn}",
                acct,
                float(gb_seconds),
                resource=(arn, fn, "Function"),
                tags=_tags(tag(owner)),
                noise=0.15,
                weekend=0.7,
            )
        )
    for short, daily_gb in INTER_AZ_GB.items():
        out.append(
            _INTER_AZ.series(f"aws:dt:{short}", f"aws:{short}", daily_gb, noise=0.1, weekend=0.8)
        )
    return out


def _azure() -> list[Series]:
    out = []
    for acct, name, gb, owner in rows(AZURE_STORAGE):
        rid = (
            f"/subscriptions/{ACCOUNTS[acct][0]}/resourceGroups/rg-{acct[6:]}/providers/"
            f"Microsoft.Storage/storageAccounts/{name}"
        )
        out.append(
            _AZ_HOT.series(
                f"azure:storage:{name}",
                acct,
                float(gb) / 30,
                resource=(rid, name, "Storage account"),
                tags=_tags(tag(owner)),
                growth=0.06,
                noise=0.004,
            )
        )
    rid = (
        f"/subscriptions/{ACCOUNTS['azure:web'][0]}/resourceGroups/rg-web/providers/"
        "Microsoft.Sql/servers/web-sql/databases/web-orders-sqldb"
    )
    out.append(
        _AZ_VCORE.series(
            "azure:sql:web-orders-sqldb",
            "azure:web",
            192,
            resource=(rid, "web-orders-sqldb", "SQL database"),
            tags=_tags(("Team", "WEB")),
        )
    )
    return out


def _gcp() -> list[Series]:
    out = [
        _BQ_SCAN.series(
            f"gcp:bigquery-analysis:{ACCOUNTS[acct][0]}", acct, tib, noise=0.18, weekend=0.35
        )
        for acct, tib in (("gcp:data", 18.0), ("gcp:search", 2.0))
    ]
    out.append(
        _BQ_STORED.series(
            "gcp:bigquery-storage:data-lake-prod",
            "gcp:data",
            61_440 / 30,
            tags=_tags(("team", "data")),
            growth=0.1,
            noise=0.003,
        )
    )
    bucket = "ml-training-checkpoints"
    out.append(
        _GCS_STORED.series(
            f"gcp:gcs:{bucket}",
            "gcp:ml",
            30_000 / 30,
            growth=0.2,
            noise=0.003,
            resource=(
                f"//storage.googleapis.com/{bucket}",
                bucket,
                "storage.googleapis.com/Bucket",
            ),
            tags=_tags(("owner", "ml")),
        )
    )
    return out


def _snowflake() -> list[Series]:
    out = []
    for wh, credits, team, owner in rows(WAREHOUSES):
        compute = _Product(_SF_WH, ("COMPUTE", wh), ("Credits", "Credits"), "3.00")
        out.append(
            compute.series(
                f"snowflake:wh:{wh}",
                "snowflake:prod",
                float(credits),
                resource=(f"ACME_PROD.{wh}", wh, "Warehouse"),
                tags=_tags(tag(owner)),
                noise=0.2,
                weekend=0.4,
                team_override=team,
            )
        )
    out.append(
        _SF_STORED.series("snowflake:storage", "snowflake:prod", 40 / 30, growth=0.1, noise=0.002)
    )
    return out


def _kubernetes() -> list[Series]:
    out = []
    for ns, kind, name, cores, gib, team, label, util in rows(CONTROLLERS):
        rid = f"prod-eu-1/{ns}/{kind.lower()}/{name}"
        tags = _tags(tag(label), namespace=ns, controller_kind=kind.lower())
        for meter, unit, price, qty in (
            ("CPU", "Core-Hours", "0.031611", float(cores) * 24),
            ("RAM", "GiB-Hours", "0.004237", float(gib) * 24),
        ):
            product = _Product(_K8S, (f"k8s-{meter.lower()}", meter), (unit, unit), price)
            out.append(
                product.series(
                    f"kubernetes:{meter.lower()}:{ns}/{name}",
                    "kubernetes:prod",
                    qty,
                    resource=(rid, name, kind),
                    tags=tags,
                    noise=0.04,
                    team_override=team,
                    namespace=True,
                    util=util if meter == "CPU" and util != "-" else None,
                )
            )
    return out


def cloud_series() -> list[Series]:
    """Every daily series (all providers except the hourly AI ones), in a fixed order."""
    vms = [_vm(*r) for r in rows(VMS)]
    return vms + _rds() + _aws() + _azure() + _gcp() + _snowflake() + _kubernetes()
