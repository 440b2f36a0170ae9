"""How the offline planner quotes what it read from a tool result: money to the cent (through
`warehouse.format`, the one formatter) and any other value as one short, clean line of text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import InvalidOperation
from typing import Any

from warehouse.format import money as format_money

__all__ = ["clean", "money", "rate", "row_label"]

_MAX_TEXT = 160


def clean(value: Any) -> str:
    """A data value as one short line of text (never markup or a new instruction line)."""
    text = re.sub(r"[\s\x00-\x1f\x7f]+", " ", str(value)).strip()
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def money(value: Any, currency: str, places: int = 2, *, signed: bool = False) -> str:
    """`USD 1,234.56` (`+USD 12.30` when `signed`): `warehouse.format.money` to exactly `places`
    decimals (answers show cents); a value that is no number is quoted as cleaned text, never
    raised."""
    try:
        return format_money(value, currency, places, signed=signed)
    except (InvalidOperation, ValueError):
        return f"{currency} {clean(value)}"


def rate(value: Any, currency: str, places: int = 4) -> str:
    """A unit price with as many decimals as it needs, 2 to `places` (`USD 10.00`,
    `USD 0.075`); `n/a` when there is none."""
    if value is None:
        return "n/a"
    text = money(value, currency, places=places)
    while text.endswith("0") and len(text.rpartition(".")[2]) > 2:
        text = text[:-1]
    return text


def row_label(row: Mapping[str, Any], period_sep: str = " ") -> str:
    """A result row's label: its period (if any), then its dimension values joined by ` / `."""
    dims = " / ".join(clean(v) for v in (row.get("dimensions") or {}).values())
    period = row.get("period")
    return period_sep.join(x for x in (str(period) if period else "", dims) if x) or "total"
