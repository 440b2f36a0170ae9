"""Turning the catalog into FOCUS rows (daily clouds, hourly AI) and hourly utilization series.

All randomness comes from one `numpy.random.Generator` seeded by the caller and consumed in the
catalog's fixed order, so a seed always yields byte-identical files. Quantities are rounded to six
decimals and costs to ten before they become `Decimal`s, so ground-truth totals are exact sums.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from warehouse.demo.catalog import ACCOUNTS, BQ_SPIKE, RUNAWAY, S3_SPIKE, Workload
from warehouse.demo.inventory import Series, cloud_series
from warehouse.schema import focus_columns

__all__ = ["Generated", "Row", "focus_arrow_schema", "generate_rows", "utilization_table"]

Row = dict[str, Any]
_Q = Decimal("1E-10")
_ARROW = {
    "VARCHAR": pa.string(),
    "DECIMAL(38,12)": pa.decimal128(38, 12),
    "TIMESTAMP": pa.timestamp("us"),
    "JSON": pa.json_(pa.string()),
}
_TOKEN_METERS = (
    ("input", "Input Tokens"),
    ("cached_input", "Cached Input Tokens"),
    ("output", "Output Tokens"),
)
_AI_SERVICE = {"openai": "OpenAI API", "anthropic": "Claude API"}


def focus_arrow_schema() -> pa.Schema:
    """The 57 FOCUS 1.2 columns with the warehouse's types, as an Arrow schema."""
    return pa.schema([pa.field(c.name, _ARROW[c.sql_type]) for c in focus_columns()])


