"""AWS Cost and Usage Report → FOCUS, for all three shapes AWS delivers it in.

* legacy CUR (CSV, plain or gzip): `lineItem/UnblendedCost`, one `resourceTags/user:Team` column
  per activated tag;
* Athena / Glue parquet: `line_item_unblended_cost`, one `resource_tags_user_team` column per tag;
* CUR 2.0 (Data Exports, parquet or CSV): the same snake_case names, but `product` and
  `resource_tags` are MAP columns (JSON text in CSV exports) instead of one column per attribute.

Every column name is reduced to a spelling-free key (lower case, letters and digits only), so
`lineItem/UnblendedCost`, `line_item_unblended_cost` and `lineitem_unblendedcost` are one column and
a single mapping, written against the Athena names, serves all three shapes. The FOCUS mapping
follows the FinOps Foundation rules (`conversion_rules_aws-cur.csv` / `conversion_rules_aws.csv`):
BilledCost is the net unblended cost when present, else the unblended cost; EffectiveCost is
commitment aware (Savings Plan / RI effective cost on covered usage, the unused commitment on the
recurring fee lines, 0 on negations and upfront fees). Departures from those rules, each because
FOCUS 1.2 asks for it: `Credit` lines are ChargeCategory Credit (a 1.0 value the rules predate),
refunds are ChargeClass Correction, and ServiceCategory comes from the table below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warehouse.errors import IngestError
from warehouse.ingest.base import (
    Connector,
    LoadContext,
    LocalFile,
    Probe,
    load_csv,
    load_parquet,
    parse_service_table,
)
from warehouse.ingest.exprs import (
    Expr,
    cast,
    coalesce,
    col,
    dec,
    json_obj,
    lit,
    null,
    sql,
    ts,
    typed,
)
from warehouse.schema import DECIMAL_TYPE

__all__ = ["AwsCurConnector", "column_key", "service_category"]

_CATEGORIES = (
    "split_line_item", "line_item", "identity", "bill", "pricing", "product", "reservation",
    "savings_plan", "discount", "cost_category", "resource_tags",
)  # fmt: skip
_SIGNATURE = (
    "line_item_line_item_type", "line_item_unblended_cost", "bill_billing_period_start_date",
)  # fmt: skip
_REQUIRED = (
    "line_item_line_item_type", "line_item_unblended_cost", "line_item_currency_code",
    "line_item_usage_start_date", "line_item_usage_end_date",
    "bill_billing_period_start_date", "bill_billing_period_end_date",
)  # fmt: skip

_USAGE = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")
_PURCHASE = ("Fee", "RIFee", "SavingsPlanUpfrontFee", "SavingsPlanRecurringFee")

_SERVICES = """
Compute/Virtual Machines: AmazonEC2 AmazonLightsail
Compute/Containers: AmazonECS AmazonEKS AmazonECR
Compute/Serverless Compute: AWSLambda
Compute/End User Computing: AmazonWorkSpaces AmazonAppStream
Compute/Other (Compute): AWSBatch AWSOutposts
Storage/Object Storage: AmazonS3
Storage/Backup Storage: AmazonGlacier AWSBackup
Storage/File Storage: AmazonEFS AmazonFSx
Storage/Block Storage: AmazonEBS
Storage/Other (Storage): AWSStorageGateway
Databases/Relational Databases: AmazonRDS
Databases/NoSQL Databases: AmazonDynamoDB AmazonDocDB AmazonNeptune AmazonKeyspaces
Databases/Caching: AmazonElastiCache AmazonMemoryDB
Databases/Data Warehouses: AmazonRedshift
Databases/Time Series Databases: AmazonTimestream
Databases/Ledger Databases: AmazonQLDB
Networking/Content Delivery: AmazonCloudFront
Networking/Network Routing: AmazonRoute53 AWSGlobalAccelerator
Networking/Application Networking: AWSELB AWSAppMesh AWSCloudMap
Networking/Network Connectivity: AmazonVPC AWSDirectConnect AWSDataTransfer AWSTransitGateway
Networking/Network Security: AWSNetworkFirewall awswaf AWSShield
Analytics/Data Processing: AWSGlue ElasticMapReduce AWSDataPipeline
Analytics/Analytics Platforms: AmazonAthena AmazonDataZone
Analytics/Business Intelligence: AmazonQuickSight
Analytics/Streaming Analytics: AmazonKinesis AmazonKinesisFirehose AmazonKinesisAnalytics AmazonMSK
Analytics/Search: AmazonES AmazonCloudSearch AmazonKendra
Integration/Messaging: AWSQueueService AmazonSNS AmazonMQ AWSEvents AmazonSES
Integration/Workflow Orchestration: AmazonStates AmazonMWAA AmazonSWF
Integration/API Management: AmazonApiGateway AWSAppSync
Management and Governance/Observability: AmazonCloudWatch AWSXRay AmazonManagedGrafana
Management and Governance/Compliance: AWSCloudTrail AWSConfig AWSAuditManager
Management and Governance/Cost Management: AWSBudgets AWSCostExplorer
Management and Governance/Support: AWSSupportBusiness AWSSupportEnterprise AWSDeveloperSupport
Management and Governance/Other (Management and Governance): AWSSystemsManager AWSCloudFormation
Security/Secret Management: AWSSecretsManager awskms AWSCertificateManager AWSCloudHSM
Security/Threat Detection and Response: AmazonGuardDuty AmazonDetective AmazonMacie
Security/Security Posture Management: AWSSecurityHub AmazonInspector AmazonInspectorV2
Identity/Identity and Access Management: AmazonCognito AWSDirectoryService AWSIAM
AI and Machine Learning/Machine Learning: AmazonSageMaker
AI and Machine Learning/Generative AI: AmazonBedrock AmazonQ
AI and Machine Learning/Natural Language Processing: AmazonComprehend AmazonTranslate AmazonPolly
AI and Machine Learning/Bots: AmazonLex
AI and Machine Learning/Other (AI and Machine Learning): AmazonRekognition AmazonTextract
Developer Tools/Continuous Integration and Deployment: CodeBuild AWSCodePipeline AWSCodeDeploy
Developer Tools/Source Code Management: AWSCodeCommit AWSCodeArtifact
Developer Tools/Development Environments: AWSCloudShell AWSCloud9
Migration/Data Migration: AWSDatabaseMigrationSvc AWSDataSync AWSSnowball AWSTransfer
Migration/Resource Migration: AWSApplicationMigrationSvc AWSMigrationHubRefactorSpaces
Internet of Things/IoT Platforms: AWSIoT AWSIoTCore AWSGreengrass
Internet of Things/IoT Analytics: AWSIoTAnalytics
Web/Application Platforms: AWSAmplify AWSElasticBeanstalk
Business Applications/Productivity and Collaboration: AmazonWorkMail AmazonChime AmazonConnect
Media/Media Streaming: AmazonIVS AmazonKinesisVideo AWSElementalMediaConvert
Mobile/Other (Mobile): AWSDeviceFarm AmazonPinpoint
"""
"""FOCUS 1.2 ServiceCategory/ServiceSubcategory per `line_item_product_code`; default Other."""


_SERVICE_TABLE = parse_service_table(_SERVICES)


def service_category(product_code: str) -> tuple[str, str]:
    """FOCUS (ServiceCategory, ServiceSubcategory) of an AWS product code, e.g. `AmazonS3`."""
    return _SERVICE_TABLE.get(product_code, ("Other", "Other (Other)"))


def column_key(name: str) -> str:
    """The spelling-free key of a CUR column: `lineItem/UnblendedCost` → `lineitemunblendedcost`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _legacy_name(key: str) -> str:
    """`line_item_unblended_cost` → `lineItem/UnblendedCost`, to name columns in messages."""
    for category in _CATEGORIES:
        if key.startswith(category + "_"):
            first, *rest = category.split("_")
            head = first + "".join(p.title() for p in rest)
            return head + "/" + "".join(p.title() for p in key[len(category) + 1 :].split("_"))
    return key


