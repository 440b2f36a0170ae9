"""Any other billing CSV, mapped to FOCUS by a small YAML file (`--mapping PATH`).

For sources without a dedicated connector (a SaaS invoice export, Databricks, an internal
chargeback sheet), a mapping file says which source column feeds which FOCUS column:

    # databricks.yaml
    columns:                        # FOCUS column: source column
      ChargePeriodStart: usage_start_time
      ChargePeriodEnd: usage_end_time
      BilledCost: cost_usd
      ServiceName: sku_name
      ResourceId: cluster_id
      ConsumedQuantity: dbus
    constants:                      # FOCUS column: the same value on every row
      ProviderName: Databricks
      BillingAccountId: acme-prod
      BillingCurrency: USD
      ChargeCategory: Usage
      ServiceCategory: Analytics
      ConsumedUnit: DBU
    timestamp_format: "%Y-%m-%d %H:%M"  # optional strptime format of mapped timestamp columns
    tags: [team, cost_center]       # source columns copied into Tags (or `tag_prefix: "tag_"`)
    delimiter: ";"                  # optional, default ","

Without `timestamp_format`, timestamps are ISO 8601 (with or without zone, converted to UTC);
constants are always ISO. Money and quantities are exact decimals. Defaults fill what FOCUS lets
one derive: EffectiveCost, ListCost and ContractedCost equal BilledCost unless mapped (no
discounts known); BillingPeriodStart is the calendar month of ChargePeriodStart and
BillingPeriodEnd one month after BillingPeriodStart; PublisherName and InvoiceIssuerName equal
ProviderName. Every other mandatory column must come from `columns` or `constants`.

The file is validated strictly: an unknown key fails naming the valid keys, a FOCUS name that is
not a FOCUS 1.2 column fails (suggesting the closest one), and a source column missing from the
CSV fails naming the CSV's columns. `mapped` is never auto-detected.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from warehouse.errors import IngestError
from warehouse.ingest.base import Connector, LoadContext, LocalFile, Probe, load_csv
from warehouse.ingest.exprs import Expr, col, json_obj, lit, sql, ts, typed
from warehouse.schema import MANDATORY_NOT_NULL, focus_columns, focus_names
from warehouse.settings import Strict

__all__ = ["MappedConnector", "MappingFile", "read_mapping"]

Constant = str | int | float | date | datetime


class MappingFile(Strict):
    """The YAML mapping of one CSV layout to FOCUS columns."""

    model_config = ConfigDict(strict=True)

    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, Constant] = Field(default_factory=dict)
    timestamp_format: str | None = None
    tags: list[str] = Field(default_factory=list)
    tag_prefix: str | None = None
    delimiter: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be one character, got {value!r}")
        return value

    @field_validator("tag_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("must not be empty")
        return value


def _explain(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key {loc!r}; valid keys: {', '.join(sorted(MappingFile.model_fields))}"
    return f"{loc or 'top level'}: {first['msg']}"


def read_mapping(path: Path) -> MappingFile:
    """Read and validate a mapping file; errors say what is wrong (the caller names the file)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IngestError(f"cannot read mapping file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise IngestError(f"mapping file {path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise IngestError(f"mapping file {path}: expected a mapping with `columns`, `constants`…")
    try:
        mapping = MappingFile.model_validate(data)
    except ValidationError as exc:
        raise IngestError(f"mapping file {path}: {_explain(exc)}") from None
    if mapping.tags and mapping.tag_prefix:
        raise IngestError(f"mapping file {path}: give either `tags` or `tag_prefix`, not both")
    _check_focus_names(path, mapping)
    return mapping


def _check_focus_names(path: Path, mapping: MappingFile) -> None:
    known = focus_names()
    for section, names in (("columns", mapping.columns), ("constants", mapping.constants)):
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise IngestError(
                    f"mapping file {path}: {name!r} under `{section}` is not a FOCUS 1.2 "
                    f"column{hint}",
                    column=name,
                )
    both = sorted(set(mapping.columns) & set(mapping.constants))
    if both:
        raise IngestError(
            f"mapping file {path}: {', '.join(both)} under both `columns` and `constants`"
        )


def _mapping_path(ctx: LoadContext) -> Path:
    raw = ctx.options.get("mapping")
    if not raw:
        raise IngestError(
            "the mapped format needs a mapping file: pass --mapping PATH "
            "(YAML with `columns`, `constants`, optional `tags`; see warehouse/ingest/mapped.py)"
        )
    return Path(str(raw))


def _constant(value: Constant) -> Expr:
    if isinstance(value, date | datetime):
        return lit(value.isoformat())
    return lit(str(value))


def _sourced(path: Path, mapping: MappingFile, raw_columns: Sequence[str]) -> dict[str, Expr]:
    present = set(raw_columns)
    timestamps = {c.name for c in focus_columns() if c.is_timestamp}
    out: dict[str, Expr] = {}
    for focus, source in mapping.columns.items():
        if source not in present:
            raise IngestError(
                f"mapping file {path}: source column {source!r} (for FOCUS {focus}) is not in "
                f"the file; its columns are: {', '.join(raw_columns)}",
                column=source,
            )
        e = col(source)
        if focus in timestamps and mapping.timestamp_format:
            e = ts(e, mapping.timestamp_format)
        out[focus] = e
    return out


def _tags(path: Path, mapping: MappingFile, raw_columns: Sequence[str]) -> Expr | None:
    if mapping.tag_prefix:
        prefix = mapping.tag_prefix
        picked = {c[len(prefix) :]: c for c in raw_columns if c.startswith(prefix) and c != prefix}
    else:
        missing = [t for t in mapping.tags if t not in raw_columns]
        if missing:
            raise IngestError(
                f"mapping file {path}: tag column(s) {', '.join(missing)} not in the file; "
                f"its columns are: {', '.join(raw_columns)}",
                column=missing[0],
            )
        picked = {t: t for t in mapping.tags}
    return json_obj({key: col(source) for key, source in picked.items()}) if picked else None


def _defaults(exprs: dict[str, Expr]) -> None:
    """Fill the mandatory columns FOCUS lets one derive from the mapped ones."""
    billed = exprs.get("BilledCost")
    for name in ("EffectiveCost", "ListCost", "ContractedCost"):
        if name not in exprs and billed is not None:
            exprs[name] = billed
    start = exprs.get("ChargePeriodStart")
    if "BillingPeriodStart" not in exprs and start is not None:
        start = start if start.typed == "TIMESTAMP" else ts(start)
        month = sql("CAST(date_trunc('month', {}) AS TIMESTAMP)", start)
        exprs["BillingPeriodStart"] = typed(month, "TIMESTAMP")
    period = exprs.get("BillingPeriodStart")
    if "BillingPeriodEnd" not in exprs and period is not None:
        period = period if period.typed == "TIMESTAMP" else ts(period)
        exprs["BillingPeriodEnd"] = typed(sql("{} + INTERVAL 1 MONTH", period), "TIMESTAMP")
    provider = exprs.get("ProviderName")
    for name in ("PublisherName", "InvoiceIssuerName"):
        if name not in exprs and provider is not None:
            exprs[name] = provider


def build_columns(path: Path, mapping: MappingFile, raw_columns: Sequence[str]) -> dict[str, Expr]:
    """The FOCUS mapping a mapping file describes for a CSV with `raw_columns`."""
    exprs = _sourced(path, mapping, raw_columns)
    exprs.update({name: _constant(value) for name, value in mapping.constants.items()})
    tags = _tags(path, mapping, raw_columns)
    if tags is not None and "Tags" not in exprs:
        exprs["Tags"] = tags
    _defaults(exprs)
    missing = [c for c in MANDATORY_NOT_NULL if c not in exprs]
    if missing:
        raise IngestError(
            f"mapping file {path} gives no source for mandatory FOCUS column(s) "
            f"{', '.join(missing)}: add them under `columns` or `constants`"
        )
    return exprs


class MappedConnector(Connector):
    """Any CSV, mapped to FOCUS by a YAML mapping file (ingest option `mapping`)."""

    format = "mapped"
    description = "any CSV through a YAML mapping file (--mapping PATH)"

    def detect(self, probe: Probe) -> bool:
        return False

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        try:
            mapping = read_mapping(_mapping_path(ctx))
        except IngestError as exc:
            raise IngestError(exc.detail, file=file.display, column=exc.column) from None
        return load_csv(ctx, file, view, delimiter=mapping.delimiter)

    def default_source(self, ctx: LoadContext) -> str:
        """`mapped:<mapping file stem>`, so two different mapped feeds never replace each other."""
        return f"mapped:{_mapping_path(ctx).stem}"

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        path = _mapping_path(ctx)
        return build_columns(path, read_mapping(path), raw_columns)
