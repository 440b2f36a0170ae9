"""The catalog's records: one value of one dimension, a match for a phrase, a refresh report."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CatalogMeta", "Match", "MatchKind", "Row", "VocabEntry", "VocabRefresh"]

MatchKind = Literal["exact", "label", "alias", "fuzzy"]

Row = tuple[str, str, str | None, Decimal, date, date, int]
"""One catalog row as stored: (dimension, value, label, cost, first_day, last_day, rows). A
large bill's catalog has 10⁵ of them; `VocabEntry`s are made only for the rows a caller reads."""


class VocabEntry(BaseModel):
    """One value of one dimension, as stored, with its spend and date range.

    `dimension` is the spend engine's dimension spec a filter must use (`ServiceName`,
    `tag:team`, `vtag:team`); `value` is exactly what `DIM=value` filters must use; `label` is
    the other name of the same thing when there is exactly one (the SubAccountName of a
    SubAccountId, the RegionName of a RegionId, and back). `cost` is billed cost over all time in
    the reporting currency; `rows` the cost rows behind it.
    """

    model_config = ConfigDict(frozen=True)

    dimension: str
    value: str
    label: str | None = None
    cost: Decimal
    first_day: date
    last_day: date
    rows: int

    def filter_text(self) -> str | None:
        """`DIM=value` for the spend tools, or None when the value cannot be written that way
        (a comma separates values there, `!=` negates)."""
        if "," in self.value or "!=" in self.value:
            return None
        return f"{self.dimension}={self.value}"


class Match(BaseModel):
    """A catalog entry a phrase named: how it matched and how well (100 unless fuzzy)."""

    entry: VocabEntry
    phrase: str
    how: MatchKind
    score: float


class CatalogMeta(BaseModel):
    """What a stored catalog was built from (`vocab_meta`)."""

    fingerprint: str
    built_at: datetime
    seconds: float
    currency: str
    first_day: date | None
    last_day: date | None
    months: list[date] = Field(default_factory=list)
    entries: int
    dimensions: int = 0
    tag_keys: int = 0
    warnings: list[str] = Field(default_factory=list)


class VocabRefresh(BaseModel):
    """What a refresh did: whether it rebuilt and stored, its size and time, or why it failed.

    The post-ingest and post-allocation hooks return this instead of raising (`error`).
    """

    rebuilt: bool
    stored: bool
    entries: int
    dimensions: int
    tag_keys: int
    seconds: float
    built_at: datetime | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