def _tag_key(raw: str) -> str | None:
    """The Tags key of a per-tag column (`user:` dropped, `aws:` kept); None for other columns."""
    lower = raw.lower()
    if lower.startswith("resourcetags/"):
        return raw.split("/", 1)[1].removeprefix("user:")
    if lower.startswith("resource_tags_"):
        return _snake_tag_key(raw[len("resource_tags_") :])
    return None


def _snake_tag_key(name: str) -> str:
    if name.startswith("user_"):
        return name[len("user_") :]
    if name.startswith("aws_"):
        return "aws:" + name[len("aws_") :]
    return name


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(lit(v).strict for v in values) + ")"


@dataclass(frozen=True)
class _Cur:
    """Resolves canonical (Athena) names to expressions over whichever spelling the file uses."""

    names: dict[str, str]
    types: dict[str, str]
    tags: dict[str, str]
    product_map: str | None
    tag_map: str | None

    @classmethod
    def of(cls, raw_columns: Sequence[str], raw_types: Mapping[str, str]) -> _Cur:
        names: dict[str, str] = {}
        tags: dict[str, str] = {}
        product_map = tag_map = None
        for raw in raw_columns:
            tag = _tag_key(raw)
            if tag is not None:
                tags.setdefault(tag, raw)
            elif raw.lower() == "product":
                product_map = raw
            elif raw.lower() == "resource_tags":
                tag_map = raw
            else:
                names.setdefault(column_key(raw), raw)
        return cls(names, dict(raw_types), tags, product_map, tag_map)

    def raw(self, key: str) -> str | None:
        return self.names.get(column_key(key))

    def has(self, key: str) -> bool:
        return self.raw(key) is not None

    def _type(self, raw: str) -> str:
        return self.types.get(raw, "VARCHAR")

    def text(self, key: str) -> Expr:
        """A string column with empty strings as NULL (Athena parquet writes '' for missing)."""
        raw = self.raw(key)
        return self._product_attribute(key) if raw is None else self.column_text(raw)

    def column_text(self, raw: str) -> Expr:
        e = col(raw) if self._type(raw) == "VARCHAR" else sql("CAST({} AS VARCHAR)", col(raw))
        return typed(sql("NULLIF(trim({}), '')", e), "VARCHAR")

    def _product_attribute(self, key: str) -> Expr:
        """CUR 2.0 keeps most `product_*` attributes in the `product` map (JSON text in CSV)."""
        if self.product_map is None or not key.startswith("product_"):
            return null()
        name = lit(key.removeprefix("product_"))
        if self._type(self.product_map).startswith("MAP"):
            e = sql("{}[{}]", col(self.product_map), name)
        else:
            doc = cast(self.product_map, "JSON", "a JSON object of product attributes")
            e = sql("json_extract_string({}, '$.' || to_json({}))", doc, name)
        return typed(sql("NULLIF(trim({}), '')", e), "VARCHAR")

    def num(self, key: str) -> Expr:
        raw = self.raw(key)
        if raw is None:
            return null()
        kind = self._type(raw)
        if kind == DECIMAL_TYPE:
            return typed(raw, DECIMAL_TYPE)
        if kind == "VARCHAR":
            return dec(sql("NULLIF(trim({}), '')", col(raw)))
        return dec(raw)

    def time(self, key: str) -> Expr:
        raw = self.raw(key)
        if raw is None:
            return null()
        kind = self._type(raw)
        if kind == "TIMESTAMP WITH TIME ZONE":
            return typed(sql("timezone('UTC', {})", col(raw)), "TIMESTAMP")
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            return typed(sql("CAST({} AS TIMESTAMP)", col(raw)), "TIMESTAMP")
        return ts(sql("NULLIF(trim(CAST({} AS VARCHAR)), '')", col(raw)))

    def net(self, net_key: str, key: str) -> Expr:
        """The net (after discounts) figure when the export has it, else the gross one."""
        return coalesce(self.num(net_key), self.num(key)) if self.has(net_key) else self.num(key)


