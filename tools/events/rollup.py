"""Usage events as FOCUS rows in `costs` (source `usage-events`), so `finops spend` sees them.

Granularity: one row per hour × agent × model × API key × team × project × token kind (uncached
input, cache read, cache write, output: separate rows told apart by SkuMeter, like the OpenAI,
Anthropic and finops-agent rows). Each row's cost is its token count × the per-token list price
the events were priced at, so the rows of an hour add up exactly to the events' costs.

Idempotent by construction: the rows of every hour a flush touched are deleted and re-derived from
`usage_events_hourly` (small: one row per group and hour) in the flush's transaction, so a retry,
a restart or `rebuild_focus_rows` never doubles anything. Tags carry `agent_id`, `team`,
`api_key_id`, `project` (the keys the demo's provider rows use, so virtual tags and the runaway
norm treat both alike) and `finops:source: usage-events`. These are list-price estimates in real
time; the provider's invoice (ingested later under its own source) is the billed truth, so filter
one of the two out when both describe the same spend (e.g. `--filter tag:finops:source=...`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import duckdb

from warehouse.ingest.ai_common import ModelPrice

__all__ = ["SOURCE", "PriceRow", "price_row", "rebuild_focus_rows", "write_focus_rows"]

SOURCE = "usage-events"
SOURCE_FILE = "POST /v1/usage-events"

_KINDS = (
    ("uncached_input_tokens", "unit_input", "Input Tokens"),
    ("cache_read_tokens", "unit_cache_read", "Cache Read Tokens"),
    ("cache_write_tokens", "unit_cache_write", "Cache Write Tokens"),
    ("output_tokens", "unit_output", "Output Tokens"),
)

_PROVIDER_SQL = (
    "CASE h.provider WHEN 'anthropic' THEN 'Anthropic' WHEN 'openai' THEN 'OpenAI' "
    "ELSE h.provider END"
)
_SERVICE_SQL = (
    "CASE h.provider WHEN 'anthropic' THEN 'Claude API' WHEN 'openai' THEN 'OpenAI API' "
    "ELSE h.provider || ' API' END"
)
_TAGS_SQL = """json_merge_patch(json_merge_patch(json_merge_patch(
    json_object('agent_id', h.agent_id, 'finops:source', 'usage-events'),
    CASE WHEN h.team <> '' THEN json_object('team', h.team) ELSE '{}' END),
    CASE WHEN h.api_key_id <> '' THEN json_object('api_key_id', h.api_key_id) ELSE '{}' END),
    CASE WHEN h.project_id <> '' THEN json_object('project', h.project_id) ELSE '{}' END)"""


@dataclass(frozen=True)
class PriceRow:
    """Per-token USD prices of one price-table row (what events of that model were priced at)."""

    provider: str
    price_model: str
    as_of: str
    unit_input: Decimal
    unit_cache_read: Decimal
    unit_cache_write: Decimal
    unit_output: Decimal


def price_row(price: ModelPrice) -> PriceRow:
    return PriceRow(
        provider=price.provider,
        price_model=price.model,
        as_of=price.as_of,
        unit_input=price.per_token("input"),
        unit_cache_read=price.per_token("cached_input"),
        unit_cache_write=price.per_token("cache_write_5m"),
        unit_output=price.per_token("output"),
    )


def _select(tokens: str, unit: str, meter: str) -> str:
    cost = f"CAST(h.{tokens} * h.{unit} AS DECIMAL(38,12))"
    return f"""
    SELECT {cost} AS BilledCost, {cost} AS EffectiveCost, {cost} AS ContractedCost,
           {cost} AS ListCost, CAST(h.{unit} AS DECIMAL(38,12)) AS ListUnitPrice,
           CAST(h.{unit} AS DECIMAL(38,12)) AS ContractedUnitPrice,
           'USD' AS BillingCurrency, 'usage-events:' || h.provider AS BillingAccountId,
           CAST(date_trunc('month', h.hour) AS TIMESTAMP) AS BillingPeriodStart,
           CAST(date_trunc('month', h.hour) + INTERVAL 1 MONTH AS TIMESTAMP) AS BillingPeriodEnd,
           h.hour AS ChargePeriodStart, h.hour + INTERVAL 1 HOUR AS ChargePeriodEnd,
           'Usage' AS ChargeCategory, 'Usage-Based' AS ChargeFrequency,
           h.agent_id || ': ' || h.model || ' {meter.lower()} (usage events, list price)'
               AS ChargeDescription,
           CAST(h.{tokens} AS DECIMAL(38,12)) AS ConsumedQuantity, 'Tokens' AS ConsumedUnit,
           CAST(h.{tokens} AS DECIMAL(38,12)) AS PricingQuantity, 'Tokens' AS PricingUnit,
           'Standard' AS PricingCategory,
           {_PROVIDER_SQL} AS ProviderName, {_PROVIDER_SQL} AS PublisherName,
           {_PROVIDER_SQL} AS InvoiceIssuerName,
           'AI and Machine Learning' AS ServiceCategory, 'Generative AI' AS ServiceSubcategory,
           {_SERVICE_SQL} AS ServiceName, h.model AS SkuId, '{meter}' AS SkuMeter,
           CAST(json_object('x_PriceModel', h.price_model, 'x_PriceAsOf', h.price_as_of)
                AS JSON) AS SkuPriceDetails,
           nullif(h.project_id, '') AS SubAccountId,
           CASE WHEN h.project_id <> '' THEN 'Project' END AS SubAccountType,
           nullif(h.api_key_id, '') AS ResourceId, h.agent_id AS ResourceName,
           CASE WHEN h.api_key_id <> '' THEN 'API Key' END AS ResourceType,
           CAST({_TAGS_SQL} AS JSON) AS Tags
    FROM usage_events_hourly h
    WHERE h.hour IN (SELECT hour FROM usage_events_touched) AND h.{tokens} > 0"""


_COLUMNS = (
    "BilledCost, EffectiveCost, ContractedCost, ListCost, ListUnitPrice, ContractedUnitPrice, "
    "BillingCurrency, BillingAccountId, BillingPeriodStart, BillingPeriodEnd, ChargePeriodStart, "
    "ChargePeriodEnd, ChargeCategory, ChargeFrequency, ChargeDescription, ConsumedQuantity, "
    "ConsumedUnit, PricingQuantity, PricingUnit, PricingCategory, ProviderName, PublisherName, "
    "InvoiceIssuerName, ServiceCategory, ServiceSubcategory, ServiceName, SkuId, SkuMeter, "
    "SkuPriceDetails, SubAccountId, SubAccountType, ResourceId, ResourceName, ResourceType, Tags"
)


def write_focus_rows(
    con: duckdb.DuckDBPyConnection, hours: Sequence[datetime], now: datetime
) -> int:
    """Replace the `usage-events` FOCUS rows of `hours` (inside the caller's transaction)."""
    if not hours:
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE usage_events_touched (hour TIMESTAMP)")
    con.executemany("INSERT INTO usage_events_touched VALUES (?)", [(h,) for h in hours])
    con.execute(
        "DELETE FROM costs WHERE x_SourceName = ? AND ChargePeriodStart IN "
        "(SELECT hour FROM usage_events_touched)",
        [SOURCE],
    )
    union = " UNION ALL ".join(_select(*kind) for kind in _KINDS)
    row = con.execute(
        f"INSERT INTO costs ({_COLUMNS}, x_SourceName, x_SourceFile, x_IngestedAt, x_IngestId) "
        f"SELECT *, ?, ?, ?, ? FROM ({union})",
        [SOURCE, SOURCE_FILE, now.replace(tzinfo=None), f"{SOURCE}-{now:%Y%m%dT%H%M%S}"],
    ).fetchone()
    con.execute("DROP TABLE usage_events_touched")
    return int(row[0]) if row else 0


def rebuild_focus_rows(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Re-derive every `usage-events` FOCUS row from `usage_events_hourly` (repair, idempotent)."""
    hours = [r[0] for r in con.execute("SELECT DISTINCT hour FROM usage_events_hourly").fetchall()]
    con.begin()
    try:
        con.execute("DELETE FROM costs WHERE x_SourceName = ?", [SOURCE])
        written = write_focus_rows(con, hours, now)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return written
