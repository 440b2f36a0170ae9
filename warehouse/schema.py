"""The FOCUS 1.2 column set of the `costs` table, read from the bundled spec extract.

`data/focus_columns_by_version.csv` is derived from the FOCUS specification (tags v1.0, v1.1,
v1.2; CC-BY-4.0). Keeping it as data means a new FOCUS version is a file change, not a code edit.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "DECIMAL_TYPE",
    "MANDATORY_NOT_NULL",
    "PROVENANCE_COLUMNS",
    "FocusColumn",
    "focus_columns",
    "focus_names",
]

DECIMAL_TYPE = "DECIMAL(38,12)"
"""Money and quantities: exact decimals, 12 fractional digits (token prices need them)."""

_TYPES = {"String": "VARCHAR", "Decimal": DECIMAL_TYPE, "Date/Time": "TIMESTAMP", "JSON": "JSON"}

PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("x_SourceName", "VARCHAR"),
    ("x_SourceFile", "VARCHAR"),
    ("x_IngestedAt", "TIMESTAMP"),
    ("x_IngestId", "VARCHAR"),
)
"""Where each row came from: the logical source, the file or URL, when and in which ingest."""


@dataclass(frozen=True)
class FocusColumn:
    """One FOCUS column: name, SQL type, the version that introduced it and its 1.2 level."""

    name: str
    sql_type: str
    focus_type: str
    introduced: str
    level: str
    nullable: bool

    @property
    def is_decimal(self) -> bool:
        return self.focus_type == "Decimal"

    @property
    def is_timestamp(self) -> bool:
        return self.focus_type == "Date/Time"

    @property
    def is_json(self) -> bool:
        return self.focus_type == "JSON"


@cache
def focus_columns() -> tuple[FocusColumn, ...]:
    """All 57 FOCUS 1.2 columns in spec (alphabetical) order."""
    text = resources.files("warehouse").joinpath("data/focus_columns_by_version.csv").read_text()
    rows = csv.DictReader(text.splitlines())
    return tuple(
        FocusColumn(
            name=r["column"],
            sql_type=_TYPES[r["data_type_v1_2"]],
            focus_type=r["data_type_v1_2"],
            introduced=r["introduced"],
            level=r["v1_2_level"],
            nullable=r["nullable_v1_2"] == "True",
        )
        for r in rows
    )


@cache
def focus_names() -> tuple[str, ...]:
    return tuple(c.name for c in focus_columns())


MANDATORY_NOT_NULL: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
"""The 16 columns FOCUS declares Mandatory and not nullable in 1.0–1.2."""

REQUIRED_VALUES: tuple[str, ...] = (
    "BilledCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
)
"""Columns the warehouse cannot work without: a null here rejects the ingest. Nulls in the other
mandatory columns happen in real provider exports (e.g. OCI rows without ContractedCost in the
FOCUS sample); they are kept as NULL and reported as warnings."""