class AwsCurConnector(Connector):
    """AWS CUR in any of its shapes: legacy CSV, Athena parquet, CUR 2.0 (parquet or CSV)."""

    format = "aws-cur"
    description = "AWS Cost and Usage Report: legacy CUR CSV, Athena-style parquet, or CUR 2.0"

    def detect(self, probe: Probe) -> bool:
        keys = {column_key(c) for c in probe.columns}
        return all(column_key(k) in keys for k in _SIGNATURE)

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        if file.kind == "parquet":
            return load_parquet(ctx, file, view)
        if file.kind == "json":
            raise IngestError("AWS CUR inputs are CSV or parquet files", file=file.display)
        return load_csv(ctx, file, view)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        cur = _Cur.of(raw_columns, ctx.raw_types)
        missing = [f"{k} ({_legacy_name(k)})" for k in _REQUIRED if not cur.has(k)]
        if missing:
            raise IngestError(f"not a valid aws-cur file: missing column(s) {', '.join(missing)}")
        line_type = cur.text("line_item_line_item_type")
        return {
            **_costs(cur, line_type),
            **_charge(cur, line_type),
            **_commitment(cur, line_type),
            **_parties(cur),
            **_service(cur),
            "Tags": _tags(cur),
        }


def _costs(cur: _Cur, lt: Expr) -> dict[str, Expr]:
    """Money and quantities; EffectiveCost follows the rules' SP/RI cases (cited in the SQL)."""
    billed = cur.net("line_item_net_unblended_cost", "line_item_unblended_cost")
    sp_effective = cur.net(
        "savings_plan_net_savings_plan_effective_cost", "savings_plan_savings_plan_effective_cost"
    )
    ri_effective = cur.net("reservation_net_effective_cost", "reservation_effective_cost")
    sp_unused = sql(
        "({} - {})",
        cur.num("savings_plan_total_commitment_to_date"),
        cur.num("savings_plan_used_commitment"),
    )
    ri_unused = sql(
        "({} + {})",
        cur.num("reservation_unused_amortized_upfront_fee_for_billing_period"),
        cur.num("reservation_unused_recurring_fee"),
    )
    effective = sql(
        "CASE WHEN {0} = 'SavingsPlanCoveredUsage' THEN coalesce({1}, {5})"
        " WHEN {0} = 'SavingsPlanRecurringFee' THEN coalesce({2}, {5})"
        " WHEN {0} = 'DiscountedUsage' THEN coalesce({3}, {5})"
        " WHEN {0} = 'RIFee' THEN coalesce({4}, {5})"
        " WHEN {0} IN ('SavingsPlanNegation', 'SavingsPlanUpfrontFee') THEN 0"
        " WHEN {0} = 'Fee' AND {6} IS NOT NULL THEN 0"
        " ELSE {5} END",
        lt, sp_effective, sp_unused, ri_effective, ri_unused, billed,
        cur.text("reservation_reservation_arn"),
    )  # fmt: skip
    public = cur.num("pricing_public_on_demand_cost")
    # List price exists for usage only; negations and discounts reduce from list, so 0 there.
    list_cost = sql(
        f"CASE WHEN {{0}} IN {_in(_USAGE)} THEN coalesce({{1}}, {{2}})"
        " WHEN {0} = 'SavingsPlanNegation' OR {0} LIKE '%Discount' THEN 0 ELSE {2} END",
        lt, public, billed,
    )  # fmt: skip
    usage_amount = cur.num("line_item_usage_amount")
    is_usage = f"{{0}} IN {_in(_USAGE)}"
    return {
        "BilledCost": billed,
        "EffectiveCost": effective,
        "ListCost": list_cost,
        "ContractedCost": billed,
        "ListUnitPrice": cur.num("pricing_public_on_demand_rate"),
        "ContractedUnitPrice": cur.num("line_item_unblended_rate"),
        "PricingQuantity": coalesce(cur.num("reservation_total_reserved_units"), usage_amount),
        "PricingUnit": cur.text("pricing_unit"),
        "ConsumedQuantity": sql(f"CASE WHEN {is_usage} THEN {{1}} END", lt, usage_amount),
        "ConsumedUnit": sql(f"CASE WHEN {is_usage} THEN {{1}} END", lt, cur.text("pricing_unit")),
        "BillingCurrency": cur.text("line_item_currency_code"),
        "BillingPeriodStart": cur.time("bill_billing_period_start_date"),
        "BillingPeriodEnd": cur.time("bill_billing_period_end_date"),
        "ChargePeriodStart": cur.time("line_item_usage_start_date"),
        "ChargePeriodEnd": cur.time("line_item_usage_end_date"),
    }


