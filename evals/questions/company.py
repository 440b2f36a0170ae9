"""Granite Industries: a generated three-cloud company the agent has never seen, as a FOCUS CSV.

Deterministic (one seeded `random.Random`), daily rows from 2025-08-01 to 2026-02-17 on AWS,
Microsoft Azure and Google Cloud with their real service and region names, its own accounts
(`granite-prod`, `quartz-dev`, `slate-analytics`, …), a Reserved Instance with covered usage
(billed 0, amortized > 0) and its monthly fee, AWS Business Support, monthly tax, Google Cloud
credits and two refunds. Ownership tags are spelled five ways (`team`, `Team`, `owner`,
`cost-center`, team names in several cases); the `team` virtual tag in its
`finops.yaml` (`CONFIG`) unifies them.
Nothing here is shared with the demo company (`warehouse/demo`).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

__all__ = ["ACCOUNTS", "CONFIG", "FIRST_DAY", "LAST_DAY", "write_company"]

FIRST_DAY = date(2025, 8, 1)
LAST_DAY = date(2026, 2, 17)
SEED = 20260218
_Q = Decimal("0.000001")

CONFIG = Path(__file__).resolve().parent / "granite-finops.yaml"
"""The company's `finops.yaml`: virtual tags `team` and `environment`."""


@dataclass(frozen=True)
class _Account:
    provider: str
    billing_id: str
    billing_name: str
    sub_id: str
    sub_name: str


_PROVIDERS = {
    "AWS": ("Amazon Web Services, Inc.", "910044550001", "granite-payer"),
    "Microsoft": ("Microsoft", "88812345", "Granite Industries EA"),
    "Google Cloud": ("Google Cloud", "01A2B3-C4D5E6-F7A8B9", "Granite GCP Billing"),
}
_SUBS = {
    "granite-prod": ("AWS", "210987654321"),
    "granite-staging": ("AWS", "210987654322"),
    "granite-sandbox": ("AWS", "210987654323"),
    "quartz-prod": ("Microsoft", "/subscriptions/5b6f0c2e-1d3a-4e7b-9c8d-2f4a6b8c0d1e"),
    "quartz-dev": ("Microsoft", "/subscriptions/7c8d9e0f-2a3b-4c5d-8e9f-0a1b2c3d4e5f"),
    "slate-prod": ("Google Cloud", "slate-prod-4821"),
    "slate-analytics": ("Google Cloud", "slate-analytics-3310"),
}
ACCOUNTS = {
    name: _Account(p, _PROVIDERS[p][1], _PROVIDERS[p][2], sid, name)
    for name, (p, sid) in _SUBS.items()
}
REGIONS = {
    "us-east-1": "US East (N. Virginia)",
    "eu-west-1": "EU (Ireland)",
    "eastus": "East US",
    "westeurope": "West Europe",
    "us-central1": "Iowa",
    "europe-west1": "Belgium",
}
# service: (category, subcategory, consumed unit, price per unit, list price per unit)
SERVICES = {
    "Amazon Elastic Compute Cloud": ("Compute", "Virtual Machines", "Hours", "0.192", "0.192"),
    "Amazon Simple Storage Service": ("Storage", "Object Storage", "GB-Mo", "0.021", "0.023"),
    "Amazon Relational Database Service": (
        "Databases", "Relational Databases", "Hours", "1.36", "1.36",
    ),
    "AWS Lambda": ("Compute", "Serverless Compute", "Requests", "0.0000002", "0.0000002"),
    "Amazon CloudFront": ("Networking", "Content Delivery", "GB", "0.085", "0.085"),
    "Amazon DynamoDB": ("Databases", "NoSQL Databases", "Requests", "0.00000125", "0.00000125"),
    "Amazon Elastic Kubernetes Service": ("Compute", "Containers", "Hours", "0.10", "0.10"),
    "Virtual Machines": ("Compute", "Virtual Machines", "Hours", "0.384", "0.432"),
    "Azure Cosmos DB": ("Databases", "NoSQL Databases", "Hours", "0.29", "0.29"),
    "Storage Accounts": ("Storage", "Object Storage", "GB/Month", "0.0184", "0.0208"),
    "Azure Kubernetes Service": ("Compute", "Containers", "Hours", "0.60", "0.60"),
    "Compute Engine": ("Compute", "Virtual Machines", "Hours", "0.2412", "0.2680"),
    "BigQuery": ("Databases", "Data Warehouses", "TiB", "6.25", "6.25"),
    "Cloud Storage": ("Storage", "Object Storage", "GiB-month", "0.020", "0.020"),
    "Vertex AI": ("AI and Machine Learning", "Machine Learning", "Hours", "3.67", "3.67"),
}  # fmt: skip

