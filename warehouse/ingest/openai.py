"""OpenAI organization Costs API and Usage API pages → FOCUS rows.

Inputs are JSON pages of `GET /v1/organization/costs` and `GET /v1/organization/usage/<kind>`:
one page, a JSON array of pages, or JSON lines with one page per line (what
`warehouse.ingest.provider_api.pull_openai` writes). `has_more` / `next_page` are ignored here.
Each page holds time buckets (`start_time` / `end_time` in Unix seconds, UTC) of results.

* Costs results (`organization.costs.result`): one row each, `amount.value` in currency units
  (dollars, lowercase ISO code) as BilledCost; `line_item` ("gpt-4o-2024-08-06, input") becomes
  SkuId (model) and SkuMeter (what was metered, "Input Tokens" as in the usage rows);
  `quantity` / `quantity_unit` become ConsumedQuantity / ConsumedUnit.
* Usage results carry no money. Token counts become one row per token type — uncached input,
  cached input, cache-write input and output are kept apart (SkuMeter and ChargeDescription say
  which) — priced from the bundled list-price table `warehouse/data/ai_model_prices.csv` (USD per
  1M tokens; batch usage at half price). Why price them: the usage endpoints have minute/hour
  buckets and per-model detail, so priced usage is the near-real-time signal the anomaly and
  self-budget checks need, while the costs endpoint is daily. The rows say "priced at list
  price" with ListUnitPrice set and the price-table row in SkuPriceDetails. Models missing from
  the table, and non-token usage (images, audio seconds, searches, sessions, vector-store bytes),
  are kept with their quantity and cost 0, with one warning per file. Ingest usage pages under
  their own source name (`--source openai-usage`): under one source name costs and usage of the
  same day would replace each other, and in one ingest they would count the same spend twice.

SubAccountId is the project, ResourceId the API key (the handle a "disable runaway key" action
needs), Tags hold project / API key / user ids. `replace_scope` is `charge_day`: a pull of the last
N days replaces exactly those days. Options: `billing_account_id` (default `openai`, since pages
do not name the organization) and `prices` (path of a replacement price table).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from warehouse.errors import IngestError
from warehouse.ingest.ai_common import (
    AI_FIELDS,
    BATCH_FACTOR,
    PriceTable,
    ai_columns,
    ai_record,
    first_bucket,
    json_pages,
    price_table,
    priced_token_row,
    to_decimal,
    to_int,
    unpriced_warning,
)
from warehouse.ingest.base import (
    Connector,
    LoadContext,
    LocalFile,
    Probe,
    load_records,
    read_json_document,
)
from warehouse.ingest.exprs import Expr

__all__ = ["OpenAIConnector", "openai_records"]


_SERVICE = "OpenAI API"
_UNITS = {
    "tokens": "Tokens",
    "1000_tokens": "1000 Tokens",
    "duration_seconds": "Seconds",
    "duration_minutes": "Minutes",
    "duration_hours": "Hours",
    "gibibyte_hours": "GiB-Hours",
    "images": "Images",
    "characters": "Characters",
}
_LINE_ITEM_METERS = {
    "input": "Input Tokens",
    "cached input": "Cached Input Tokens",
    "output": "Output Tokens",
}
"""Token kinds of `line_item` ("<model>, <kind>") named like the usage rows' SkuMeter."""
_COUNTS = {
    "images": ("images", "Images"),
    "audio_speeches": ("characters", "Characters"),
    "audio_transcriptions": ("seconds", "Seconds"),
    "code_interpreter_sessions": ("num_sessions", "Sessions"),
    "file_searches": ("num_requests", "Requests"),
    "web_searches": ("num_requests", "Requests"),
    "vector_stores": ("usage_bytes", "Bytes"),
}


