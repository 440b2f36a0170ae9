"""Snowflake credit-metering CSV exports → FOCUS rows.

Accepted exports (column names case-insensitive) of the ACCOUNT_USAGE / ORGANIZATION_USAGE views:

* `WAREHOUSE_METERING_HISTORY` — hourly credits per warehouse (START_TIME, END_TIME,
  WAREHOUSE_ID, WAREHOUSE_NAME, CREDITS_USED, CREDITS_USED_COMPUTE, CREDITS_USED_CLOUD_SERVICES,
  …; the organization view adds ORGANIZATION_NAME, ACCOUNT_NAME, REGION, SERVICE_TYPE);
* `METERING_HISTORY` — hourly credits per service (SERVICE_TYPE, START_TIME, END_TIME, ENTITY_ID,
  ENTITY_TYPE, NAME, CREDITS_USED…, DATABASE_NAME, SCHEMA_NAME where present);
* `METERING_DAILY_HISTORY` — daily credits per service with CREDITS_BILLED (USAGE_DATE,
  SERVICE_TYPE, CREDITS_USED, CREDITS_ADJUSTMENT_CLOUD_SERVICES, CREDITS_BILLED).

One row per exported row. Credits are CREDITS_BILLED where the view has it, else CREDITS_USED,
which (as Snowflake documents) does not subtract the daily cloud-services adjustment and so can
exceed what is billed; export METERING_DAILY_HISTORY when the exact bill matters. Money is
credits × `snowflake.credit_price` from finops.yaml, in `snowflake.currency`, as exact decimals.
Following FOCUS 1.2's virtual-currency guidance (the spec's SaaS token examples), credits are the
pricing currency: PricingCurrency "Credits", PricingQuantity and PricingCurrencyEffectiveCost the
credits, PricingCurrency unit prices 1, ListUnitPrice / ContractedUnitPrice the contract price of
one credit, ConsumedQuantity the credits with ConsumedUnit "Credits".

Timestamps are TIMESTAMP_LTZ exports such as `2024-05-01 10:00:00.000 -0700`; the offset is
honoured and rows are stored in UTC. ResourceName is the warehouse (or the metered object's NAME),
ResourceId its id, SubAccountId the account (ACCOUNT_NAME, else `snowflake.account_name`),
BillingAccountId the organization (else the account name, else "snowflake"). `replace_scope` is
`charge_day`: a re-export of overlapping days replaces those days only. Export one view per
source name: WAREHOUSE_METERING_HISTORY rows are also in METERING_HISTORY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from warehouse.ingest.base import Connector, LoadContext, LocalFile, Probe, load_csv, require
from warehouse.ingest.exprs import Expr, coalesce, col, dec, json_obj, lit, null, sql, ts

__all__ = ["SnowflakeConnector"]

_HOURLY = {"START_TIME", "END_TIME", "CREDITS_USED"}
_DAILY = {"USAGE_DATE", "CREDITS_BILLED"}
_OFFSET = r"'\s*([+-]\d{{2}}):?(\d{{2}})$', '\1:\2'"
"""`-0700` / ` -07:00` at the end → `-07:00`, the offset form DuckDB parses."""


def _timestamp(e: Expr) -> Expr:
    return ts(sql(f"regexp_replace(trim(CAST({{}} AS VARCHAR)), {_OFFSET})", e))


class _Columns:
    """Case-insensitive access to the export's columns."""

    def __init__(self, raw_columns: Sequence[str]) -> None:
        self.names = {c.upper(): c for c in raw_columns}

    def get(self, *names: str) -> Expr | None:
        for name in names:
            if name in self.names:
                return col(self.names[name])
        return None

    def text(self, *names: str) -> Expr:
        """The first present column (CSV columns are text already), or NULL."""
        return self.get(*names) or null()


def _category(service: Expr) -> tuple[Expr, Expr]:
    kind = sql("upper(coalesce({}, 'WAREHOUSE_METERING'))", service)
    category = sql(
        "CASE WHEN {0} = 'AI_SERVICES' THEN 'AI and Machine Learning'"
        " WHEN {0} = 'SNOWPARK_CONTAINER_SERVICES' THEN 'Compute' ELSE 'Databases' END",
        kind,
    )
    subcategory = sql(
        "CASE WHEN {0} LIKE 'WAREHOUSE_METERING%' THEN 'Data Warehouses'"
        " WHEN {0} = 'AI_SERVICES' THEN 'Generative AI'"
        " WHEN {0} = 'SNOWPARK_CONTAINER_SERVICES' THEN 'Containers'"
        " ELSE 'Other (Databases)' END",
        kind,
    )
    return category, subcategory


