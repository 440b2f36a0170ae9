"""Terminal and JSON rendering shared by the CLI commands.

Humans get Rich tables on stdout and progress on stderr; `--json` gets exactly one JSON document
on stdout and nothing else, so scripts can pipe it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

__all__ = ["err_console", "money", "out_console", "print_json", "table"]

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def money(value: Decimal | None, currency: str) -> str:
    """`USD 1,234.56`; small amounts keep significant digits (`USD 0.000482`)."""
    if value is None:
        return "n/a"
    if value != 0 and abs(value) < Decimal("0.01"):
        return f"{currency} {value:.6f}".rstrip("0")
    return f"{currency} {value:,.2f}"


def print_json(payload: BaseModel | dict[str, Any] | list[Any]) -> None:
    """Write one JSON document to stdout (Decimals as strings to keep exactness)."""
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()
) -> Table:
    """A Rich table with the money columns (indexes in `right`) right-aligned."""
    t = Table(title=title, title_justify="left", show_lines=False)
    for i, name in enumerate(columns):
        t.add_column(name, justify="right" if i in right else "left")
    for r in rows:
        t.add_row(*r)
    return t
