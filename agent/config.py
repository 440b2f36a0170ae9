"""Home folder and `finops.yaml` configuration.

`FINOPS_HOME` (default `./.finops`) holds the warehouse, the state database and the config file.
The config is validated strictly: an unknown key fails and the message lists the valid names, so a
typo never silently disables a setting. Later features add their own sections here.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.errors import ConfigError
from agent.scheduler_config import Schedule
from agent.slack.config import SlackConfig
from tools.actions.config import ActionsConfig
from tools.anomaly_config import AnomalyConfig
from tools.budget_config import Budget
from tools.events.config import EventsConfig, RunawayConfig
from tools.forecast_config import ForecastConfig
from tools.notify_config import NotifyConfig
from tools.optimize.config import OptimizeConfig
from tools.savings_config import SavingsConfig
from tools.sweep_config import SweepConfig
from tools.tickets_config import TicketsConfig
from tools.vtags.definitions import VirtualTag
from warehouse.inventory.config import CollectConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb

    from warehouse.engines.base import Engine

__all__ = [
    "ApprovalsConfig",
    "BudgetConfig",
    "Config",
    "Home",
    "ModelsConfig",
    "SnowflakeConfig",
    "StateConfig",
    "WarehouseConfig",
    "load_config",
]


_VTAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseConfig(_Strict):
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


class StateConfig(_Strict):
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


class SnowflakeConfig(_Strict):
    """Contract price used to turn Snowflake credits into money."""

    credit_price: Decimal = Field(default=Decimal("3.00"), gt=0)
    currency: str = "USD"
    account_name: str | None = None


class ProviderApiConfig(_Strict):
    """Base URL and key environment variable for an AI provider's admin API."""

    base_url: str
    admin_key_env: str


def _default_openai() -> ProviderApiConfig:
    return ProviderApiConfig(base_url="https://api.openai.com", admin_key_env="OPENAI_ADMIN_KEY")


def _default_anthropic() -> ProviderApiConfig:
    return ProviderApiConfig(
        base_url="https://api.anthropic.com", admin_key_env="ANTHROPIC_ADMIN_KEY"
    )


class ApprovalsConfig(_Strict):
    """How proposals are decided: expiry, and which action types need two distinct approvers."""

    expiry_hours: float = Field(default=72, gt=0, le=24 * 30)
    blocked_actions: list[str] = Field(
        default_factory=list, description="Action types that never execute, even if approved."
    )
    max_executions_per_day: int = Field(
        default=50, ge=0, description="Executions of one action type that may start per UTC day."
    )
    dry_run: bool = Field(
        default=False,
        description="Approved proposals are re-validated and recorded but nothing is changed.",
    )
    execution_lease_minutes: float = Field(
        default=15,
        gt=0,
        description="An execution not finished after this long is marked failed, outcome "
        "unknown (never retried).",
    )
    two_person: list[str] = Field(
        default_factory=lambda: ["delete_ebs_volume"],
        description="Action types that need two distinct approvers (default: delete_ebs_volume, "
        "irreversible; a list set in the config replaces the default).",
    )


class BudgetConfig(_Strict):
    """The agent's own LLM spend caps (USD) and per-run call caps. Checked before each call."""

    per_run_usd: Decimal = Field(default=Decimal("0.50"), ge=0)
    per_day_usd: Decimal = Field(default=Decimal("5.00"), ge=0)
    per_month_usd: Decimal = Field(default=Decimal("50.00"), ge=0)
    max_model_calls_per_run: int = Field(default=12, ge=1)
    max_tool_calls_per_run: int = Field(default=20, ge=0)
    max_output_tokens: int = Field(default=2048, ge=16)


class ModelsConfig(_Strict):
    """Which chat model answers: `auto` picks Anthropic, then OpenAI, by which key is set, and
    the offline planner when neither is; the other provider is the fallback on errors."""

    provider: Literal["auto", "offline", "anthropic", "openai"] = "auto"
    anthropic_model: str = "claude-sonnet-4-6"
    openai_model: str = "gpt-5-mini"
    anthropic_key_env: str = "ANTHROPIC_API_KEY"
    openai_key_env: str = "OPENAI_API_KEY"
    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    max_retries: int = Field(default=2, ge=0, le=10)
    timeout_seconds: float = Field(default=60, gt=0)