def _unix(value: Any, where: str, file: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IngestError(f"{where}: expected Unix seconds, got {value!r}", file=file)
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ids(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sub_account": result.get("project_id"),
        "sub_account_type": "Project",
        "resource_id": result.get("api_key_id"),
        "resource_type": "API Key",
        "tags": {k: result.get(k) for k in ("project_id", "api_key_id", "user_id")},
    }


def _cost_row(
    result: Mapping[str, Any], start: str, end: str, where: str, file: str
) -> dict[str, str | None]:
    amount = result.get("amount")
    if not isinstance(amount, dict):
        raise IngestError(f"{where}: missing `amount` object", file=file)
    cost = to_decimal(amount.get("value"), f"{where}: amount.value", file)
    line_item = result.get("line_item")
    model, _, meter = str(line_item or "").rpartition(", ")
    quantity = result.get("quantity")
    unit = result.get("quantity_unit")
    return ai_record(
        start=start,
        end=end,
        cost=cost,
        currency=str(amount.get("currency") or "usd"),
        description=str(line_item) if line_item else "OpenAI API costs",
        service=_SERVICE,
        sku_id=model or None,
        meter=_LINE_ITEM_METERS.get(meter.lower(), meter) or None,
        quantity=None if quantity is None else to_decimal(quantity, f"{where}: quantity", file),
        unit=_UNITS.get(str(unit), str(unit)) if unit else None,
        **_ids(result),
    )


def _token_counts(
    kind: str, result: Mapping[str, Any], where: str, file: str
) -> list[tuple[str, str, int]]:
    """(meter, price kind, tokens) for each token type of a usage result, zeros dropped."""

    def n(name: str) -> int:
        return to_int(result.get(name), f"{where}: {name}", file)

    if kind in ("embeddings", "moderations"):
        counts = [("Input Tokens", "input", n("input_tokens"))]
    else:
        cached, write = n("input_cached_tokens"), n("input_cache_write_tokens")
        uncached = result.get("input_uncached_tokens")
        plain = (
            n("input_tokens") - cached - write if uncached is None else n("input_uncached_tokens")
        )
        counts = [
            ("Input Tokens", "input", plain),
            ("Cached Input Tokens", "cached_input", cached),
            ("Cache Write Input Tokens", "cache_write_5m", write),
            ("Output Tokens", "output", n("output_tokens")),
        ]
    return [c for c in counts if c[2]]


def _usage_rows(
    kind: str, result: Mapping[str, Any], span: tuple[str, str], run: _Run
) -> list[dict[str, str | None]]:
    where = run.where
    model = result.get("model")
    base: dict[str, Any] = {
        "start": span[0],
        "end": span[1],
        "currency": "USD",
        "service": _SERVICE,
        "sku_id": model,
        **_ids(result),
    }
    if kind in _COUNTS:
        field_, unit = _COUNTS[kind]
        run.unpriced[f"{kind} {unit.lower()}"] += 1
        quantity = to_int(result.get(field_), f"{where}: {field_}", run.file)
        desc = f"OpenAI {kind.replace('_', ' ')} ({unit.lower()}; no list price: cost 0)"
        return [
            ai_record(
                cost=Decimal(0), quantity=quantity, unit=unit, meter=unit, description=desc, **base
            )
        ]
    price = run.prices.lookup("openai", model)
    batch = result.get("batch") is True
    details = {"x_Batch": True if batch else None, "x_ServiceTier": result.get("service_tier")}
    rows = []
    for meter, price_kind, tokens in _token_counts(kind, result, where, run.file):
        if price is None:
            run.unpriced[f"model {model or 'not grouped'}"] += 1
        rows.append(
            priced_token_row(
                price,
                price_kind,
                tokens,
                discount=BATCH_FACTOR if batch else Decimal(1),
                label=str(model or f"OpenAI {kind}"),
                meter=meter,
                base=base,
                details=details,
            )
        )
    return rows


@dataclass
class _Run:
    file: str
    prices: PriceTable
    unpriced: Counter[str]
    where: str = ""


def openai_records(pages: Sequence[Mapping[str, Any]], run: _Run) -> list[dict[str, str | None]]:
    """Flatten OpenAI costs / usage pages into `AI_FIELDS` records."""
    records: list[dict[str, str | None]] = []
    for p, page in enumerate(pages, 1):
        for b, bucket in enumerate(page["data"], 1):
            loc = f"page {p}, bucket {b}"
            span = (
                _unix(bucket.get("start_time"), f"{loc}: start_time", run.file),
                _unix(bucket.get("end_time"), f"{loc}: end_time", run.file),
            )
            for r, result in enumerate(bucket["results"], 1):
                run.where = f"{loc}, result {r}"
                obj = str(result.get("object", "")) if isinstance(result, dict) else ""
                kind = obj.removeprefix("organization.usage.").removesuffix(".result")
                if obj == "organization.costs.result":
                    records.append(_cost_row(result, *span, run.where, run.file))
                elif obj.startswith("organization.usage."):
                    records.extend(_usage_rows(kind, result, span, run))
                else:
                    raise IngestError(f"{run.where}: unknown result object {obj!r}", file=run.file)
    return records


class OpenAIConnector(Connector):
    """OpenAI organization Costs / Usage API pages (JSON, JSON array or JSON lines)."""

    format = "openai"
    description = "OpenAI /v1/organization/costs and /usage/* API pages (JSON or JSON lines)"
    replace_scope = "charge_day"

    def detect(self, probe: Probe) -> bool:
        doc = probe.document
        pages = doc if isinstance(doc, list) else [doc]
        if pages and isinstance(pages[0], dict) and pages[0].get("object") == "page":
            return True
        bucket = first_bucket(doc)
        return bucket is not None and {"start_time", "results"} <= set(bucket)

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        pages = json_pages(read_json_document(file), file.display)
        run = _Run(file.display, price_table(ctx), Counter())
        records = openai_records(pages, run)
        if run.unpriced:
            ctx.warn(unpriced_warning(file.display, run.unpriced))
        return load_records(ctx, records, view, AI_FIELDS)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        account = str(ctx.options.get("billing_account_id") or "openai")
        return ai_columns("OpenAI", account)
