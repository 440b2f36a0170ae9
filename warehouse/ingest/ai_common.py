"""Pieces shared by the AI-provider connectors (OpenAI, Anthropic): the model price table, JSON
page checks, exact number parsing, and the one raw record shape both map to FOCUS.

Both providers report usage as time buckets of token counters; both connectors flatten them to
records of `AI_FIELDS` (all text, so conversions happen in SQL where failures are located) and
share one FOCUS mapping, so OpenAI and Anthropic rows look alike in the warehouse: token types as
separate rows told apart by SkuMeter, the model as SkuId, project/workspace as SubAccountId.

The price table (`warehouse/data/ai_model_prices.csv`, list prices in USD per 1M tokens with the
date they were read) only prices usage counters, which carry no money; billed amounts always come
from the providers' cost reports.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from warehouse.errors import IngestError
from warehouse.ingest.base import LoadContext
from warehouse.ingest.exprs import Expr, col, lit, sql, ts, typed

__all__ = [
    "AI_FIELDS",
    "BATCH_FACTOR",
    "FREE_PROVIDERS",
    "ModelPrice",
    "PriceTable",
    "ai_columns",
    "ai_record",
    "first_bucket",
    "json_pages",
    "load_price_table",
    "price_table",
    "priced_token_row",
    "to_decimal",
    "to_int",
    "unpriced_warning",
]

FREE_PROVIDERS = frozenset({"offline", "scripted"})
"""Model providers that cost nothing (the offline planner, scripted test models)."""

MTOK = Decimal(1_000_000)
BATCH_FACTOR = Decimal("0.5")

AI_FIELDS: tuple[str, ...] = (
    "charge_start",
    "charge_end",
    "charge_category",
    "billed_cost",
    "list_cost",
    "list_unit_price",
    "currency",
    "quantity",
    "unit",
    "description",
    "service_name",
    "sku_id",
    "sku_meter",
    "sub_account_id",
    "sub_account_type",
    "resource_id",
    "resource_type",
    "tags",
    "price_details",
)
"""The raw record every AI-provider connector produces (all text, converted by the mapping)."""

_SNAPSHOT = re.compile(r"(-0)?(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)?")


@dataclass(frozen=True)
class ModelPrice:
    """List prices of one model in USD per 1M tokens, by token kind."""

    provider: str
    model: str
    input: Decimal
    cached_input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    as_of: str

    def per_token(self, kind: str) -> Decimal:
        """USD per token of one kind: input, cached_input, cache_write_5m/1h or output."""
        per_mtok: Decimal = getattr(self, kind)
        return per_mtok / MTOK


class PriceTable:
    """Model list prices; a model id matches its row exactly or with a snapshot/date suffix."""

    def __init__(self, prices: Sequence[ModelPrice], source: str) -> None:
        self.prices = list(prices)
        self.source = source

    def lookup(self, provider: str, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        for price in self.prices:
            if price.provider != provider or not model.startswith(price.model):
                continue
            if _SNAPSHOT.fullmatch(model[len(price.model) :]):
                return price
        return None


def _price(row: Mapping[str, str], name: str, fallback: Decimal | None, where: str) -> Decimal:
    raw = (row.get(name) or "").strip()
    if not raw:
        if fallback is None:
            raise IngestError(f"{where}: missing {name}")
        return fallback
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise IngestError(f"{where}: {name} is not a number: {raw!r}") from None


def _parse_prices(text: str, source: str) -> PriceTable:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    prices = []
    for n, row in enumerate(csv.DictReader(lines), 1):
        where = f"{source}: price row {n}"
        inp = _price(row, "input_usd_per_mtok", None, where)
        prices.append(
            ModelPrice(
                provider=(row.get("provider") or "").strip().lower(),
                model=(row.get("model") or "").strip(),
                input=inp,
                cached_input=_price(row, "cached_input_usd_per_mtok", inp, where),
                cache_write_5m=_price(row, "cache_write_5m_usd_per_mtok", inp, where),
                cache_write_1h=_price(row, "cache_write_1h_usd_per_mtok", inp, where),
                output=_price(row, "output_usd_per_mtok", None, where),
                as_of=(row.get("as_of") or "").strip(),
            )
        )
    return PriceTable(prices, source)


@cache
def _bundled_prices() -> PriceTable:
    text = resources.files("warehouse").joinpath("data/ai_model_prices.csv").read_text()
    return _parse_prices(text, "ai_model_prices.csv")


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """The bundled price table, or the one at `path` (ingest option `prices`)."""
    if path is None:
        return _bundled_prices()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise IngestError(f"cannot read the price table: {exc.strerror}", file=str(path)) from None
    return _parse_prices(text, str(path))


def to_decimal(value: Any, where: str, file: str) -> Decimal:
    """A JSON number or decimal string as an exact Decimal (floats via their shortest repr)."""
    if value is None or isinstance(value, bool | dict | list):
        raise IngestError(f"{where}: expected a number, got {value!r}", file=file)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise IngestError(f"{where}: expected a number, got {value!r}", file=file) from None
    if not number.is_finite():
        raise IngestError(f"{where}: expected a finite number, got {value!r}", file=file)
    return number


def to_int(value: Any, where: str, file: str) -> int:
    """A token or request counter: a whole number (missing counts as 0)."""
    if value is None:
        return 0
    number = to_decimal(value, where, file)
    if number != number.to_integral_value():
        raise IngestError(f"{where}: expected a whole number, got {value!r}", file=file)
    return int(number)


def json_pages(document: Any, file: str) -> list[dict[str, Any]]:
    """One page or a list of pages; each must be an object with a `data` list of buckets."""
    pages = document if isinstance(document, list) else [document]
    for n, page in enumerate(pages, 1):
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise IngestError(f"page {n}: expected an object with a `data` list", file=file)
        for b, bucket in enumerate(page["data"], 1):
            if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
                raise IngestError(f"page {n}, bucket {b}: expected a `results` list", file=file)
    return pages


def first_bucket(document: Any) -> dict[str, Any] | None:
    """The first time bucket of a page or list of pages (for format detection)."""
    pages = document if isinstance(document, list) else [document]
    for page in pages:
        data = page.get("data") if isinstance(page, dict) else None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            return data[0]
    return None


def ai_record(
    *,
    start: str,
    end: str,
    cost: Decimal,
    currency: str,
    description: str,
    service: str,
    sku_id: str | None = None,
    meter: str | None = None,
    quantity: Decimal | int | None = None,
    unit: str | None = None,
    unit_price: Decimal | None = None,
    sub_account: str | None = None,
    sub_account_type: str | None = None,
    resource_id: str | None = None,
    resource_type: str | None = None,
    tags: Mapping[str, Any] | None = None,
    price_details: Mapping[str, Any] | None = None,
) -> dict[str, str | None]:
    """One raw AI-provider row in the `AI_FIELDS` shape."""

    def obj(values: Mapping[str, Any] | None) -> str | None:
        kept = {k: v for k, v in (values or {}).items() if v is not None}
        return json.dumps(kept, sort_keys=True, separators=(",", ":")) if kept else None

    return {
        "charge_start": start,
        "charge_end": end,
        "charge_category": "Credit" if cost < 0 else "Usage",
        "billed_cost": str(cost),
        "list_cost": str(cost),
        "list_unit_price": None if unit_price is None else str(unit_price),
        "currency": currency,
        "quantity": None if quantity is None else str(quantity),
        "unit": unit,
        "description": description,
        "service_name": service,
        "sku_id": sku_id,
        "sku_meter": meter,
        "sub_account_id": sub_account,
        "sub_account_type": sub_account_type if sub_account else None,
        "resource_id": resource_id,
        "resource_type": resource_type if resource_id else None,
        "tags": obj(tags),
        "price_details": obj(price_details),
    }


def ai_columns(provider: str, billing_account: str) -> dict[str, Expr]:
    """FOCUS mapping of `AI_FIELDS` records; billing period = calendar month of the charge."""
    start = ts("charge_start")
    month = typed(sql("CAST(date_trunc('month', {}) AS TIMESTAMP)", start), "TIMESTAMP")
    cost = col("billed_cost")
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ContractedCost": cost,
        "ListCost": col("list_cost"),
        "ListUnitPrice": col("list_unit_price"),
        "ContractedUnitPrice": col("list_unit_price"),
        "BillingCurrency": col("currency"),
        "BillingAccountId": lit(billing_account),
        "BillingPeriodStart": month,
        "BillingPeriodEnd": typed(sql("{} + INTERVAL 1 MONTH", month), "TIMESTAMP"),
        "ChargePeriodStart": start,
        "ChargePeriodEnd": ts("charge_end"),
        "ChargeCategory": col("charge_category"),
        "ChargeFrequency": lit("Usage-Based"),
        "ChargeDescription": col("description"),
        "ConsumedQuantity": col("quantity"),
        "ConsumedUnit": col("unit"),
        "PricingQuantity": col("quantity"),
        "PricingUnit": col("unit"),
        "ProviderName": lit(provider),
        "PublisherName": lit(provider),
        "InvoiceIssuerName": lit(provider),
        "ServiceCategory": lit("AI and Machine Learning"),
        "ServiceSubcategory": lit("Generative AI"),
        "ServiceName": col("service_name"),
        "SkuId": col("sku_id"),
        "SkuMeter": col("sku_meter"),
        "SkuPriceDetails": col("price_details"),
        "SubAccountId": col("sub_account_id"),
        "SubAccountType": col("sub_account_type"),
        "ResourceId": col("resource_id"),
        "ResourceType": col("resource_type"),
        "Tags": col("tags"),
    }


def price_table(ctx: LoadContext) -> PriceTable:
    path = ctx.options.get("prices")
    return load_price_table(str(path) if path else None)


def unpriced_warning(file: str, unpriced: Counter[str]) -> str:
    labels = ", ".join(f"{k} ({n})" for k, n in sorted(unpriced.items()))
    return (
        f"{file}: {sum(unpriced.values())} usage row(s) without a list price kept with cost 0: "
        f"{labels}; ingest the provider's cost report for billed amounts"
    )


def priced_token_row(
    price: ModelPrice | None,
    price_kind: str,
    tokens: int,
    *,
    discount: Decimal,
    label: str,
    meter: str,
    base: Mapping[str, Any],
    details: Mapping[str, Any],
) -> dict[str, str | None]:
    """A token row priced at list price (cost 0 without a price); shared with Anthropic."""
    extra: dict[str, Any] = {}
    if price is None:
        unit_price, cost, how = None, Decimal(0), "no list price: cost 0"
    else:
        unit_price = price.per_token(price_kind) * discount
        cost = unit_price * tokens
        how = "priced at list price"
        extra = {"x_PriceAsOf": price.as_of, "x_PriceModel": price.model}
    return ai_record(
        cost=cost,
        quantity=tokens,
        unit="Tokens",
        unit_price=unit_price,
        meter=meter,
        description=f"{label} {meter.lower()} ({how})",
        price_details={**extra, **details},
        **base,
    )
