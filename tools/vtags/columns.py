"""Which columns virtual-tag conditions may read, and their SQL over the allocation key table."""

from __future__ import annotations

import re

from warehouse.schema import focus_columns

__all__ = ["BASE_COLUMNS", "canonical_column", "column_sql", "tag_sql"]

BASE_COLUMNS = (
    "ProviderName",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "Tags",
)
"""Columns every allocation reads (sources, inference, explain); rules may add more."""

_TAG_KEY = re.compile(r"^[^\"\\\x00-\x1f]{1,256}$")


def _focus_text_columns() -> dict[str, str]:
    return {
        c.name.lower(): c.name
        for c in focus_columns()
        if c.focus_type not in ("Decimal", "Date/Time") and c.name != "Tags"
    }


def canonical_column(name: str) -> str:
    """`servicename` → `ServiceName`; `tag:Team` stays a tag condition; anything else fails."""
    text = name.strip()
    if text.lower().startswith("tag:"):
        key = text[4:]
        if not _TAG_KEY.match(key):
            raise ValueError(f"invalid tag key {key!r}: 1-256 characters, no quotes")
        return "tag:" + key
    found = _focus_text_columns().get(text.lower())
    if found is None:
        raise ValueError(
            f"unknown column {name!r} in a condition; use a FOCUS text column (e.g. ServiceName, "
            "SubAccountName, ChargeCategory, SkuId) or tag:KEY"
        )
    return found


def tag_sql(key: str) -> str:
    """The SQL text of one tag's value."""
    path = ('$."' + key + '"').replace("'", "''")
    return f"json_extract_string(Tags, '{path}')"


def column_sql(column: str) -> str:
    """SQL for a canonical column (see `canonical_column`) over a table with `Tags`."""
    if column.startswith("tag:"):
        return tag_sql(column[4:])
    return f"CAST({column} AS VARCHAR)"