# account | service (SHORT) | region | resource | ownership tag ("key=value" or -) | daily quantity
# | monthly growth | first day (- = from the start)
_SERIES = """
granite-prod | ec2 | us-east-1 | i-0a11checkout01 | team=checkout | 480 | 0.01 | -
granite-prod | ec2 | us-east-1 | i-0a12catalog01 | Team=Catalog | 360 | 0.00 | -
granite-prod | ec2 | eu-west-1 | i-0a13fraud0001 | owner=fraud-team | 192 | 0.03 | -
granite-prod | s3 | us-east-1 | granite-assets | team=catalog | 1733 | 0.04 | -
granite-prod | s3 | us-east-1 | granite-logs | - | 1033 | 0.02 | -
granite-prod | rds | us-east-1 | checkout-db | cost-center=CC-310 | 72 | 0.00 | -
granite-prod | rds | eu-west-1 | fraud-db | Team=Fraud Team | 48 | 0.02 | -
granite-prod | lambda | us-east-1 | checkout-api | team=checkout | 41000000 | 0.06 | -
granite-prod | cloudfront | us-east-1 | E2GRANITECDN | owner=mobile | 900 | 0.00 | -
granite-prod | dynamodb | us-east-1 | catalog-items | Team=catalog | 30000000 | 0.02 | -
granite-prod | eks | us-east-1 | granite-eks-prod | team=core-infra | 72 | 0.00 | -
granite-staging | ec2 | us-east-1 | i-0b21stage0001 | team=checkout | 48 | 0.00 | -
granite-staging | rds | us-east-1 | stage-db | - | 24 | 0.00 | -
granite-staging | lambda | us-east-1 | stage-api | owner=Checkout Team | 9000000 | 0.02 | -
granite-sandbox | ec2 | eu-west-1 | i-0c31sandbox01 | - | 30 | 0.08 | -
granite-sandbox | s3 | eu-west-1 | sandbox-scratch | cost-center=CC-390 | 300 | 0.05 | -
quartz-prod | vm | eastus | vm-insights-01 | Team=Insights | 192 | 0.02 | -
quartz-prod | vm | westeurope | vm-mobile-api | team=mobile | 48 | 0.01 | -
quartz-prod | cosmos | eastus | cosmos-orders | owner=checkout | 96 | -0.05 | -
quartz-prod | storage | eastus | stquartzprod | cost-center=CC-340 | 1333 | 0.03 | -
quartz-prod | aks | westeurope | aks-quartz-prod | Team=Core-Infra | 48 | 0.00 | -
quartz-dev | vm | eastus | vm-dev-build | - | 24 | 0.00 | -
quartz-dev | cosmos | eastus | cosmos-dev | team=mobile | 24 | 0.00 | -
slate-prod | gce | us-central1 | gce-fraud-scoring | team=fraud | 240 | 0.02 | -
slate-prod | gce | europe-west1 | gce-eu-web | owner=mobile-team | 48 | 0.00 | -
slate-prod | gcs | us-central1 | slate-prod-bucket | team=insights | 2000 | 0.03 | -
slate-prod | vertex | us-central1 | vertex-fraud-train | team=fraud | 6 | 0.15 | 2025-10-06
slate-analytics | bigquery | us-central1 | bq-insights | team=Insights | 9 | 0.12 | -
slate-analytics | bigquery | europe-west1 | bq-eu-marketing | cost-center=CC-340 | 3 | 0.05 | -
slate-analytics | gcs | us-central1 | slate-lake | - | 1500 | 0.04 | -
"""

