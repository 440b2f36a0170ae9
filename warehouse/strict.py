"""The one strict base model: every config section and every boundary payload extends it.

It sits in its own module so the lowest config modules (`warehouse/inventory/config.py`, which
`warehouse/settings.py` composes) can extend it without an import cycle; `warehouse.settings`
re-exports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Strict"]


class Strict(BaseModel):
    """Base of every config section: unknown keys fail, values are immutable once loaded.

    A model that needs more options adds only those (`model_config = ConfigDict(strict=True)`);
    pydantic merges them with these.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
