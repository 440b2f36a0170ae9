"""Terminal and JSON rendering shared by the CLI commands.

Humans get Rich tables on stdout and progress on stderr; `--json` gets exactly one JSON document
on stdout and nothing else, so scripts can pipe it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.table import Table

from agent.console import err_console, out_console
from warehouse.format import money

__all__ = ["err_console", "money", "out_console", "print_json", "table"]


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