@dataclass
class Generated:
    """Rows per provider, plus the per-series costs the ground truth is computed from."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    daily: dict[str, dict[date, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    hourly: dict[str, dict[datetime, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    series: list[Series] = field(default_factory=list)


def _month(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, 1)
    end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1)
    return start, end


def _money(quantity: Decimal, price: Decimal) -> Decimal:
    return (quantity * price).quantize(_Q)


def _static(s: Series) -> Row:
    p = s.provider
    sub_id, sub_name, _ = ACCOUNTS[s.account]
    rid, rname, rtype = s.resource or (None, None, None)
    zone = None
    if p.key == "aws" and rtype == "Instance" and rid:
        zone = p.region[0] + "ab"[int(rid[-1], 16) % 2] if p.region else None
    return {
        "ProviderName": p.name,
        "PublisherName": p.publisher,
        "InvoiceIssuerName": p.publisher,
        "BillingAccountId": p.account[0],
        "BillingAccountName": p.account[1],
        "BillingAccountType": "Billing Account",
        "SubAccountId": sub_id,
        "SubAccountName": sub_name,
        "SubAccountType": p.sub_type,
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargeDescription": f"{s.sku[1]} ({s.sku[0]}) at {s.price} USD per {s.units[0]}",
        "ServiceName": s.service[0],
        "ServiceCategory": s.service[1],
        "ServiceSubcategory": s.service[2],
        "SkuId": s.sku[0],
        "SkuMeter": s.sku[1],
        "SkuPriceId": f"{s.sku[0]}.{s.pricing_category}",
        "PricingUnit": s.units[0],
        "ConsumedUnit": s.units[1],
        "PricingCategory": s.pricing_category,
        "ListUnitPrice": s.price,
        "ContractedUnitPrice": s.price,
        "RegionId": p.region[0] if p.region else None,
        "RegionName": p.region[1] if p.region else None,
        "AvailabilityZone": zone,
        "ResourceId": rid,
        "ResourceName": rname,
        "ResourceType": rtype,
        "Tags": json.dumps(s.tags) if s.tags else None,
    }


def _charge(
    static: Row,
    provider: str,
    start: datetime,
    end: datetime,
    quantity: Decimal,
    consumed: Decimal,
    cost: Decimal,
) -> Row:
    period_start, period_end = _month(start.date())
    row = dict(static)
    row.update(
        ChargePeriodStart=start,
        ChargePeriodEnd=end,
        BillingPeriodStart=period_start,
        BillingPeriodEnd=period_end,
        InvoiceId=f"INV-{provider.upper()}-{period_start:%Y%m}",
        PricingQuantity=quantity,
        ConsumedQuantity=consumed,
        BilledCost=cost,
        EffectiveCost=cost,
        ContractedCost=cost,
        ListCost=cost,
    )
    return row


def _quantities(s: Series, days: list[date], rng: np.random.Generator) -> np.ndarray:
    n = len(days)
    weekend = np.array([d.weekday() >= 5 for d in days])
    if s.schedule == "auto":
        return rng.integers(12, 25, n).astype(float)
    if s.schedule == "biz":
        return np.where(weekend, 0.0, s.base)
    q = s.base * (1 + s.growth * np.arange(n) / max(n - 1, 1))
    if s.noise:
        q = q * rng.lognormal(0.0, s.noise, n)
    q = np.where(weekend, q * s.weekend, q)
    for key, before, factor in (S3_SPIKE, BQ_SPIKE):
        if key == s.key and before < n:
            q[n - 1 - before] *= factor
    return np.asarray(q)


def _daily_rows(out: Generated, days: list[date], rng: np.random.Generator) -> None:
    for s in cloud_series():
        out.series.append(s)
        static = _static(s)
        for day, value in zip(days, _quantities(s, days, rng), strict=True):
            if value <= 0:
                continue
            qty = Decimal(f"{value:.6f}")
            cost = _money(qty, s.price)
            start = datetime(day.year, day.month, day.day)
            out.rows[s.provider.key].append(
                _charge(static, s.provider.key, start, start + timedelta(days=1), qty, qty, cost)
            )
            out.daily[s.key][day] = cost


def _ai_static(w: Workload, meter: tuple[str, str], price: str) -> Row:
    p = w.provider
    sub_id, sub_name, _ = ACCOUNTS[w.account]
    tags = {"project": sub_name, "api_key_id": w.api_key, "agent_id": w.agent_id}
    if w.tag:
        tags[w.tag[0]] = w.tag[1]
    return {
        "ProviderName": p.name,
        "PublisherName": p.publisher,
        "InvoiceIssuerName": p.publisher,
        "BillingAccountId": p.account[0],
        "BillingAccountName": p.account[1],
        "BillingAccountType": "Organization",
        "SubAccountId": sub_id,
        "SubAccountName": sub_name,
        "SubAccountType": p.sub_type,
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargeDescription": f"{w.model} {meter[1].lower()}",
        "ServiceName": _AI_SERVICE[p.key],
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "SkuId": f"{w.model}:{meter[0]}",
        "SkuMeter": meter[1],
        "SkuPriceId": f"{w.model}:{meter[0]}:standard",
        "PricingUnit": "1M Tokens",
        "ConsumedUnit": "Tokens",
        "PricingCategory": "Standard",
        "ListUnitPrice": Decimal(price),
        "ContractedUnitPrice": Decimal(price),
        "ResourceId": w.api_key,
        "ResourceName": w.agent_id,
        "ResourceType": "API Key",
        "Tags": json.dumps(tags),
    }


def _tokens(w: Workload, days: list[date], rng: np.random.Generator) -> list[np.ndarray]:
    """Hourly (uncached input, cached input, output) tokens; the runaway multiplies all three."""
    n = len(days) * 24
    hour = np.tile(np.arange(24), len(days))
    weekend = np.repeat([d.weekday() >= 5 for d in days], 24)
    diurnal = 0.3 + 0.7 * np.exp(-(((hour - 14) / 4.5) ** 2))
    factor = diurnal * np.where(weekend, 0.5, 1.0) * rng.lognormal(0.0, 0.15, n)
    total = w.peak_input_millions * 1e6 * factor
    agent, first_hour, multipliers = RUNAWAY
    if w.agent_id == agent:
        at = n - 24 + first_hour
        total[at : at + len(multipliers)] *= np.array(multipliers)
    total = np.round(total)
    cached = np.round(total * np.clip(w.cache_ratio + rng.normal(0.0, 0.03, n), 0.0, 0.95))
    output = np.round(total * w.output_ratio * rng.lognormal(0.0, 0.1, n))
    return [total - cached, cached, output]


def _ai_rows(
    out: Generated, workloads: tuple[Workload, ...], days: list[date], rng: np.random.Generator
) -> None:
    first = datetime(days[0].year, days[0].month, days[0].day)
    for w in workloads:
        statics = [_ai_static(w, m, p) for m, p in zip(_TOKEN_METERS, w.prices, strict=True)]
        prices = [Decimal(p) for p in w.prices]
        series = _tokens(w, days, rng)
        hourly = out.hourly[w.agent_id]
        for h in range(len(days) * 24):
            start = first + timedelta(hours=h)
            spent = Decimal(0)
            for static, price, tokens in zip(statics, prices, series, strict=True):
                consumed = Decimal(int(tokens[h]))
                qty = consumed.scaleb(-6)
                cost = _money(qty, price)
                spent += cost
                out.rows[w.provider.key].append(
                    _charge(
                        static,
                        w.provider.key,
                        start,
                        start + timedelta(hours=1),
                        qty,
                        consumed,
                        cost,
                    )
                )
            hourly[start] = spent


def generate_rows(
    days: list[date], rng: np.random.Generator, workloads: tuple[Workload, ...]
) -> Generated:
    """Every provider's FOCUS rows for `days`, in catalog order."""
    out = Generated()
    _daily_rows(out, days, rng)
    _ai_rows(out, workloads, days, rng)
    return out