def _periods(cols: _Columns) -> dict[str, Expr]:
    start_col = cols.get("START_TIME")
    if start_col is None:
        start = ts(cols.text("USAGE_DATE"))
        end = sql("{} + INTERVAL 1 DAY", start)
    else:
        start = _timestamp(start_col)
        end = _timestamp(cols.text("END_TIME"))
    month = sql("CAST(date_trunc('month', {}) AS TIMESTAMP)", start)
    return {
        "ChargePeriodStart": start,
        "ChargePeriodEnd": end,
        "BillingPeriodStart": month,
        "BillingPeriodEnd": sql("{} + INTERVAL 1 MONTH", month),
    }


def _resource(cols: _Columns) -> dict[str, Expr]:
    name = cols.text("WAREHOUSE_NAME", "NAME")
    kind = lit("Warehouse") if cols.get("WAREHOUSE_NAME") else cols.text("ENTITY_TYPE")
    tags = {
        key: cols.text(column)
        for key, column in (
            ("warehouse", "WAREHOUSE_NAME"),
            ("database", "DATABASE_NAME"),
            ("schema", "SCHEMA_NAME"),
        )
        if cols.get(column) is not None
    }
    return {
        "ResourceId": coalesce(cols.text("WAREHOUSE_ID", "ENTITY_ID"), name),
        "ResourceName": name,
        "ResourceType": kind,
        "Tags": json_obj(tags),
        "RegionId": cols.text("REGION"),
        "RegionName": cols.text("REGION"),
    }


class SnowflakeConnector(Connector):
    """Snowflake (WAREHOUSE_)METERING_(DAILY_)HISTORY CSV exports, credits priced from config."""

    format = "snowflake"
    description = "Snowflake METERING_HISTORY / WAREHOUSE_METERING_HISTORY CSV export"
    replace_scope = "charge_day"

    def detect(self, probe: Probe) -> bool:
        upper = {c.upper() for c in probe.columns}
        return upper >= _HOURLY or upper >= _DAILY

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        return load_csv(ctx, file, view)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        cols = _Columns(raw_columns)
        upper = set(cols.names)
        if not upper >= _DAILY:
            require(upper, sorted(_HOURLY), "Snowflake metering")
        settings = ctx.config.snowflake
        credits = dec(cols.get("CREDITS_BILLED", "CREDITS_USED") or null())
        cost = sql("{} * {}", credits, lit(settings.credit_price))
        service = cols.text("SERVICE_TYPE")
        category, subcategory = _category(service)
        account = lit(settings.account_name)
        sub_account = coalesce(cols.text("ACCOUNT_NAME"), account)
        return {
            "BilledCost": cost,
            "EffectiveCost": cost,
            "ContractedCost": cost,
            "ListCost": cost,
            "BillingCurrency": lit(settings.currency),
            "ListUnitPrice": lit(settings.credit_price),
            "ContractedUnitPrice": lit(settings.credit_price),
            "PricingCurrency": lit("Credits"),
            "PricingCurrencyEffectiveCost": credits,
            "PricingCurrencyListUnitPrice": lit(1),
            "PricingCurrencyContractedUnitPrice": lit(1),
            "PricingQuantity": credits,
            "PricingUnit": lit("Credits"),
            "ConsumedQuantity": credits,
            "ConsumedUnit": lit("Credits"),
            "BillingAccountId": coalesce(cols.text("ORGANIZATION_NAME"), account, lit("snowflake")),
            "SubAccountId": sub_account,
            "SubAccountType": sql("CASE WHEN {} IS NOT NULL THEN 'Account' END", sub_account),
            "ChargeCategory": lit("Usage"),
            "ChargeFrequency": lit("Usage-Based"),
            "ChargeDescription": sql(
                "concat_ws(' ', 'Snowflake credits:', coalesce({}, 'WAREHOUSE_METERING'), {})",
                service,
                cols.text("WAREHOUSE_NAME", "NAME"),
            ),
            "ProviderName": lit("Snowflake"),
            "PublisherName": lit("Snowflake"),
            "InvoiceIssuerName": lit("Snowflake"),
            "ServiceName": lit("Snowflake"),
            "ServiceCategory": category,
            "ServiceSubcategory": subcategory,
            "SkuId": coalesce(service, lit("WAREHOUSE_METERING")),
            "SkuMeter": lit("Credits"),
            **_periods(cols),
            **_resource(cols),
        }