def _charge(cur: _Cur, lt: Expr) -> dict[str, Expr]:
    """ChargeCategory / Class / Frequency, PricingCategory and the description."""
    bill_type = cur.text("bill_bill_type")
    category = sql(
        "CASE WHEN {0} = 'Tax' THEN 'Tax'"
        f" WHEN {{0}} IN {_in(_PURCHASE)} THEN 'Purchase'"
        f" WHEN {{0}} IN {_in(_USAGE)} OR {{0}} = 'SavingsPlanNegation'"
        " OR {0} LIKE '%Discount' THEN 'Usage'"
        " WHEN {0} = 'Credit' THEN 'Credit' WHEN {0} = 'Refund' THEN 'Adjustment' END",
        lt,
    )
    frequency = sql(
        f"CASE WHEN {{0}} IN {_in(_USAGE)} OR {{0}} = 'SavingsPlanNegation'"
        " OR {0} LIKE '%Discount' THEN 'Usage-Based'"
        " WHEN {0} IN ('RIFee', 'SavingsPlanRecurringFee') THEN 'Recurring'"
        " WHEN {0} IN ('Fee', 'SavingsPlanUpfrontFee') THEN 'One-Time'"
        " WHEN {1} IN ('Purchase', 'Refund') THEN 'One-Time'"
        " WHEN {1} = 'Anniversary' THEN 'Recurring' END",
        lt, bill_type,
    )  # fmt: skip
    pricing = sql(
        "CASE WHEN {0} IN ('DiscountedUsage', 'SavingsPlanCoveredUsage') THEN 'Committed'"
        " WHEN {0} <> 'Usage' THEN NULL"
        " WHEN {1} = 'OnDemand' THEN 'Standard' WHEN {1} = 'Spot' THEN 'Dynamic'"
        " WHEN {1} = 'Reserved' THEN 'Committed' END",
        lt, cur.text("pricing_term"),
    )  # fmt: skip
    correction = sql(
        "CASE WHEN {0} = 'Refund' OR {1} = 'Refund' THEN 'Correction' END", lt, bill_type
    )
    return {
        "ChargeCategory": category,
        "ChargeClass": correction,
        "ChargeFrequency": frequency,
        "ChargeDescription": cur.text("line_item_line_item_description"),
        "PricingCategory": pricing,
    }


