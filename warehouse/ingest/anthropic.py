"""Anthropic Admin API cost report and messages usage report pages → FOCUS rows.

Inputs are JSON pages of `GET /v1/organizations/cost_report` and
`GET /v1/organizations/usage_report/messages`: one page, a JSON array of pages, or JSON lines
(what `warehouse.ingest.provider_api.pull_anthropic` writes). Each page holds time buckets
(`starting_at` / `ending_at`, RFC 3339, end exclusive) of results.

* Cost results (they have `amount`): `amount` is a decimal string in the currency's lowest unit
  (cents), so "123.45" is USD 1.2345 — converted exactly with Decimal, never through float. When
  grouped by description, `model` becomes SkuId and `token_type` / `cost_type` the SkuMeter.
* Usage results carry token counters only: uncached input, cache read, 5-minute and 1-hour cache
  writes and output become separate rows (SkuMeter / ChargeDescription say which), priced from
  the bundled list-price table like OpenAI usage (see `warehouse.ingest.openai` for why, and for
  why usage belongs under its own source name). The `batch` service tier is priced at half;
  long-context (> 200k) premiums are not modelled. Web-search requests are kept as a quantity
  with cost 0 and a warning.

SubAccountId is the workspace (null is the default workspace), ResourceId the API key, Tags hold
workspace and API key ids; service tier, context window and inference geography go to
SkuPriceDetails. `replace_scope` is `charge_day`. Option `billing_account_id` names the
organization (default `anthropic`); option `prices` replaces the price table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
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

__all__ = ["AnthropicConnector", "anthropic_records"]

_SERVICE = "Claude API"
_CENTS = Decimal(100)
_TOKEN_METERS: dict[str, tuple[str, str]] = {
    "uncached_input_tokens": ("Input Tokens", "input"),
    "cache_read_input_tokens": ("Cache Read Input Tokens", "cached_input"),
    "cache_creation.ephemeral_5m_input_tokens": ("Cache Write 5m Input Tokens", "cache_write_5m"),
    "cache_creation.ephemeral_1h_input_tokens": ("Cache Write 1h Input Tokens", "cache_write_1h"),
    "output_tokens": ("Output Tokens", "output"),
}
"""Token type (as the cost report names it) → SkuMeter and price-table column."""
_COST_METERS = {
    "web_search": "Web Search Requests",
    "code_execution": "Code Execution",
    "session_usage": "Session Usage",
}


def _common(result: Mapping[str, Any], start: str, end: str) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "service": _SERVICE,
        "sku_id": result.get("model"),
        "sub_account": result.get("workspace_id"),
        "sub_account_type": "Workspace",
        "resource_id": result.get("api_key_id"),
        "resource_type": "API Key",
        "tags": {k: result.get(k) for k in ("workspace_id", "api_key_id")},
    }


def _details(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "x_ServiceTier": result.get("service_tier"),
        "x_ContextWindow": result.get("context_window"),
        "x_InferenceGeo": result.get("inference_geo"),
    }


def _cost_row(
    result: Mapping[str, Any], span: tuple[str, str], where: str, file: str
) -> dict[str, str | None]:
    cents = result.get("amount")
    if isinstance(cents, dict):
        raise IngestError(f"{where}: `amount` must be a decimal string in cents", file=file)
    cost = to_decimal(cents, f"{where}: amount", file) / _CENTS
    token_type, cost_type = result.get("token_type"), result.get("cost_type")
    meter = _TOKEN_METERS.get(str(token_type), (token_type, ""))[0] if token_type else None
    meter = meter or _COST_METERS.get(str(cost_type), cost_type)
    label = " ".join(str(p) for p in (result.get("model"), meter) if p)
    return ai_record(
        cost=cost,
        currency=str(result.get("currency") or "USD"),
        description=str(result.get("description") or label or "Claude API costs"),
        meter=meter,
        price_details=_details(result),
        **_common(result, *span),
    )


def _usage_counts(result: Mapping[str, Any], where: str, file: str) -> dict[str, int]:
    creation = result.get("cache_creation") or {}
    tools = result.get("server_tool_use") or {}
    if not isinstance(creation, dict) or not isinstance(tools, dict):
        raise IngestError(f"{where}: cache_creation / server_tool_use must be objects", file=file)
    values = {
        "uncached_input_tokens": result.get("uncached_input_tokens"),
        "cache_read_input_tokens": result.get("cache_read_input_tokens"),
        "cache_creation.ephemeral_5m_input_tokens": creation.get("ephemeral_5m_input_tokens"),
        "cache_creation.ephemeral_1h_input_tokens": creation.get("ephemeral_1h_input_tokens"),
        "output_tokens": result.get("output_tokens"),
        "web_search_requests": tools.get("web_search_requests"),
    }
    return {k: to_int(v, f"{where}: {k}", file) for k, v in values.items()}


def _usage_rows(
    result: Mapping[str, Any],
    span: tuple[str, str],
    where: str,
    file: str,
    prices: PriceTable,
    unpriced: Counter[str],
) -> list[dict[str, str | None]]:
    model = result.get("model")
    base = {**_common(result, *span), "currency": "USD"}
    price = prices.lookup("anthropic", model)
    batch = result.get("service_tier") == "batch"
    counts = _usage_counts(result, where, file)
    rows = []
    for token_type, (meter, price_kind) in _TOKEN_METERS.items():
        if not counts[token_type]:
            continue
        if price is None:
            unpriced[f"model {model or 'not grouped'}"] += 1
        rows.append(
            priced_token_row(
                price,
                price_kind,
                counts[token_type],
                discount=BATCH_FACTOR if batch else Decimal(1),
                label=str(model or "Claude API"),
                meter=meter,
                base=base,
                details=_details(result),
            )
        )
    if counts["web_search_requests"]:
        unpriced["web search requests"] += 1
        rows.append(
            ai_record(
                cost=Decimal(0),
                quantity=counts["web_search_requests"],
                unit="Requests",
                meter="Web Search Requests",
                description="Claude API web search requests (no list price: cost 0)",
                price_details=_details(result),
                **base,
            )
        )
    return rows


def anthropic_records(
    pages: Sequence[Mapping[str, Any]], file: str, prices: PriceTable, unpriced: Counter[str]
) -> list[dict[str, str | None]]:
    """Flatten Anthropic cost / usage report pages into `AI_FIELDS` records."""
    records: list[dict[str, str | None]] = []
    for p, page in enumerate(pages, 1):
        for b, bucket in enumerate(page["data"], 1):
            loc = f"page {p}, bucket {b}"
            span = (bucket.get("starting_at"), bucket.get("ending_at"))
            if not all(isinstance(s, str) and s for s in span):
                raise IngestError(f"{loc}: starting_at / ending_at must be timestamps", file=file)
            for r, result in enumerate(bucket["results"], 1):
                where = f"{loc}, result {r}"
                if not isinstance(result, dict):
                    raise IngestError(f"{where}: expected an object", file=file)
                if "amount" in result:
                    records.append(_cost_row(result, span, where, file))
                else:
                    records.extend(_usage_rows(result, span, where, file, prices, unpriced))
    return records


class AnthropicConnector(Connector):
    """Anthropic Admin API cost report / messages usage report pages."""

    format = "anthropic"
    description = "Anthropic /v1/organizations/cost_report and usage_report/messages pages"
    replace_scope = "charge_day"

    def detect(self, probe: Probe) -> bool:
        bucket = first_bucket(probe.document)
        return bucket is not None and {"starting_at", "ending_at", "results"} <= set(bucket)

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        pages = json_pages(read_json_document(file), file.display)
        unpriced: Counter[str] = Counter()
        records = anthropic_records(pages, file.display, price_table(ctx), unpriced)
        if unpriced:
            ctx.warn(unpriced_warning(file.display, unpriced))
        return load_records(ctx, records, view, AI_FIELDS)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        account = str(ctx.options.get("billing_account_id") or "anthropic")
        return ai_columns("Anthropic", account)
