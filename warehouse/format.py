"""The one way money and percentages are written for people: CLI tables, Slack cards, answers.

`money(Decimal("1234.5"), "USD")` → `USD 1,234.50`; amounts under a cent keep their significant
digits (`USD 0.000482`) so an AI call's cost is never shown as zero.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["money", "percent"]


def money(value: Decimal | float | int | None, currency: str) -> str:
    """`USD 1,234.56`; small amounts keep significant digits (`USD 0.000482`); None → `n/a`."""
    if value is None:
        return "n/a"
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if amount != 0 and abs(amount) < Decimal("0.01"):
        return f"{currency} {amount:.6f}".rstrip("0")
    return f"{currency} {amount:,.2f}"


def percent(value: Decimal | float | None, places: int = 1, *, signed: bool = False) -> str:
    """`12.3%` from a percentage value (12.3, not 0.123); `+12.3%` when `signed`; None → `n/a`."""
    if value is None:
        return "n/a"
    return f"{float(value):{'+' if signed else ''}.{places}f}%"
