"""`finops demo`: build the demo company's warehouse and print a spend overview."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Registered once `warehouse.demo` lands."""