def _profile(
    util: str, n: int, diurnal: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    if util == "idle":
        cpu = np.clip(rng.uniform(0.3, 1.0) + np.abs(rng.normal(0.0, 0.3, n)), 0.05, 2.9)
        mem = np.clip(rng.uniform(3.0, 8.0) + rng.normal(0.0, 0.5, n), 1.0, 10.0)
        net = np.clip(rng.lognormal(np.log(1e5), 0.5, n), 1e4, 5e6)
    elif util in ("oversized_cpu", "oversized_mem"):
        cpu_level, mem_level = (6.0, 18.0) if util == "oversized_cpu" else (9.0, 11.0)
        cpu = np.clip(cpu_level * (0.7 + 0.6 * diurnal) + rng.normal(0.0, 1.0, n), 0.5, 16.0)
        mem = np.clip(mem_level + rng.normal(0.0, 1.5, n), 4.0, 25.0)
        net = rng.lognormal(np.log(3e8), 0.3, n)
    else:
        level = rng.uniform(25.0, 55.0)
        cpu = np.clip(level * (0.75 + 0.5 * diurnal) + rng.normal(0.0, 4.0, n), 1.0, 100.0)
        mem = np.clip(rng.uniform(40.0, 70.0) + rng.normal(0.0, 3.0, n), 5.0, 100.0)
        net = rng.lognormal(np.log(rng.uniform(2e8, 2e9)), 0.3, n)
    return {"cpu_utilization": cpu, "memory_utilization": mem, "network_bytes": net}


def utilization_table(series: list[Series], days: list[date], rng: np.random.Generator) -> pa.Table:
    """Hourly CPU, memory (percent) and network (bytes/hour) for every always-on VM/controller."""
    n = len(days) * 24
    start = np.datetime64(days[0].isoformat(), "h")
    hours = start + np.arange(n).astype("timedelta64[h]")
    diurnal = np.exp(-(((np.tile(np.arange(24), len(days)) - 14) / 4.5) ** 2))
    ids: list[str] = []
    metrics: list[str] = []
    values: list[np.ndarray] = []
    for s in series:
        if s.util is None or s.schedule != "flat" or s.resource is None:
            continue
        for metric, value in _profile(s.util, n, diurnal, rng).items():
            ids.append(s.resource[0])
            metrics.append(metric)
            values.append(np.round(value, 3))
    block = pa.array(np.repeat(np.arange(len(ids)), n))
    return pa.table(
        {
            "resource_id": pa.array(ids, pa.string()).take(block),
            "ts": pa.array(np.tile(hours, len(ids)).astype("datetime64[us]")),
            "metric": pa.array(metrics, pa.string()).take(block),
            "value": pa.array(np.concatenate(values), pa.float64()),
        }
    )