SHORT = {
    "ec2": "Amazon Elastic Compute Cloud",
    "s3": "Amazon Simple Storage Service",
    "rds": "Amazon Relational Database Service",
    "lambda": "AWS Lambda",
    "cloudfront": "Amazon CloudFront",
    "dynamodb": "Amazon DynamoDB",
    "eks": "Amazon Elastic Kubernetes Service",
    "vm": "Virtual Machines",
    "cosmos": "Azure Cosmos DB",
    "storage": "Storage Accounts",
    "aks": "Azure Kubernetes Service",
    "gce": "Compute Engine",
    "bigquery": "BigQuery",
    "gcs": "Cloud Storage",
    "vertex": "Vertex AI",
}
"""Short names used in the series table."""

_RI_RESOURCE = "i-0a19ri000fleet"
_RI_HOURS = 120
_RI_RATE = Decimal("0.118")
_RI_FEE = Decimal("450.00")
_RI_ARN = "arn:aws:ec2:us-east-1:210987654321:reserved-instances/4b2f9e10-granite"
_AZ_RESERVATION = "/providers/Microsoft.Capacity/reservationOrders/9e1d-granite/reservations/ro-1"
_AZ_PURCHASED = date(2025, 9, 1)
_AZ_UPFRONT = Decimal("8760.00")
_HOLIDAY = {11: 1.35, 12: 1.6, 1: 0.9}  # CloudFront's seasonal traffic


def _days() -> list[date]:
    n = (LAST_DAY - FIRST_DAY).days + 1
    return [FIRST_DAY + timedelta(days=i) for i in range(n)]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _months() -> list[date]:
    out = [FIRST_DAY]
    while _next_month(out[-1]) <= LAST_DAY:
        out.append(_next_month(out[-1]))
    return out


