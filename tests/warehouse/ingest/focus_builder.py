"""Write small FOCUS CSV exports (one provider and billing account each) for ingest tests."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from warehouse.schema import MANDATORY_NOT_NULL

__all__ = ["HEADER", "focus_row", "write_focus"]

HEADER: tuple[str, ...] = MANDATORY_NOT_NULL
"""The 16 mandatory, non-nullable FOCUS columns: the smallest export ingest accepts."""


def focus_row(provider: str, account: str, day: int, cost: str = "1.50") -> list[str]:
    """One usage row of September 2024 (`day` 1–29) for `provider`'s `account`."""
    return [
        cost,
        account,
        "USD",
        "2024-10-01T00:00:00Z",
        "2024-09-01T00:00:00Z",
        "Usage",
        f"2024-09-{day + 1:02d}T00:00:00Z",
        f"2024-09-{day:02d}T00:00:00Z",
        cost,
        cost,
        provider,
        cost,
        provider,
        provider,
        "Compute",
        f"{provider} Compute",
    ]


def write_focus(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
