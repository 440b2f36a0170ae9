"""How the offline planner quotes what it read from a tool result: money to the cent (through
`warehouse.format`, the one formatter) and any other value as one short, clean line of text."""

from __future__ import annotations

import re
from decimal import InvalidOperation
from typing import Any

from warehouse.format import money as format_money

__all__ = ["clean", "money"]

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
