"""What every rule receives (`Inputs`) and the shared pieces of a finding: saving and identity."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from tools.optimize.config import OptimizeConfig
from tools.optimize.inventory import Bill, DayStat, Stats
from tools.optimize.models import MONTH_HOURS, Evidence, Finding, FindingKind, Saving, finding_id
from tools.optimize.prices import PriceTable
from warehouse.format import amount
from warehouse.inventory.models import Resource

__all__ = [
    "NETWORK_METRICS",
    "Inputs",
    "bill_saving",
    "days_back",
    "full_saving",
    "list_saving",
    "make_finding",
    "money",
    "quiet_days",
    "window_text",
]

NETWORK_METRICS = ("network_in_bytes", "network_out_bytes")
_CENT = Decimal("0.01")


def money(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(_CENT)


def days_back(until: date, days: int) -> list[date]:
    """The `days` days ending on `until`, oldest first."""
    return [until - timedelta(days=days - 1 - i) for i in range(days)]


def window_text(until: date, days: int) -> str:
    return f"{until - timedelta(days=days - 1)}..{until} ({days} days)"


@dataclass
class Inputs:
    """Inventory, utilization, bills and owners, loaded once per run."""

    cfg: OptimizeConfig
    currency: str
    resources: list[Resource]
    daily: dict[tuple[str, str, str], dict[date, DayStat]]
    stats: dict[tuple[str, str, str], Stats]
    bills: dict[str, Bill]
    owners: dict[str, str]
    prices: PriceTable
    util_until: date | None
    bills_since: date | None
    bills_until: date | None
    by_id: dict[str, Resource] = field(default_factory=dict)
    workloads_with_containers: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.by_id = {r.resource_id: r for r in self.resources}
        self.workloads_with_containers = {
            str(r.properties.get("workload"))
            for r in self.resources
            if r.kind == "k8s_container" and r.properties.get("workload")
        }

    def day_series(self, r: Resource, metric: str) -> dict[date, DayStat]:
        return self.daily.get((r.provider, r.resource_id, metric), {})

    def stat(self, r: Resource, metric: str) -> Stats | None:
        return self.stats.get((r.provider, r.resource_id, metric))

    def bill(self, r: Resource) -> Bill | None:
        b = self.bills.get(r.resource_id)
        return b if b is not None and b.cost != 0 else None


def bill_saving(bill: Bill, fraction: Decimal, what: str) -> Saving:
    """`fraction` of the billed run rate, e.g. 1 for stopping, 1 − new/old for resizing."""
    monthly = bill.monthly()
    saved = money(bill.monthly(exact=True) * fraction)
    return Saving(
        monthly=saved,
        source="bills",
        basis=f"billed run rate {amount(monthly)}/month ({bill.days} days of bills) × {what}",
    )


def list_saving(hourly: Decimal | None, basis: str) -> Saving:
    """A list-price saving per hour × 730 h; `none` when no list price is known."""
    if hourly is None:
        return Saving(monthly=None, source="none", basis=f"no bills and no list price: {basis}")
    return Saving(
        monthly=money(hourly * MONTH_HOURS),
        source="list_price",
        basis=f"no bills for this resource: list price {hourly:.6f}/h saved × 730 h ({basis})",
    )


def make_finding(
    inp: Inputs,
    r: Resource,
    *,
    kind: FindingKind,
    rule: str,
    source: str,
    action: str,
    summary: str,
    saving: Saving,
    evidence: list[Evidence],
    current: str | None = None,
    recommended: str | None = None,
    details: dict[str, object] | None = None,
) -> Finding:
    """A resource finding with its run rate, owner and identity filled in."""
    bill = inp.bill(r)
    return Finding(
        id=finding_id(rule, f"{r.provider}|{r.resource_id}"),
        kind=kind,
        rule=rule,
        source=source,
        action=action,
        summary=summary,
        provider=r.provider,
        resource_id=r.resource_id,
        resource_name=r.name,
        resource_kind=r.kind,
        region=r.region,
        account_id=r.account_id,
        owner=inp.owners.get(r.resource_id),
        current=current or r.instance_type,
        recommended=recommended,
        monthly_cost=bill.monthly() if bill else None,
        cost_days=bill.days if bill else 0,
        saving=saving,
        currency=inp.currency,
        evidence=evidence,
        details=dict(details or {}),
    )


def full_saving(inp: Inputs, r: Resource, hourly: Decimal | None, what: str) -> Saving:
    bill = inp.bill(r)
    if bill is not None:
        return bill_saving(bill, Decimal(1), f"1 ({what} saves all of it)")
    return list_saving(hourly, what)


def quiet_days(
    inp: Inputs, r: Resource, metric: str, days: int, quiet: Callable[[float], bool], peak: bool
) -> tuple[bool, int, float]:
    """(every covered day is quiet and coverage is enough, days with data, worst value)."""
    series = inp.day_series(r, metric)
    assert inp.util_until is not None
    covered = [d for d in days_back(inp.util_until, days) if d in series]
    values = [series[d].peak if peak else series[d].total for d in covered]
    needed = math.ceil(days * inp.cfg.idle.min_coverage_percent / 100)
    ok = len(covered) >= needed and all(quiet(v) for v in values)
    return ok, len(covered), max(values, default=0.0)
