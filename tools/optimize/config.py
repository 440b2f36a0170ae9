"""`optimize:` in finops.yaml — idle rules, rightsizing, Kubernetes requests and commitments.

Composed into `ToolSettings` (`tools/settings.py`). Every default names its source in the
field's description; `tools.optimize` documents the method.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from warehouse.errors import ConfigError
from warehouse.settings import Strict

__all__ = [
    "DEFAULT_PRODUCTS",
    "CommitmentConfig",
    "CommitmentProduct",
    "IdleConfig",
    "KubernetesConfig",
    "OptimizeConfig",
    "RightsizeConfig",
    "load_optimize_config",
    "settings",
]

Term = Literal["1y", "3y"]
TERM_MONTHS: dict[str, int] = {"1y": 12, "3y": 36}


class IdleConfig(Strict):
    """Idle rules. Defaults are AWS Trusted Advisor's cost-optimization check criteria."""

    lookback_days: int = Field(
        default=14, ge=1, le=93, description="Trusted Advisor Qch7DwouX1: the previous 14 days."
    )
    cpu_percent: float = Field(
        default=10.0, ge=0, le=100, description="A low day has daily average CPU ≤ this (TA: 10%)."
    )
    network_mb_per_day: float = Field(
        default=5.0, ge=0, description="…and network in + out ≤ this many MB (10^6 bytes; TA: 5)."
    )
    min_low_days: int = Field(default=4, ge=1, description="Low days needed (TA: at least 4).")
    rds_days: int = Field(
        default=7, ge=1, le=93, description="No DB connection for this many days (TA Ti39halfu8)."
    )
    lb_days: int = Field(default=7, ge=1, le=93, description="TA hjLMh88uM8: the last 7 days.")
    lb_max_requests_per_day: float = Field(
        default=100, ge=0, description="Idle when every day has fewer requests than this (TA: 100)."
    )
    k8s_days: int = Field(default=7, ge=1, le=93)
    k8s_max_cpu_percent_of_request: float = Field(
        default=5.0,
        ge=0,
        le=100,
        description="Zero usage: the daily maximum CPU usage ≤ this share of the CPU request on "
        "every day (and no requests served when request_count is collected).",
    )
    k8s_max_cpu_cores: float = Field(
        default=0.01, ge=0, description="Zero usage when the workload has no CPU request."
    )
    min_coverage_percent: float = Field(
        default=80,
        gt=0,
        le=100,
        description="A 'no activity for N days' rule needs samples on this share of the N days.",
    )
    unattached_min_age_days: int = Field(
        default=0, ge=0, description="Grace period for new unattached volumes / addresses."
    )
    instance_kinds: list[str] = Field(
        default_factory=lambda: ["ec2_instance", "vm_instance"],
        description="Resource kinds the instance rules apply to.",
    )


class RightsizeConfig(Strict):
    """Instance rightsizing. Defaults are AWS Compute Optimizer's (PutRecommendationPreferences)."""

    lookback_days: int = Field(default=14, ge=1, le=93, description="Compute Optimizer: 14 days.")
    cpu_percentile: float = Field(
        default=99.5, gt=0, le=100, description="Compute Optimizer CPU threshold: P99_5."
    )
    cpu_headroom_percent: float = Field(
        default=20, ge=0, le=100, description="Compute Optimizer CPU headroom: PERCENT_20."
    )
    memory_percentile: float = Field(
        default=100,
        gt=0,
        le=100,
        description="Memory is not compressible: the measured maximum by default.",
    )
    memory_headroom_percent: float = Field(
        default=20, ge=0, le=100, description="Compute Optimizer memory headroom: PERCENT_20."
    )
    require_memory: bool = Field(
        default=False,
        description="Skip instances without a memory metric instead of sizing by CPU alone.",
    )
    min_days_with_data: int = Field(default=7, ge=1, description="Days with samples required.")
    min_monthly_saving: Decimal = Field(default=Decimal("10"), ge=0)


class KubernetesConfig(Strict):
    """Container requests, VPA-style. Defaults from the VPA recommender's flags."""

    lookback_days: int = Field(default=14, ge=1, le=93)
    cpu_percentile: float = Field(
        default=90, gt=0, le=100, description="VPA target CPU percentile: 0.9."
    )
    memory_percentile: float = Field(
        default=95, gt=0, le=100, description="Above VPA's 0.9: memory is not compressible."
    )
    margin_percent: float = Field(
        default=15, ge=0, le=200, description="VPA --recommendation-margin-fraction: 0.15."
    )
    min_cpu_cores: float = Field(
        default=0.025, ge=0, description="VPA --pod-recommendation-min-cpu-millicores: 25."
    )
    min_memory_mib: float = Field(
        default=250, ge=0, description="VPA --pod-recommendation-min-memory-mb: 250."
    )
    min_reduction_percent: float = Field(
        default=20, ge=0, lt=100, description="Propose only when a request drops at least this."
    )
    min_days_with_data: int = Field(default=7, ge=1)
    min_monthly_saving: Decimal = Field(default=Decimal("10"), ge=0)
    core_hour_price: Decimal = Field(
        default=Decimal("0.031611"), ge=0, description="List fallback: OpenCost default CPU price."
    )
    gib_hour_price: Decimal = Field(
        default=Decimal("0.004237"), ge=0, description="List fallback: OpenCost default RAM price."
    )