def _commitment(cur: _Cur, lt: Expr) -> dict[str, Expr]:
    """Savings Plan / Reserved Instance columns, per the rules (SP ARN wins over RI ARN)."""
    sp = cur.text("savings_plan_savings_plan_arn")
    ri = cur.text("reservation_reservation_arn")
    return {
        "CommitmentDiscountId": coalesce(sp, ri),
        "CommitmentDiscountCategory": sql(
            "CASE WHEN {} IS NOT NULL THEN 'Spend' WHEN {} IS NOT NULL THEN 'Usage' END", sp, ri
        ),
        "CommitmentDiscountType": sql(
            "CASE WHEN {} IS NOT NULL THEN 'Savings Plan'"
            " WHEN {} IS NOT NULL THEN 'Reserved Instances (RI)' END",
            sp,
            ri,
        ),
        "CommitmentDiscountStatus": sql(
            "CASE WHEN {0} IN ('DiscountedUsage', 'SavingsPlanCoveredUsage')"
            " AND coalesce({1}, {2}) IS NOT NULL THEN 'Used' END",
            lt,
            sp,
            ri,
        ),
    }


def _parties(cur: _Cur) -> dict[str, Expr]:
    """Accounts, provider / publisher / invoice issuer, location, resource and SKU."""
    return {
        "ProviderName": lit("AWS"),
        "PublisherName": coalesce(
            cur.text("line_item_legal_entity"), lit("Amazon Web Services, Inc.")
        ),
        "InvoiceIssuerName": coalesce(
            cur.text("bill_invoicing_entity"), lit("Amazon Web Services, Inc.")
        ),
        "InvoiceId": cur.text("bill_invoice_id"),
        "BillingAccountId": cur.text("bill_payer_account_id"),
        "BillingAccountName": cur.text("bill_payer_account_name"),
        "SubAccountId": cur.text("line_item_usage_account_id"),
        "SubAccountName": cur.text("line_item_usage_account_name"),
        "RegionId": coalesce(cur.text("product_region"), cur.text("product_region_code")),
        "RegionName": cur.text("product_location"),
        "AvailabilityZone": cur.text("line_item_availability_zone"),
        "ResourceId": cur.text("line_item_resource_id"),
        "SkuId": cur.text("product_sku"),
        "SkuPriceId": coalesce(cur.text("pricing_rate_code"), cur.text("pricing_rate_id")),
    }


