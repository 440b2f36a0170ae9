"""`collect:` in finops.yaml — where `finops collect` looks and how far back.

Composed into `WarehouseSettings` (`warehouse/settings.py`)::

    collect:
      aws:
        regions: [us-east-1, eu-west-1]   # empty: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
        lookback_days: 14                 # CloudWatch window, ending at the last full period
        metrics_period_seconds: 3600      # one sample per hour
      kubernetes:
        contexts: [prod-eu, {context: staging, cluster: staging-eu-1}]
        prometheus_url: null              # null: the metrics API (metrics.k8s.io) instead
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from warehouse.strict import Strict

__all__ = ["AwsCollectConfig", "CollectConfig", "KubeContext", "KubernetesCollectConfig"]

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


class AwsCollectConfig(Strict):
    """AWS inventory (EC2, EBS, Elastic IPs, RDS, ELBv2) and CloudWatch utilization."""

    regions: list[str] = Field(
        default_factory=list,
        description="Regions to collect; empty: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1.",
    )
    lookback_days: int = Field(default=14, ge=1, le=455)
    metrics_period_seconds: int = Field(
        default=3600, ge=60, le=86400, description="CloudWatch period (a multiple of 60)."
    )
    retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard", description="botocore retry mode."
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="botocore attempts per call, the first included (1: botocore never retries).",
    )
    throttle_retries: int = Field(
        default=6,
        ge=0,
        le=20,
        description="Further tries, with exponential backoff, of a call still throttled after "
        "botocore's own retries.",
    )
    page_size: int | None = Field(
        default=None,
        ge=1,
        description="Items per Describe page (clamped to each API's limits); default the API's.",
    )

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for region in value:
            r = region.strip().lower()
            if not _REGION.match(r):
                raise ValueError(f"{region!r} is not an AWS region name (e.g. us-east-1)")
            if r not in out:
                out.append(r)
        return out

    @field_validator("metrics_period_seconds")
    @classmethod
    def _period(cls, value: int) -> int:
        if value % 60:
            raise ValueError(f"must be a multiple of 60 seconds, got {value}")
        return value


class KubeContext(Strict):
    """One cluster: its kubeconfig context (`in-cluster` for the pod's service account) and the
    cluster name the bills use (the first part of Kubernetes `ResourceId`s)."""

    context: str = Field(min_length=1)
    cluster: str | None = Field(
        default=None,
        description="Cluster name in the bills; default the context's kubeconfig cluster name "
        "(required for in-cluster).",
    )
    prometheus_url: str | None = Field(
        default=None, description="This cluster's Prometheus, overriding kubernetes.prometheus_url."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"context": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _in_cluster_named(self) -> KubeContext:
        if self.context == "in-cluster" and not self.cluster:
            raise ValueError("an in-cluster context needs `cluster:` (its name in the bills)")
        return self


class KubernetesCollectConfig(Strict):
    """Workloads with their requests and limits, and usage from metrics.k8s.io or Prometheus."""

    contexts: list[KubeContext] = Field(
        default_factory=list,
        description="Contexts to collect; empty: the kubeconfig's current context, else "
        "in-cluster.",
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Prometheus base URL (query_range over the lookback window); null: the "
        "metrics API's current sample.",
    )
    prometheus_cluster_label: str | None = Field(
        default=None,
        description="Label naming the cluster in a Prometheus shared by several clusters.",
    )
    lookback_days: int = Field(default=14, ge=1, le=90)
    metrics_period_seconds: int = Field(default=3600, ge=60, le=86400)
    page_size: int = Field(default=500, ge=1, le=10_000, description="`limit` of list calls.")
    retries: int = Field(default=4, ge=0, le=20, description="Tries after a 429 / 5xx answer.")

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if value else value


class CollectConfig(Strict):
    """`finops collect` settings (`collect:` in finops.yaml)."""

    aws: AwsCollectConfig = Field(default_factory=AwsCollectConfig)
    kubernetes: KubernetesCollectConfig = Field(default_factory=KubernetesCollectConfig)
