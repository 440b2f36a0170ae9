"""A large synthetic FOCUS 1.2 parquet for benchmarks, written in vectorized chunks.

Realistic shape rather than realistic stories: 20 services of three providers, 500 sub-accounts,
50,000 resources (each bound to one service and one account of its provider, with a skewed
popularity so a few resources dominate), 90 days of hourly (compute, databases, networking) and
daily (storage) charge periods, and JSON tags on about 65% of resources. Each chunk is built with
numpy and Arrow kernels (`take` over small dictionaries, decimals assembled from int64 buffers) and
appended with a `ParquetWriter`, so memory stays bounded by the chunk and 10 million rows take
seconds, not minutes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.demo.company import focus_arrow_schema

__all__ = ["write_scale"]

_PROVIDERS = (
    ("AWS", "Amazon Web Services, Inc.", "us-east-1", "US East (N. Virginia)"),
    ("Microsoft", "Microsoft", "westeurope", "West Europe"),
    ("Google Cloud", "Google Cloud", "europe-west1", "Belgium"),
)
# provider, ServiceName, ServiceCategory, ServiceSubcategory, PricingUnit, $/unit, mean qty, hourly
_SERVICES: tuple[tuple[int, str, str, str, str, float, float, bool], ...] = (
    (0, "Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "Hours", 0.192, 1, True),
    (0, "Amazon Elastic Block Store", "Storage", "Block Storage", "GB-Mo", 0.08, 20, False),
    (0, "Amazon Simple Storage Service", "Storage", "Object Storage", "GB-Mo", 0.023, 300, False),
    (
        0,
        "Amazon Relational Database Service",
        "Databases",
        "Relational Databases",
        "Hours",
        0.342,
        1,
        True,
    ),
    (0, "AWS Lambda", "Compute", "Serverless Compute", "GB-Seconds", 0.0000166667, 50_000, False),
    (
        0,
        "AmazonCloudWatch",
        "Management and Governance",
        "Observability",
        "Metrics",
        0.30,
        10,
        False,
    ),
    (0, "Amazon DynamoDB", "Databases", "NoSQL Databases", "1M WriteRequestUnits", 1.25, 1, False),
    (0, "AWS Data Transfer", "Networking", "Network Connectivity", "GB", 0.09, 5, True),
    (
        0,
        "Elastic Load Balancing",
        "Networking",
        "Application Networking",
        "LCU-Hours",
        0.008,
        3,
        True,
    ),
    (0, "Amazon Elastic Kubernetes Service", "Compute", "Containers", "Hours", 0.10, 1, True),
    (1, "Virtual Machines", "Compute", "Virtual Machines", "1 Hour", 0.192, 1, True),
    (1, "Storage Accounts", "Storage", "Storage Platforms", "1 GB/Month", 0.0184, 300, False),
    (1, "Azure SQL Database", "Databases", "Relational Databases", "1 Hour", 0.2525, 4, True),
    (1, "Azure Monitor", "Management and Governance", "Observability", "1 GB", 2.30, 2, False),
    (1, "Azure Kubernetes Service", "Compute", "Containers", "1 Hour", 0.10, 1, True),
    (2, "Compute Engine", "Compute", "Virtual Machines", "hour", 0.19, 1, True),
    (2, "Cloud Storage", "Storage", "Object Storage", "gibibyte month", 0.020, 300, False),
    (2, "BigQuery", "Analytics", "Data Processing", "tebibyte", 6.25, 0.5, False),
    (2, "Cloud SQL", "Databases", "Relational Databases", "hour", 0.20, 1, True),
    (2, "Vertex AI", "AI and Machine Learning", "Generative AI", "1M Tokens", 1.25, 2, True),
)
_WEIGHTS = np.array([18, 6, 6, 6, 4, 2, 2, 5, 3, 3, 8, 3, 3, 1, 2, 8, 2, 4, 2, 3], dtype=float)
_TEAMS = ("payments", "search", "ml-platform", "data", "web", "platform")
_ACCOUNTS, _RESOURCES = 500, 50_000
_DAY_US, _HOUR_US = 86_400_000_000, 3_600_000_000


def _decimal(unscaled: np.ndarray) -> pa.Array:
    """DECIMAL(38,12) from non-negative int64 unscaled values (value × 10^12), zero-copy-ish."""
    words = np.zeros((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    return pa.Array.from_buffers(
        pa.decimal128(38, 12), len(unscaled), [None, pa.py_buffer(words.tobytes())]
    )


@dataclass(frozen=True)
class _Catalog:
    accounts: tuple[pa.Array, pa.Array]
    resources: tuple[pa.Array, pa.Array, pa.Array]
    resource_service: np.ndarray
    resource_account: np.ndarray

    @staticmethod
    def build(rng: np.random.Generator) -> _Catalog:
        account_provider = np.arange(_ACCOUNTS) % len(_PROVIDERS)
        ids = [f"{100_000_000_000 + 7_919 * i}" for i in range(_ACCOUNTS)]
        names = [
            f"{_TEAMS[i % len(_TEAMS)]}-{('prod', 'dev', 'stage')[i % 3]}-{i:03d}"
            for i in range(_ACCOUNTS)
        ]
        service = rng.choice(len(_SERVICES), _RESOURCES, p=_WEIGHTS / _WEIGHTS.sum())
        provider = np.array([_SERVICES[s][0] for s in service])
        account = np.empty(_RESOURCES, dtype=np.int64)
        for p in range(len(_PROVIDERS)):
            pool = np.flatnonzero(account_provider == p)
            mask = provider == p
            account[mask] = pool[rng.integers(0, len(pool), int(mask.sum()))]
        has_tags = rng.random(_RESOURCES) < 0.65
        rnames, rids, tags = [], [], []
        for r in range(_RESOURCES):
            team = names[account[r]].split("-")[0]
            rname = f"{team}-{_SERVICES[service[r]][1].split()[-1].lower()}-{r:05x}"
            rnames.append(rname)
            rids.append(f"{ids[account[r]]}/{rname}")
            tag = {"team": team, "env": names[account[r]].split("-")[-2], "app": rname[:-6]}
            tags.append(json.dumps(tag) if has_tags[r] else None)
        return _Catalog(
            (pa.array(ids), pa.array(names)),
            (pa.array(rids), pa.array(rnames), pa.array(tags, pa.string())),
            service,
            account,
        )


def _numbers(
    rng: np.random.Generator, s: np.ndarray, n: int, start: np.datetime64, days: int
) -> dict[str, pa.Array]:
    """Charge and billing periods, quantities, prices and costs (exact decimals)."""
    hourly = np.array([x[7] for x in _SERVICES])[s]
    begin = (
        start.astype("datetime64[us]").astype(np.int64)
        + rng.integers(0, days, n) * _DAY_US
        + np.where(hourly, rng.integers(0, 24, n), 0) * _HOUR_US
    )
    end = begin + np.where(hourly, _HOUR_US, _DAY_US)
    month = begin.astype("datetime64[us]").astype("datetime64[M]")
    qty = np.array([x[6] for x in _SERVICES])[s] * rng.lognormal(0.0, 0.6, n)
    qty_micro = np.clip(np.round(qty * 1e6), 1, 1e12).astype(np.int64)
    price = np.array([x[5] for x in _SERVICES])[s]
    cost = _decimal(np.round(qty_micro * price * 1e3).astype(np.int64) * 1_000)
    quantity = _decimal(qty_micro * 1_000_000)
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "ContractedCost": cost,
        "PricingQuantity": quantity,
        "ConsumedQuantity": quantity,
        "ListUnitPrice": _decimal(np.round(price * 1e12).astype(np.int64)),
        "BillingPeriodStart": pa.array(month.astype("datetime64[us]")),
        "BillingPeriodEnd": pa.array((month + 1).astype("datetime64[us]")),
        "ChargePeriodStart": pa.array(begin.astype("datetime64[us]")),
        "ChargePeriodEnd": pa.array(end.astype("datetime64[us]")),
    }


def _labels(cat: _Catalog, r: np.ndarray, n: int) -> dict[str, pa.Array]:
    """Every string and JSON column, by `take` from small dictionaries."""
    s, a = cat.resource_service[r], cat.resource_account[r]
    p = np.array([x[0] for x in _SERVICES])[s]
    s_idx, p_idx, a_idx, r_idx = (pa.array(x) for x in (s, p, a, r))

    def pick(values: list[str], idx: pa.Array) -> pa.Array:
        return pa.array(values, pa.string()).take(idx)

    def const(value: str) -> pa.Array:
        return pa.repeat(pa.scalar(value), n)

    return {
        "BillingAccountId": pick(["111111111111", "8611537", "01A2B3-C4D5E6-F7G8H9"], p_idx),
        "BillingAccountName": const("Acme Corp"),
        "BillingCurrency": const("USD"),
        "ChargeCategory": const("Usage"),
        "ChargeFrequency": const("Usage-Based"),
        "PricingCategory": const("Standard"),
        "ProviderName": pick([x[0] for x in _PROVIDERS], p_idx),
        "PublisherName": pick([x[1] for x in _PROVIDERS], p_idx),
        "InvoiceIssuerName": pick([x[1] for x in _PROVIDERS], p_idx),
        "RegionId": pick([x[2] for x in _PROVIDERS], p_idx),
        "RegionName": pick([x[3] for x in _PROVIDERS], p_idx),
        "ServiceName": pick([x[1] for x in _SERVICES], s_idx),
        "ServiceCategory": pick([x[2] for x in _SERVICES], s_idx),
        "ServiceSubcategory": pick([x[3] for x in _SERVICES], s_idx),
        "PricingUnit": pick([x[4] for x in _SERVICES], s_idx),
        "ConsumedUnit": pick([x[4] for x in _SERVICES], s_idx),
        "SkuId": pick([f"SKU-{i:04d}" for i in range(len(_SERVICES))], s_idx),
        "SubAccountId": cat.accounts[0].take(a_idx),
        "SubAccountName": cat.accounts[1].take(a_idx),
        "ResourceId": cat.resources[0].take(r_idx),
        "ResourceName": cat.resources[1].take(r_idx),
        "Tags": pa.ExtensionArray.from_storage(pa.json_(pa.string()), cat.resources[2].take(r_idx)),
    }


def _chunk(
    cat: _Catalog,
    rng: np.random.Generator,
    n: int,
    start: np.datetime64,
    days: int,
    schema: pa.Schema,
) -> pa.Table:
    """`n` rows: skewed resource popularity (a few resources carry most rows), random periods."""
    r = np.minimum((rng.random(n) ** 2.5 * _RESOURCES).astype(np.int64), _RESOURCES - 1)
    cols = _numbers(rng, cat.resource_service[r], n, start, days) | _labels(cat, r, n)
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_scale(
    path: Path,
    rows: int,
    *,
    seed: int = 7,
    end: date = date(2026, 11, 27),
    days: int = 90,
    chunk_rows: int = 500_000,
) -> Path:
    """Write exactly `rows` synthetic FOCUS 1.2 rows to `path` (parquet, zstd) and return it.

    Example: `write_scale(Path("bench/focus_10m.parquet"), 10_000_000)` for the ingest benchmark.
    The same seed gives the same file.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    rng = np.random.default_rng(seed)
    catalog = _Catalog.build(rng)
    schema = focus_arrow_schema()
    start = np.datetime64((end - timedelta(days=days - 1)).isoformat(), "D")
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        done = 0
        while done < rows:
            n = min(chunk_rows, rows - done)
            writer.write_table(_chunk(catalog, rng, n, start, days, schema), row_group_size=n)
            done += n
        if rows == 0:
            writer.write_table(schema.empty_table())
    return path