def _service(cur: _Cur) -> dict[str, Expr]:
    code = cur.text("line_item_product_code")
    categories = " ".join(
        f"WHEN {lit(c).strict} THEN {lit(cat).strict}" for c, (cat, _) in _SERVICE_TABLE.items()
    )
    subcategories = " ".join(
        f"WHEN {lit(c).strict} THEN {lit(sub).strict}" for c, (_, sub) in _SERVICE_TABLE.items()
    )
    return {
        "ServiceName": coalesce(cur.text("product_product_name"), code),
        "ServiceCategory": sql(f"coalesce(CASE {{}} {categories} END, 'Other')", code),
        "ServiceSubcategory": sql(
            f"coalesce(CASE {{}} {subcategories} END, 'Other (Other)')", code
        ),
    }


def _tags(cur: _Cur) -> Expr:
    """Tags JSON: per-tag columns (legacy, Athena) or the CUR 2.0 `resource_tags` map."""
    if cur.tag_map is None:
        return json_obj({key: cur.column_text(raw) for key, raw in sorted(cur.tags.items())})
    if cur.types.get(cur.tag_map, "VARCHAR").startswith("MAP"):
        tag_map = col(cur.tag_map)
    else:
        doc = cast(cur.tag_map, "JSON", "a JSON object of resource tags")
        tag_map = cast(doc, "MAP(VARCHAR, VARCHAR)", "a JSON object of resource tags")
    key = (
        "CASE WHEN starts_with(e.key, 'user_') THEN e.key[6:]"
        " WHEN starts_with(e.key, 'user:') THEN e.key[6:]"
        " WHEN starts_with(e.key, 'aws_') THEN 'aws:' || e.key[5:] ELSE e.key END"
    )
    entries = "list_filter(map_entries({}), lambda e: coalesce(e.value, '') <> '')"
    text_ = sql(
        f"NULLIF('{{{{' || array_to_string(list_transform({entries}, "
        f"lambda e: to_json({key}) || ':' || to_json(e.value)), ',') || '}}}}', '{{{{}}}}')",
        tag_map,
    )
    return typed(sql("CAST({} AS JSON)", text_), "JSON")