class CommitmentProduct(Strict):
    """A commitment that covers on-demand spend of some services, with assumed discounts."""

    name: str = Field(min_length=1)
    provider: str = Field(min_length=1, description="FOCUS ProviderName, e.g. AWS.")
    services: list[str] = Field(min_length=1, description="FOCUS ServiceName values covered.")
    discount_percent: dict[Term, float] = Field(
        description="Assumed discount off on-demand per term (1y, 3y). An assumption: set it "
        "from your price quote."
    )

    @field_validator("discount_percent")
    @classmethod
    def _discounts(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("give at least one term (1y or 3y)")
        for term, pct in value.items():
            if not 0 < pct < 100:
                raise ValueError(f"discount for {term} must be between 0 and 100, got {pct}")
        return value


DEFAULT_PRODUCTS: tuple[CommitmentProduct, ...] = (
    CommitmentProduct(
        name="Compute Savings Plan",
        provider="AWS",
        services=["Amazon Elastic Compute Cloud", "AWS Lambda", "Amazon Elastic Container Service"],
        discount_percent={"1y": 25, "3y": 45},
    ),
    CommitmentProduct(
        name="RDS Reserved Instances",
        provider="AWS",
        services=["Amazon Relational Database Service"],
        discount_percent={"1y": 30, "3y": 50},
    ),
    CommitmentProduct(
        name="Azure savings plan for compute",
        provider="Microsoft",
        services=["Virtual Machines"],
        discount_percent={"1y": 20, "3y": 40},
    ),
    CommitmentProduct(
        name="Compute Engine committed use discount",
        provider="Google Cloud",
        services=["Compute Engine"],
        discount_percent={"1y": 25, "3y": 45},
    ),
)
"""Conservative assumptions, below the providers' advertised maxima; not quotes. Scope is by
FOCUS ServiceName (ECS bills Fargate; EKS is left out because its control-plane fee is not
covered); charges a plan does not cover inside those services (e.g. Lambda requests) are not
modelled beyond PricingCategory = Standard."""


class CommitmentConfig(Strict):
    """Commitment coverage from the steady on-demand baseline; under-used commitments."""

    lookback_days: int = Field(default=30, ge=7, le=365)
    baseline_percentile: float = Field(
        default=10, ge=0, le=50, description="The baseline is this percentile of on-demand spend."
    )
    granularity: Literal["auto", "hourly", "daily"] = Field(
        default="auto", description="auto: hourly when the bills are hourly, else daily."
    )
    after_rightsizing: bool = Field(
        default=True,
        description="Subtract the idle and rightsizing savings first: commit to what remains.",
    )
    preferred_term: Term = "1y"
    min_monthly_saving: Decimal = Field(default=Decimal("10"), ge=0)
    min_utilization_percent: float = Field(
        default=80, ge=0, le=100, description="Flag a commitment used less than this."
    )
    products: list[CommitmentProduct] = Field(default_factory=lambda: list(DEFAULT_PRODUCTS))


class OptimizeConfig(Strict):
    """Optimization findings: idle resources, rightsizing, Kubernetes requests, commitments."""

    metric: Literal["billed", "effective"] = Field(
        default="billed", description="Cost column behind run rates and savings."
    )
    bill_days: int = Field(
        default=30, ge=1, le=365, description="Bills behind a resource's monthly run rate."
    )
    protect_keys: list[str] = Field(
        default_factory=lambda: ["finops:protected", "finops/protected"],
        description="Tag / label keys that protect a resource (K8s label keys cannot hold ':').",
    )
    protect_values: list[str] = Field(default_factory=lambda: ["true"])
    owner_vtag: str = Field(default="team", description="Virtual tag that names the owner.")
    idle: IdleConfig = Field(default_factory=IdleConfig)
    rightsize: RightsizeConfig = Field(default_factory=RightsizeConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    commitments: CommitmentConfig = Field(default_factory=CommitmentConfig)

    @field_validator("protect_values")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value]


def settings(config: Any) -> OptimizeConfig:
    """The config's `optimize:` section, or the defaults while the config has none."""
    value = getattr(config, "optimize", None)
    return value if isinstance(value, OptimizeConfig) else OptimizeConfig()


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = OptimizeConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model


def load_optimize_config(data: Any, source: str = "optimize") -> OptimizeConfig:
    """Validate an `optimize:` mapping, raising `ConfigError` that names the key and the problem.

    Example: `load_optimize_config({"idle": {"cpu_percent": 5}})`.
    """
    if data is None:
        return OptimizeConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    try:
        return OptimizeConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            model = _model_at(first["loc"][:-1])
            valid = ", ".join(sorted(model.model_fields))
            raise ConfigError(f"{source}: unknown key '{loc}'; valid keys here: {valid}") from None
        raise ConfigError(f"{source}: {loc}: {first['msg']}") from None
