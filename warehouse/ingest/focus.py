"""FOCUS CSV / Parquet (plain or gzip), versions 1.0–1.2, from any provider.

Columns a file's FOCUS version lacks (e.g. 1.2's `InvoiceId` in a 1.0 file) become NULL. Custom
`x_` columns are ignored; other non-FOCUS columns are ignored with a warning naming them, so that
nothing disappears silently. Typed parquet columns that already have the warehouse type are
inserted without a cast, which keeps large parquet ingests close to a plain DuckDB copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from warehouse.ingest.base import Connector, LoadContext, LocalFile, Probe, load_csv, load_parquet
from warehouse.ingest.exprs import Expr, col, sql, typed
from warehouse.schema import DECIMAL_TYPE, focus_columns, focus_names

__all__ = ["FocusConnector"]

_SIGNATURE = {"BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ServiceName"}


class FocusConnector(Connector):
    """Files already in FOCUS: the identity mapping with type normalization."""

    format = "focus"
    description = "FOCUS 1.0–1.2 CSV or Parquet export (AWS, Azure, GCP, OCI, any provider)"

    def detect(self, probe: Probe) -> bool:
        return probe.column_set >= _SIGNATURE

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        if file.kind == "parquet":
            return load_parquet(ctx, file, view)
        return load_csv(ctx, file, view)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        known = set(focus_names())
        unknown = [c for c in raw_columns if c not in known and not c.startswith("x_")]
        if unknown:
            ctx.warn(f"ignored non-FOCUS column(s): {', '.join(unknown)}")
        present = set(raw_columns)
        mapping: dict[str, Expr] = {}
        for column in focus_columns():
            if column.name not in present:
                continue
            raw_type = ctx.raw_types.get(column.name, "VARCHAR")
            mapping[column.name] = _native(column.name, raw_type, column.sql_type)
        return mapping


def _native(name: str, raw_type: str, target: str) -> Expr:
    """Skip the cast when a typed (parquet) column already has the warehouse type."""
    if raw_type == target or (target == DECIMAL_TYPE and raw_type == "DECIMAL(38,12)"):
        return typed(name, target)
    if target == "TIMESTAMP" and raw_type == "TIMESTAMP WITH TIME ZONE":
        return typed(sql("timezone('UTC', {})", col(name)), "TIMESTAMP")
    if target == "TIMESTAMP" and raw_type.startswith("TIMESTAMP"):
        return typed(sql("CAST({} AS TIMESTAMP)", col(name)), "TIMESTAMP")
    return col(name)
