"""Oracle Cloud (OCI) cost reports → FOCUS.

OCI delivers hourly cost reports as CSV with `lineItem/`, `product/`, `usage/`, `cost/` and one
`tags/<namespace>.<key>` column per tag. AWS's legacy CUR also uses `lineItem/` names, so detection
keys on what only OCI has (`lineItem/referenceNo` and `cost/myCost`), and OCI is tried before
aws-cur.

The mapping follows `conversion_rules_oci.csv` (FinOps Foundation) with two departures:

* BilledCost is `cost/myCost`, not `cost/myCostOverage` as the rules say: the overage column holds
  only the part above a commitment and is empty on most rows (all 506 of the published sample),
  which would make every bill cost nothing. EffectiveCost and ContractedCost are `cost/myCost` too:
  the report prices usage at the customer's rate (`cost/unitPrice`) and has no amortization.
* ListCost has no source in a cost report (the rules leave it undefined); it stays NULL and the
  ingest warns, rather than inventing a list price.

Tags are a JSON object of the non-empty `tags/*` columns keyed by `<namespace>.<key>`; corrected
lines (`lineItem/isCorrection`) are ChargeClass Correction; the billing period is the calendar
month (UTC) of the usage interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from warehouse.ingest.base import (
    Connector,
    LoadContext,
    LocalFile,
    Probe,
    load_csv,
    parse_service_table,
    require,
)
from warehouse.ingest.exprs import Expr, col, dec, json_obj, lit, null, sql, ts, typed

__all__ = ["OciConnector", "service_category"]

_SIGNATURE = {"lineItem/referenceNo", "cost/myCost"}
_REQUIRED = (
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "cost/myCost",
    "cost/currencyCode",
    "product/service",
)

_SERVICES = """
Compute/Virtual Machines: COMPUTE
Compute/Containers: OKE CONTAINER_ENGINE CONTAINER_INSTANCES
Compute/Serverless Compute: FUNCTIONS
Storage/Block Storage: BLOCK_STORAGE
Storage/Object Storage: OBJECTSTORE OBJECT_STORAGE ARCHIVE_STORAGE
Storage/File Storage: FILE_STORAGE
Databases/Relational Databases: DATABASE MYSQL POSTGRESQL AUTONOMOUS_DATABASE EXADATA
Databases/NoSQL Databases: NOSQL
Databases/Caching: REDIS
Networking/Network Connectivity: NETWORK VCN FASTCONNECT VPN
Networking/Application Networking: LOAD_BALANCER NETWORK_LOAD_BALANCER
Networking/Network Routing: DNS
Networking/Network Security: WAF NETWORK_FIREWALL
Analytics/Streaming Analytics: ORACLE_STREAMING_SERVICE STREAMING
Analytics/Data Processing: DATA_FLOW DATA_INTEGRATION
Analytics/Analytics Platforms: ANALYTICS
Management and Governance/Observability: TELEMETRY MONITORING LOGGING APM
Integration/Messaging: NOTIFICATIONS QUEUE EMAIL_DELIVERY
Integration/API Management: API_GATEWAY
Security/Secret Management: VAULT KMS
Security/Security Posture Management: CLOUD_GUARD
AI and Machine Learning/Machine Learning: DATA_SCIENCE
AI and Machine Learning/Generative AI: GENERATIVE_AI
"""
"""FOCUS 1.2 ServiceCategory/ServiceSubcategory per `product/service`; default Other."""


_SERVICE_TABLE = parse_service_table(_SERVICES)


def service_category(service: str) -> tuple[str, str]:
    """(ServiceCategory, ServiceSubcategory) of an OCI `product/service` value."""
    return _SERVICE_TABLE.get(service.upper(), ("Other", "Other (Other)"))


def _case(e: Expr, index: int, default: str) -> Expr:
    whens = " ".join(
        f"WHEN '{name}' THEN '{pair[index]}'" for name, pair in sorted(_SERVICE_TABLE.items())
    )
    return typed(sql(f"CASE upper({{}}) {whens} ELSE '{default}' END", e), "VARCHAR")


class OciConnector(Connector):
    """OCI cost report CSV (plain or gzip)."""

    format = "oci"
    description = "Oracle Cloud (OCI) cost report CSV"

    def detect(self, probe: Probe) -> bool:
        return probe.column_set >= _SIGNATURE

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        return load_csv(ctx, file, view)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        require(raw_columns, _REQUIRED, "OCI cost report")
        present = set(raw_columns)

        def opt(name: str) -> Expr:
            return col(name) if name in present else null()

        tags = {c.removeprefix("tags/"): col(c) for c in raw_columns if c.startswith("tags/")}
        return {**_money(opt), **_periods(), **_dimensions(opt), "Tags": json_obj(tags)}


Optional = Callable[[str], Expr]


def _money(opt: Optional) -> dict[str, Expr]:
    cost = dec("cost/myCost")
    quantity = dec(opt("usage/billedQuantity"))
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ContractedCost": cost,
        "ListCost": null(),
        "ContractedUnitPrice": dec(opt("cost/unitPrice")),
        "BillingCurrency": col("cost/currencyCode"),
        "ConsumedQuantity": quantity,
        "ConsumedUnit": opt("cost/skuUnitDescription"),
        "PricingQuantity": quantity,
        "PricingUnit": opt("cost/skuUnitDescription"),
    }


def _periods() -> dict[str, Expr]:
    start = ts("lineItem/intervalUsageStart")
    month = typed(sql("date_trunc('month', {})", start), "TIMESTAMP")
    return {
        "BillingPeriodStart": month,
        "BillingPeriodEnd": typed(sql("{} + INTERVAL 1 MONTH", month), "TIMESTAMP"),
        "ChargePeriodStart": start,
        "ChargePeriodEnd": ts("lineItem/intervalUsageEnd"),
    }


def _dimensions(opt: Optional) -> dict[str, Expr]:
    rid = opt("product/resourceId")
    service = col("product/service")
    tenant = opt("lineItem/tenantId")
    return {
        "BillingAccountId": sql("coalesce({}, {})", opt("cost/subscriptionId"), tenant),
        "SubAccountId": tenant,
        "ChargeCategory": lit("Usage"),
        "ChargeClass": sql(
            "CASE WHEN lower({}) = 'true' THEN 'Correction' END", opt("lineItem/isCorrection")
        ),
        "ChargeFrequency": lit("Usage-Based"),
        "ChargeDescription": opt("product/Description"),
        "ProviderName": lit("Oracle"),
        "PublisherName": lit("Oracle"),
        "InvoiceIssuerName": lit("Oracle"),
        "RegionId": opt("product/region"),
        "RegionName": opt("product/region"),
        "AvailabilityZone": opt("product/availabilityDomain"),
        "ResourceId": rid,
        "ResourceType": sql("CASE WHEN {0} LIKE 'ocid1.%' THEN split_part({0}, '.', 2) END", rid),
        "ServiceName": service,
        "ServiceCategory": _case(service, 0, "Other"),
        "ServiceSubcategory": _case(service, 1, "Other (Other)"),
        "SkuId": opt("cost/productSku"),
    }
