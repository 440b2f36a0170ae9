"""The bundled instance price table (`data/ec2_prices.csv`) and the cheapest-fit search.

The table is a dated snapshot of on-demand Linux list prices (see its header). Rightsizing uses
it for two things only: the shape of each type (vCPUs, memory, burstable baseline) and the price
*ratio* between two sizes of one family in one region. Absolute prices matter only when the bills
lack a resource.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

__all__ = ["PriceTable", "Shape", "price_table", "provider_key"]

_PROVIDERS = {
    "aws": "aws",
    "amazon web services": "aws",
    "azure": "azure",
    "microsoft": "azure",
    "gcp": "gcp",
    "google cloud": "gcp",
    "google": "gcp",
}
REFERENCE_REGION = {"aws": "us-east-1", "azure": "eastus", "gcp": "us-central1"}
"""Where a family's price ratios are read when the resource's region is not in the table."""


def provider_key(provider: str | None) -> str:
    """`AWS`, `aws`, `Microsoft`, `Google Cloud` → the table's provider key."""
    text = (provider or "").strip().lower()
    return _PROVIDERS.get(text, text)


@dataclass(frozen=True)
class Shape:
    """One instance type in one region: size and on-demand price per hour."""

    provider: str
    region: str
    name: str
    family: str
    vcpu: int
    memory_gib: float
    price: Decimal
    baseline_cpu_percent: float

    @property
    def burstable(self) -> bool:
        return self.baseline_cpu_percent < 100


class PriceTable:
    """Types by (provider, region, name), with the cheapest fitting size of a family."""

    def __init__(self, shapes: list[Shape]) -> None:
        self._by_key = {(s.provider, s.region, s.name): s for s in shapes}
        self._regions: dict[tuple[str, str], set[str]] = {}
        for s in shapes:
            self._regions.setdefault((s.provider, s.name), set()).add(s.region)

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, provider: str | None, name: str | None, region: str | None) -> Shape | None:
        """The type in the resource's region, else in the provider's reference region, else in
        any region of the table (`Shape.region` says which was used)."""
        prov = provider_key(provider)
        if not name:
            return None
        regions = self._regions.get((prov, name))
        if not regions:
            return None
        for candidate in (region, REFERENCE_REGION.get(prov)):
            if candidate in regions:
                return self._by_key[(prov, candidate, name)]
        return self._by_key[(prov, sorted(regions)[0], name)]

    def family(self, current: Shape) -> list[Shape]:
        """Every size of the current type's family in the same table region."""
        return [
            s
            for (prov, region, _), s in self._by_key.items()
            if prov == current.provider and region == current.region and s.family == current.family
        ]

    def cheapest_fit(
        self,
        current: Shape,
        *,
        vcpu_needed: float,
        memory_needed: float | None,
        sustained_vcpu: float,
    ) -> Shape | None:
        """The cheapest strictly smaller, strictly cheaper size of the family that fits.

        Fits: vCPUs ≥ `vcpu_needed` (the peak with headroom), memory ≥ `memory_needed` when known,
        and for burstable sizes the sustained need ≤ vCPUs × baseline. Never the same or a bigger
        type: no dimension may grow and the price must drop.
        """
        fits = [
            s
            for s in self.family(current)
            if s.name != current.name
            and s.vcpu <= current.vcpu
            and s.memory_gib <= current.memory_gib
            and s.price < current.price
            and s.vcpu >= vcpu_needed
            and (memory_needed is None or s.memory_gib >= memory_needed)
            and (not s.burstable or sustained_vcpu <= s.vcpu * s.baseline_cpu_percent / 100)
        ]
        if not fits:
            return None
        return min(fits, key=lambda s: (s.price, s.vcpu, s.memory_gib, s.name))


def _read(text: str) -> list[Shape]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [
        Shape(
            provider=r["provider"],
            region=r["region"],
            name=r["instance_type"],
            family=r["family"],
            vcpu=int(r["vcpu"]),
            memory_gib=float(r["memory_gib"]),
            price=Decimal(r["price_per_hour"]),
            baseline_cpu_percent=float(r["baseline_cpu_percent"]),
        )
        for r in csv.DictReader(lines)
    ]


@cache
def price_table() -> PriceTable:
    """The bundled snapshot (read once)."""
    text = resources.files("tools.optimize").joinpath("data/ec2_prices.csv").read_text()
    return PriceTable(_read(text))
