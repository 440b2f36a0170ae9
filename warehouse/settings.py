"""Settings the warehouse layer owns, and the one strict base model every config section uses.

Each layer declares the `finops.yaml` keys it reads in a settings class that extends the one
below it (`WarehouseSettings` ← `GuardrailSettings` ← `ToolSettings` ← `agent.config.Config`),
so a function types its parameter as the lowest class it needs and never imports upward.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator

from warehouse.errors import ConfigError
from warehouse.inventory.config import CollectConfig
from warehouse.strict import Strict

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb

    from warehouse.engines.base import Engine

__all__ = [
    "Home",
    "ProviderApiConfig",
    "SnowflakeConfig",
    "StateConfig",
    "Strict",
    "WarehouseConfig",
    "WarehouseSettings",
    "parse_settings",
]


class WarehouseConfig(Strict):
    """Where the cost warehouse lives (DuckDB file by default) and which engine queries it."""

    url: str | None = Field(
        default=None,
        description="duckdb:///path/to/file.duckdb (default $FINOPS_HOME/warehouse.duckdb), "
        "spark://local[*], spark://host:7077 or sc://host:15002 (Spark Connect)",
    )
    tables: dict[str, str] = Field(
        default_factory=dict,
        description="Spark: the queries' table names mapped to lakehouse tables, "
        "e.g. {costs: billing.focus_costs, ingests: billing.focus_ingests}",
    )
    output_schema: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$",
        description="Spark: [catalog.]schema where builds (the virtual-tag allocation) are saved "
        "so every replica reads the same one; unset = kept in the session only",
    )

    def open(self, duckdb_connection: Callable[[], duckdb.DuckDBPyConnection]) -> Engine:
        """The engine this section selects; DuckDB reuses `duckdb_connection()`."""
        from warehouse.engines.url import open_engine

        return open_engine(
            self.url, duckdb_connection, self.tables, output_schema=self.output_schema
        )

    @field_validator("tables")
    @classmethod
    def _table_names(cls, value: dict[str, str]) -> dict[str, str]:
        dotted = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*){0,2}")
        for name, table in value.items():
            if not name.isidentifier() or not dotted.fullmatch(table):
                raise ValueError(
                    f"warehouse.tables {name!r}: {table!r} must be [catalog.][schema.]table"
                )
        return value


class StateConfig(Strict):
    """Where the operational state lives: approvals ledger, audit log, self-budget meter,
    scheduler lock and LangGraph checkpoints. SQLite file by default; PostgreSQL for several
    `finops serve` replicas sharing one state (password from PGPASSWORD or ~/.pgpass)."""

    url: str | None = Field(
        default=None,
        description="sqlite:///path/to/state.db or postgresql://user@host:5432/db; "
        "default $FINOPS_HOME/state.db",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        schemes = ("sqlite:///", "postgresql://", "postgres://")
        if value is not None and not value.startswith(schemes):
            raise ValueError(
                f"{value!r} is not supported; use sqlite:///path/to/state.db or "
                "postgresql://user@host:5432/dbname"
            )
        return value


class SnowflakeConfig(Strict):
    """Contract price used to turn Snowflake credits into money."""

    credit_price: Decimal = Field(default=Decimal("3.00"), gt=0)
    currency: str = "USD"
    account_name: str | None = None


class ProviderApiConfig(Strict):
    """Base URL and key environment variable for an AI provider's admin API."""

    base_url: str
    admin_key_env: str


def _default_openai() -> ProviderApiConfig:
    return ProviderApiConfig(base_url="https://api.openai.com", admin_key_env="OPENAI_ADMIN_KEY")


def _default_anthropic() -> ProviderApiConfig:
    return ProviderApiConfig(
        base_url="https://api.anthropic.com", admin_key_env="ANTHROPIC_ADMIN_KEY"
    )


class WarehouseSettings(Strict):
    """The keys the warehouse layer reads: currency, where data lives, billing-API sources."""

    reporting_currency: str = Field(default="USD", min_length=3, max_length=3)
    fx_rates: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Rate to convert 1 unit of a billing currency into the reporting currency.",
    )
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    snowflake: SnowflakeConfig = Field(default_factory=SnowflakeConfig)
    openai: ProviderApiConfig = Field(default_factory=_default_openai)
    anthropic: ProviderApiConfig = Field(default_factory=_default_anthropic)
    collect: CollectConfig = Field(
        default_factory=CollectConfig,
        description="Inventory and utilization collectors (`finops collect`; warehouse/inventory).",
    )
    ingest_max_abs_value: Decimal = Field(
        default=Decimal("1e12"),
        gt=0,
        description="Largest absolute value one ingested row may hold in any FOCUS money or "
        "quantity column; a row above it (an absurd value that would overflow sums) "
        "rejects the ingest with its file, row and column.",
    )
    ingest_max_decompressed_bytes: int = Field(
        default=16 * 1024**3,
        gt=0,
        description="Largest decompressed size of one gzip input, in bytes (decompression-bomb "
        "guard, checked while streaming, before anything is loaded).",
    )
    ingest_max_compression_ratio: int = Field(
        default=200,
        gt=1,
        description="Largest decompressed/compressed size ratio of one gzip input once it has "
        "inflated past 16 MiB (billing CSVs compress about 10-50x; zero-filled bombs about 1000x).",
    )

    @field_validator("reporting_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("fx_rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in value.items():
            if rate <= 0:
                raise ValueError(f"fx_rates.{code} must be positive, got {rate}")
        return {code.upper(): rate for code, rate in value.items()}


class Home:
    """The folder holding the warehouse, state and config of one installation."""

    def __init__(self, path: Path | str | None = None, config_path: Path | str | None = None):
        base = path if path is not None else os.environ.get("FINOPS_HOME", ".finops")
        self.path = Path(base).resolve()
        self.config_path = Path(config_path).resolve() if config_path else self.path / "finops.yaml"

    @property
    def warehouse_path(self) -> Path:
        return self.path / "warehouse.duckdb"

    @property
    def state_path(self) -> Path:
        return self.path / "state.db"

    def ensure(self) -> Path:
        """Create the home folder when missing and return it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path


S = TypeVar("S", bound=BaseModel)


def _below(annotation: Any, part: str | int) -> Any:
    """The type one error-location step below `annotation`: a model's field, a dict's value, a
    list's item, or the member of a union tagged `type` whose tag is `part`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _below(args[0], part)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    if origin is dict:
        return args[1]
    if origin is list:
        return args[0]
    if origin in (Union, UnionType):
        for member in args:
            tag = _below(member, "type")
            if tag is not None and part in get_args(tag):
                return member
            if (
                isinstance(member, type)
                and issubclass(member, BaseModel)
                and str(part) in member.model_fields
            ):
                return _below(member, part)
    return None


def _explain(error: ValidationError, source: str, schema: type[BaseModel]) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        model: type[BaseModel] = schema
        annotation: Any = schema
        for part in first["loc"][:-1]:
            annotation = _below(annotation, part)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                model = annotation
        valid = ", ".join(sorted(f.alias or name for name, f in model.model_fields.items()))
        return f"{source}: unknown key '{loc}'; valid keys here: {valid}"
    return f"{source}: {loc}: {first['msg']}"


def parse_settings(schema: type[S], data: Any, source: str = "config") -> S:
    """Validate a parsed YAML document into `schema`, raising `ConfigError` on any problem; an
    unknown key's message lists the valid keys at that place."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source, schema)) from None
