"""The one way money and percentages are written for people: CLI tables, Slack cards, alerts,
answers.

`money(Decimal("1234.5"), "USD")` → `USD 1,234.50`; amounts under a cent keep their significant
digits (`USD 0.000482`) so an AI call's cost is never shown as zero, unless the caller fixes the
decimals (`money(x, "USD", places=2)`). Everything rounds half-up, like a bank statement, and a
value that rounds to zero never shows a minus sign.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

__all__ = ["amount", "money", "percent"]

Number = Decimal | float | int | str
"""A number, or its text (`"12.50"`, as JSON tool results carry decimals)."""

_CENT = Decimal("0.01")
_SIGNIFICANT_PLACES = 6
_WIDE = Context(prec=100)


def _rounded(value: Number, places: int) -> Decimal:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    exact = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_WIDE)
    return abs(exact) if exact == 0 else exact


def _parts(value: Number, places: int | None) -> tuple[str, str]:
    """(sign, digits): `-`, `+`, or empty when it rounds to zero; the rounded absolute value."""
    if places is None:
        small = _rounded(value, _SIGNIFICANT_PLACES)
        if small != 0 and abs(small) < _CENT:
            return ("-" if small < 0 else "+"), f"{abs(small):f}".rstrip("0")
        places = 2
    rounded = _rounded(value, places)
    sign = "" if rounded == 0 else "-" if rounded < 0 else "+"
    return sign, f"{abs(rounded):,.{places}f}"


def amount(value: Number | None, places: int | None = None, *, signed: bool = False) -> str:
    """The number alone, where a header or the range's other end names the currency: `1,234.56`,
    `-12.50` (`+12.50` when `signed`); `places` fixes the decimals, else 2 and amounts under a
    cent keep their significant digits (`0.000482`); None → `n/a`. Raises
    `decimal.InvalidOperation` on text that is no number."""
    if value is None:
        return "n/a"
    sign, digits = _parts(value, places)
    return (sign if signed or sign == "-" else "") + digits


def money(
    value: Number | None, currency: str, places: int | None = None, *, signed: bool = False
) -> str:
    """`USD 1,234.56`, `USD -12.50`; small amounts keep significant digits (`USD 0.000482`)
    unless `places` fixes the decimals (`money(Decimal("-0.001"), "USD", places=2)` →
    `USD 0.00`); None → `n/a`. A change is `signed`: `+USD 1,234.56`, `-USD 12.30`, and
    `USD 0.00` when it rounds to zero."""
    if value is None:
        return "n/a"
    if signed:
        sign, digits = _parts(value, places)
        return f"{sign}{currency} {digits}"
    return f"{currency} {amount(value, places)}"


def percent(value: Number | None, places: int = 1, *, signed: bool = False) -> str:
    """`12.3%` from a percentage value (12.3, not 0.123); `+12.3%` when `signed`; None → `n/a`."""
    if value is None:
        return "n/a"
    return f"{_rounded(value, places):{'+' if signed else ''}.{places}f}%"