def _money(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(_Q, rounding=ROUND_HALF_EVEN)


def _base(account: str, service: str, region: str, day: date, end: date) -> dict[str, str]:
    """The columns every row of one account, service and charge period shares."""
    acct = ACCOUNTS[account]
    publisher = _PROVIDERS[acct.provider][0]
    category, sub, *_ = SERVICES[service] if service in SERVICES else _EXTRA[service]
    return {
        "BillingAccountId": acct.billing_id,
        "BillingAccountName": acct.billing_name,
        "BillingCurrency": "USD",
        "BillingPeriodStart": f"{_month_start(day)}T00:00:00Z",
        "BillingPeriodEnd": f"{_next_month(day)}T00:00:00Z",
        "ChargePeriodStart": f"{day}T00:00:00Z",
        "ChargePeriodEnd": f"{end}T00:00:00Z",
        "InvoiceIssuerName": publisher,
        "ProviderName": acct.provider,
        "PublisherName": publisher,
        "RegionId": region,
        "RegionName": REGIONS.get(region, ""),
        "ServiceCategory": category,
        "ServiceSubcategory": sub,
        "ServiceName": service,
        "SubAccountId": acct.sub_id,
        "SubAccountName": acct.sub_name,
    }


_EXTRA = {"AWS Support (Business)": ("Management and Governance", "Support")}


def _tags(spec: str, resource: str) -> str:
    tags = {"app": resource.split("-")[0]}
    if spec != "-":
        key, value = spec.split("=", 1)
        tags[key] = value
    return json.dumps(tags, sort_keys=True)


def _usage_rows(rng: random.Random) -> list[dict[str, str]]:
    rows = []
    for line in filter(None, (raw.strip() for raw in _SERIES.splitlines())):
        account, short, region, resource, tag, qty, growth, first = (
            c.strip() for c in line.split("|")
        )
        service = SHORT[short]
        _, _, unit, price, list_price = SERVICES[service]
        start = FIRST_DAY if first == "-" else date.fromisoformat(first)
        for day in _days():
            if day < start:
                continue
            months = (day.year - start.year) * 12 + day.month - start.month + day.day / 31
            factor = (1 + float(growth)) ** months * rng.uniform(0.93, 1.07)
            if service == "Amazon CloudFront":
                factor *= _HOLIDAY.get(day.month, 1.0)
            if day.weekday() >= 5 and unit in ("Requests", "GB", "TiB"):
                factor *= 0.7
            amount = round(float(qty) * factor, 3)
            billed = _money(Decimal(str(amount)) * Decimal(price))
            row = _base(account, service, region, day, day + timedelta(days=1))
            row.update(_charge("Usage", "Usage-Based", billed, billed, amount, unit))
            row["ListCost"] = str(_money(Decimal(str(amount)) * Decimal(list_price)))
            row.update(ResourceId=resource, ResourceName=resource, Tags=_tags(tag, resource))
            rows.append(row)
    return rows


def _charge(
    category: str, frequency: str, billed: Decimal, effective: Decimal, qty: float, unit: str
) -> dict[str, str]:
    return {
        "ChargeCategory": category,
        "ChargeFrequency": frequency,
        "BilledCost": str(billed),
        "EffectiveCost": str(effective),
        "ContractedCost": str(billed),
        "ListCost": str(billed),
        "ConsumedQuantity": f"{qty}" if qty else "",
        "ConsumedUnit": unit,
        "PricingCategory": "Standard" if category == "Usage" else "",
    }


def _commitment_rows(rng: random.Random) -> list[dict[str, str]]:
    """A one-year EC2 Reserved Instance: covered usage (billed 0) and its monthly fee."""
    rows: list[dict[str, str]] = []
    used: dict[date, Decimal] = {}
    for day in _days():
        hours = round(_RI_HOURS * rng.uniform(0.85, 1.0), 3)
        effective = _money(Decimal(str(hours)) * _RI_RATE)
        row = _base(
            "granite-prod", "Amazon Elastic Compute Cloud", "us-east-1", day, day + timedelta(1)
        )
        row.update(_charge("Usage", "Usage-Based", Decimal(0), effective, hours, "Hours"))
        row.update(
            ListCost=str(_money(Decimal(str(hours)) * Decimal("0.192"))),
            PricingCategory="Committed",
            CommitmentDiscountId=_RI_ARN,
            CommitmentDiscountType="Reserved Instance",
            CommitmentDiscountCategory="Usage",
            CommitmentDiscountStatus="Used",
            ResourceId=_RI_RESOURCE,
            ResourceName=_RI_RESOURCE,
            Tags=_tags("team=core-infra", "fleet"),
        )
        rows.append(row)
        used[_month_start(day)] = used.get(_month_start(day), Decimal(0)) + effective
    for month in _months():
        end = _next_month(month)
        row = _base("granite-prod", "Amazon Elastic Compute Cloud", "us-east-1", month, end)
        unused = max(_RI_FEE - used[month], Decimal(0))
        row.update(_charge("Purchase", "Recurring", _RI_FEE, unused, 0, ""))
        row.update(
            CommitmentDiscountId=_RI_ARN,
            CommitmentDiscountType="Reserved Instance",
            CommitmentDiscountCategory="Usage",
            CommitmentDiscountStatus="Unused",
            ChargeDescription="Reserved Instance fee, m6i.large, 1 year, no upfront",
            Tags="{}",
        )
        rows.append(row)
    return rows + _reservation_rows(rng)


def _reservation_rows(rng: random.Random) -> list[dict[str, str]]:
    """An Azure VM reservation paid upfront on 2025-09-01 (billed once, amortized daily)."""
    commitment = {
        "CommitmentDiscountId": _AZ_RESERVATION,
        "CommitmentDiscountType": "Reservation",
        "CommitmentDiscountCategory": "Usage",
    }
    day = _AZ_PURCHASED
    row = _base("quartz-prod", "Virtual Machines", "eastus", day, day + timedelta(365))
    row.update(_charge("Purchase", "One-Time", _AZ_UPFRONT, Decimal(0), 0, ""))
    row.update(commitment, ChargeDescription="Reserved VM Instance, 1 year, upfront", Tags="{}")
    rows = [row]
    daily = _money(_AZ_UPFRONT / 365)
    for day in _days():
        if day < _AZ_PURCHASED:
            continue
        hours = round(96 * rng.uniform(0.97, 1.0), 3)
        row = _base("quartz-prod", "Virtual Machines", "eastus", day, day + timedelta(1))
        row.update(_charge("Usage", "Usage-Based", Decimal(0), daily, hours, "Hours"))
        row.update(
            commitment,
            ListCost=str(_money(Decimal(str(hours)) * Decimal("0.432"))),
            PricingCategory="Committed",
            CommitmentDiscountStatus="Used",
            ResourceId="vmss-reserved-pool",
            ResourceName="vmss-reserved-pool",
            Tags=_tags("Team=Insights", "pool"),
        )
        rows.append(row)
    return rows


def _monthly_rows(rng: random.Random) -> list[dict[str, str]]:
    """Support, tax, credits and two refunds."""
    rows = []
    monthly = (
        ("granite-prod", "AWS Support (Business)", "Purchase", "Recurring", 310.0, "global"),
        ("granite-prod", "Amazon Elastic Compute Cloud", "Tax", "Recurring", 262.0, "us-east-1"),
        ("quartz-prod", "Virtual Machines", "Tax", "Recurring", 118.0, "eastus"),
        ("slate-prod", "Compute Engine", "Credit", "One-Time", -240.0, "us-central1"),
    )
    for month in _months():
        for account, service, category, freq, amount, region in monthly:
            row = _base(account, service, region, month, _next_month(month))
            value = _money(amount * rng.uniform(0.9, 1.1))
            row.update(_charge(category, freq, value, value, 0, ""))
            row["ChargeDescription"] = {
                "Purchase": "AWS Support (Business) monthly fee",
                "Tax": "Sales tax",
                "Credit": "Committed use discount promotional credit",
            }[category]
            row["Tags"] = "{}"
            rows.append(row)
    refunds = (
        ("granite-prod", "s3", "us-east-1", date(2025, 11, 12), "-420.00"),
        ("quartz-prod", "cosmos", "eastus", date(2026, 1, 22), "-275.50"),
    )
    for account, short, region, day, refund in refunds:
        row = _base(account, SHORT[short], region, day, day + timedelta(days=1))
        row.update(_charge("Adjustment", "One-Time", Decimal(refund), Decimal(refund), 0, ""))
        row.update(ChargeClass="Correction", ChargeDescription="Refund", Tags="{}")
        rows.append(row)
    return rows


COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingCategory", "ProviderName",
    "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ServiceCategory",
    "ServiceName", "ServiceSubcategory", "SubAccountId", "SubAccountName", "Tags",
)  # fmt: skip
"""The FOCUS 1.2 columns the company's export carries (a subset, as real exports do)."""


def write_company(folder: Path) -> tuple[Path, Path]:
    """Write `granite-focus.csv` and `finops.yaml` into `folder`; return both paths."""
    rng = random.Random(SEED)
    rows = [*_usage_rows(rng), *_commitment_rows(rng), *_monthly_rows(rng)]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "granite-focus.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    config = folder / "finops.yaml"
    config.write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    return data, config