class Config(_Strict):
    """The whole `finops.yaml`. Every section is optional; defaults suit the embedded demo."""

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
    approvers: list[str] = Field(
        default_factory=list,
        description="User ids allowed to approve proposals. Empty: nobody can approve.",
    )
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    virtual_tags: dict[str, VirtualTag] = Field(
        default_factory=dict, description="Virtual tag name → definition (see tools/vtags)."
    )
    anomalies: AnomalyConfig = Field(
        default_factory=AnomalyConfig, description="Cost anomaly detection (tools/anomalies.py)."
    )
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig,
        description="Stored forecasts refreshed after every ingest (tools/forecast_config.py).",
    )
    budgets: list[Budget] = Field(
        default_factory=list, description="Budgets and policies (see tools/budgets.py)."
    )
    events: EventsConfig = Field(
        default_factory=EventsConfig,
        description="The usage-event endpoint `finops events` (see tools/events).",
    )
    runaway: RunawayConfig = Field(
        default_factory=RunawayConfig,
        description="Runaway-agent burn-rate rules over usage events (tools/events/rules.py).",
    )
    collect: CollectConfig = Field(
        default_factory=CollectConfig,
        description="Inventory and utilization collectors (`finops collect`; warehouse/inventory).",
    )
    optimize: OptimizeConfig = Field(
        default_factory=OptimizeConfig,
        description="Idle, rightsizing and commitment findings (see tools/optimize).",
    )
    actions: ActionsConfig = Field(
        default_factory=ActionsConfig,
        description="Blast-radius limits of optimization actions (see tools/actions).",
    )
    sweep: SweepConfig = Field(
        default_factory=SweepConfig, description="What `finops sweep` ingests and how it runs."
    )
    schedule: Schedule = Field(
        default_factory=list,
        description="Cron jobs `finops serve` runs (sweep, digest, ...; agent/scheduler_config).",
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Alert channels, routes by owner and severity, retries (see tools/notify).",
    )
    savings: SavingsConfig = Field(
        default_factory=SavingsConfig,
        description="Realized savings: baseline days, minimum post days, metric (tools/savings).",
    )
    tickets: TicketsConfig = Field(
        default_factory=TicketsConfig,
        description="Ticket backend (local, Jira, GitHub) and routing by owner (tools/tickets*).",
    )
    slack: SlackConfig = Field(
        default_factory=SlackConfig,
        description="Slack app: token sources, channels, roles, chat rate limit (agent/slack).",
    )

    @model_validator(mode="after")
    def _slack_alert_defaults(self) -> Config:
        """`slack_app` alert channels use the Slack app's token variable and API base URL
        unless they name their own."""
        notify = self.notify.with_slack_defaults(self.slack.bot_token_env, self.slack.base_url)
        object.__setattr__(self, "notify", notify)  # Config is frozen
        return self

    @field_validator("budgets")
    @classmethod
    def _budget_names(cls, value: list[Budget]) -> list[Budget]:
        names = [b.name for b in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"budget names must be unique: {', '.join(dupes)}")
        return value

    @field_validator("virtual_tags")
    @classmethod
    def _vtag_names(cls, value: dict[str, VirtualTag]) -> dict[str, VirtualTag]:
        for name in value:
            if not _VTAG_NAME.match(name):
                raise ValueError(
                    f"virtual tag name {name!r} must be lower case letters, digits and _ "
                    "(starting with a letter, at most 40 characters)"
                )
        return value

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


def _explain(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        model: type[BaseModel] = Config
        annotation: Any = Config
        for part in first["loc"][:-1]:
            annotation = _below(annotation, part)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                model = annotation
        valid = ", ".join(sorted(f.alias or name for name, f in model.model_fields.items()))
        return f"{source}: unknown key '{loc}'; valid keys here: {valid}"
    return f"{source}: {loc}: {first['msg']}"


def parse_config(data: Any, source: str = "config") -> Config:
    """Validate a parsed YAML document into a `Config`, raising `ConfigError` on any problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source)) from None


def load_config(home: Home) -> Config:
    """Read the home's config file; a missing file means all defaults."""
    path = home.config_path
    if not path.exists():
        return Config()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return parse_config(data, str(path))
