"""Building small cost warehouses for virtual-tag tests: rows with only the columns that matter."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from agent.config import Config, parse_config
from tools.query import DuckDBEngine
from tools.spend.engine import SpendQuery, spend
from tools.vtags.allocate import ensure_allocation

__all__ = ["Row", "add_rows", "allocate", "config_of", "spend_by", "values_of"]

_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ProviderName",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "ResourceName",
    "Tags",
    "x_SourceName",
)


class Row(dict[str, Any]):
    """One cost row: `Row(cost="10.00", day=date(2026, 10, 1), ResourceId="i-1", tags={...})`."""


def add_rows(con: duckdb.DuckDBPyConnection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert rows into `costs` (one charge day each; money in USD unless given)."""
    values = []
    for r in rows:
        day: date = r.get("day", date(2026, 10, 1))
        cost = Decimal(str(r.get("cost", "1")))
        month = day.replace(day=1)
        next_month = (month + timedelta(days=32)).replace(day=1)
        tags = r.get("tags")
        values.append(
            [
                cost,
                cost,
                cost,
                cost,
                r.get("currency", "USD"),
                day.isoformat(),
                (day + timedelta(days=1)).isoformat(),
                month.isoformat(),
                next_month.isoformat(),
                r.get("ChargeCategory", "Usage"),
                r.get("ProviderName", "AWS"),
                r.get("SubAccountId"),
                r.get("SubAccountName"),
                r.get("ServiceName", "Amazon Elastic Compute Cloud"),
                r.get("RegionId", "us-east-1"),
                r.get("ResourceId"),
                r.get("ResourceName"),
                json.dumps(tags) if tags else None,
                "test",
            ]
        )
    placeholders = ", ".join("?" for _ in _COLUMNS)
    con.executemany(f"INSERT INTO costs ({', '.join(_COLUMNS)}) VALUES ({placeholders})", values)


def config_of(virtual_tags: Mapping[str, Any], **extra: Any) -> Config:
    return parse_config({"virtual_tags": dict(virtual_tags), **extra}, "test config")


def allocate(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    ensure_allocation(con, config, force=True)


def values_of(con: duckdb.DuckDBPyConnection, vtag: str, resource_id: str) -> list[tuple[Any, ...]]:
    """(value, provenance, detail, confidence, share) rows of one resource, sorted."""
    return con.execute(
        "SELECT a.value, a.provenance, a.detail, a.confidence, sum(a.share) "
        "FROM vtag_alloc a JOIN vtag_attrs t USING (k) WHERE a.vtag = ? AND t.ResourceId = ? "
        "GROUP BY ALL ORDER BY 1",
        [vtag, resource_id],
    ).fetchall()


def spend_by(
    con: duckdb.DuckDBPyConnection, config: Config, vtag: str, **query: Any
) -> dict[str, Decimal]:
    """`finops spend --by vtag:NAME` as value → exact cost."""
    result = spend(DuckDBEngine(con), config, SpendQuery(by=[f"vtag:{vtag}"], **query))
    return {r.dimensions[f"vtag:{vtag}"]: r.cost for r in result.rows}
