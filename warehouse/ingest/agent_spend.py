"""The agent's own LLM spend as FOCUS rows (source `finops-agent`), so `finops spend` shows what
the agent itself costs, next to every other AI bill.

`sync_agent_spend` aggregates the self-budget meter's `model_calls` per UTC day × provider ×
model × token kind, writes them as a JSON file of AI records under `$FINOPS_HOME/agent-spend/`
(the provenance `x_SourceFile`), and ingests that file through the normal ingest path with the
`finops-agent` connector, replacing the same charge days, so a re-sync never doubles. Each
kind's cost is recomputed from the same price table that priced the calls, so the rows add up
exactly to the meter's recorded totals. Free (offline, scripted) calls produce no rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from warehouse.ingest.ai_common import (
    AI_FIELDS,
    FREE_PROVIDERS,
    ai_columns,
    ai_record,
    load_price_table,
)
from warehouse.ingest.base import Connector, LoadContext, LocalFile, Probe, load_records
from warehouse.ingest.exprs import Expr, col
from warehouse.ingest.runner import IngestReport, run_ingest
from warehouse.ingest.sources import resolve_inputs
from warehouse.settings import WarehouseSettings
from warehouse.state.store import StateStore

__all__ = ["SOURCE", "AgentSpendConnector", "agent_spend_records", "sync_agent_spend"]

SOURCE = "finops-agent"
FIELDS = (*AI_FIELDS, "provider")
_PROVIDERS = {"anthropic": ("Anthropic", "Claude API"), "openai": ("OpenAI", "OpenAI API")}
_KINDS = (
    ("input_tokens", "input", "Input Tokens"),
    ("cache_read_tokens", "cached_input", "Cache Read Tokens"),
    ("cache_write_tokens", "cache_write_5m", "Cache Write Tokens"),
    ("output_tokens", "output", "Output Tokens"),
)


def _days(store: StateStore, days: Sequence[date] | None) -> list[date]:
    if days is not None:
        return sorted(set(days))
    rows = store.query("SELECT DISTINCT substr(at, 1, 10) FROM model_calls")
    return sorted(date.fromisoformat(r[0]) for r in rows)


def agent_spend_records(
    store: StateStore, days: Sequence[date], prices_path: str | None = None
) -> list[dict[str, str | None]]:
    """AI records of the agent's priced model calls on the given UTC days."""
    prices = load_price_table(prices_path)
    totals: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day in days:
        rows = store.query(
            "SELECT provider, model, input_tokens, cache_read_tokens, cache_write_tokens,"
            " output_tokens FROM model_calls WHERE substr(at, 1, 10) = ?",
            (day.isoformat(),),
        )
        for r in rows:
            if r["provider"] in FREE_PROVIDERS:
                continue
            bucket = totals[(day.isoformat(), r["provider"], r["model"])]
            for field, _, _ in _KINDS:
                bucket[field] += int(r[field])
    records = []
    for (day_text, provider, model), counts in sorted(totals.items()):
        price = prices.lookup(provider, model)
        name, service = _PROVIDERS.get(provider, (provider, f"{provider} API"))
        start = datetime.fromisoformat(day_text)
        for field, kind, meter in _KINDS:
            tokens = counts[field]
            if not tokens or price is None:
                continue
            unit_price = price.per_token(kind)
            record = ai_record(
                start=start.isoformat(),
                end=(start + timedelta(days=1)).isoformat(),
                cost=tokens * unit_price,
                currency="USD",
                description=f"finops agent: {model} {meter.lower()}",
                service=service,
                sku_id=model,
                meter=meter,
                quantity=tokens,
                unit="Tokens",
                unit_price=unit_price,
                sub_account=SOURCE,
                sub_account_type="Agent",
                tags={"finops:agent": "true"},
                price_details={"source": prices.source, "as_of": price.as_of},
            )
            records.append({**record, "provider": name})
    return records


class AgentSpendConnector(Connector):
    """JSON list of the agent's own usage records (written by `sync_agent_spend`)."""

    format = "finops-agent"
    description = "the agent's own LLM usage (written by the agent; not auto-detected)"
    replace_scope = "charge_day"

    def detect(self, probe: Probe) -> bool:
        return False

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        records = json.loads(Path(file.path).read_text(encoding="utf-8"))
        return load_records(ctx, records, view, FIELDS)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        mapping = dict(ai_columns("finops-agent", SOURCE))
        for name in ("ProviderName", "PublisherName", "InvoiceIssuerName"):
            mapping[name] = col("provider")
        return mapping

    def default_source(self, ctx: LoadContext) -> str:
        return SOURCE


def sync_agent_spend(
    con: duckdb.DuckDBPyConnection,
    store: StateStore,
    config: WarehouseSettings,
    *,
    out_dir: Path,
    days: Sequence[date] | None = None,
) -> IngestReport | None:
    """Write the agent's spend on `days` (default: every day with calls) to the warehouse."""
    chosen = _days(store, days)
    records = agent_spend_records(store, chosen)
    if not records:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"agent-spend-{chosen[0]}-{chosen[-1]}.json"
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    files = resolve_inputs([str(path)], out_dir)
    return run_ingest(con, files, config=config, fmt="finops-agent", source=SOURCE)
