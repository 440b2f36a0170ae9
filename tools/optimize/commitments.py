"""Commitments: coverage for the steady on-demand baseline, and under-used commitments.

**Coverage.** For each configured product (Compute Savings Plan over EC2, Lambda and ECS/Fargate;
RDS reserved instances; Azure savings plan; GCP CUDs) the on-demand spend of its services over the
last `lookback_days` (30) is summed per hour (hourly bills) or per day (daily bills, ÷ 24), with
missing buckets as 0. On-demand means ChargeCategory Usage, PricingCategory Standard (or empty)
and no CommitmentDiscountId. The baseline is the `baseline_percentile` (p10) of those buckets: the
spend present at least 90% of the time. With `after_rightsizing`, the idle and rightsizing
savings found on resources in scope are taken off first (commit to what remains, not to waste).

For a term with assumed discount d: commitment = baseline × (1 − d) per hour (a Savings Plan's
spend commitment; for reservations the equivalent amortized fee), expected saving = baseline × d
× 730 per month if fully used, break-even = term months × (1 − d): how long the covered usage must
keep running for the commitment to pay for itself (the same for any payment option, ignoring
interest).

**Under-used commitments.** FOCUS rows with a CommitmentDiscountId carry CommitmentDiscountStatus
`Used` or `Unused`; per commitment, utilization = used / (used + unused) EffectiveCost (amortized:
upfront fees are in EffectiveCost, not BilledCost) over the window. Below
`min_utilization_percent` (80) the unused run rate is reported as money paid for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np

from tools.optimize.common import money
from tools.optimize.config import TERM_MONTHS, CommitmentProduct, OptimizeConfig
from tools.optimize.models import MONTH_HOURS, Evidence, Finding, Saving, finding_id
from tools.query import Engine, cost_expression, literal, transpile
from tools.settings import ToolSettings
from warehouse.format import money as fmt_money
from warehouse.format import percent

__all__ = ["SOURCES", "commitment_findings", "underused_findings"]

SOURCES = {
    "commitment_coverage": "FinOps Foundation practice: commit to the steady baseline after "
    "removing waste; baseline = p10 of on-demand spend over 30 days, discount per term assumed "
    "in optimize.commitments.products",
    "commitment_underused": "FOCUS 1.2 CommitmentDiscountStatus (Used / Unused) per "
    "CommitmentDiscountId, EffectiveCost",
}


def _between(start: date, end: date) -> str:
    lo, hi = literal(start.isoformat()), literal((end + timedelta(days=1)).isoformat())
    return (
        f"ChargePeriodStart >= CAST({lo} AS TIMESTAMP) AND "
        f"ChargePeriodStart < CAST({hi} AS TIMESTAMP)"
    )


def _scope(product: CommitmentProduct) -> str:
    services = ", ".join(literal(s) for s in product.services)
    return (
        f"ProviderName = {literal(product.provider)} AND ServiceName IN ({services}) AND "
        "ChargeCategory = 'Usage'"
    )


_ON_DEMAND = "coalesce(PricingCategory, 'Standard') = 'Standard' AND CommitmentDiscountId IS NULL"


def _hourly(engine: Engine, where: str, granularity: str) -> bool:
    if granularity != "auto":
        return granularity == "hourly"
    sql = f"SELECT max(date_diff('second', ChargePeriodStart, ChargePeriodEnd)) FROM costs {where}"
    row = engine.fetch(transpile(sql, engine.dialect))
    return bool(row and row[0][0] is not None and row[0][0] <= 3600)


def _buckets(
    engine: Engine, where: str, cost: str, start: date, end: date, hourly: bool
) -> np.ndarray:
    grain = "hour" if hourly else "day"
    sql = (
        f"SELECT date_trunc({literal(grain)}, ChargePeriodStart) AS b, sum({cost}) FROM costs "
        f"{where} GROUP BY 1"
    )
    values = {r[0]: float(r[1] or 0) for r in engine.fetch(transpile(sql, engine.dialect))}
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = datetime(start.year, start.month, start.day)
    count = ((end - start).days + 1) * (24 if hourly else 1)
    series = [values.get(first + step * i, 0.0) for i in range(count)]
    return np.asarray(series) / (1 if hourly else 24)


def _waste_in_scope(engine: Engine, where: str, findings: Sequence[Finding]) -> tuple[Decimal, int]:
    """Hourly idle + rightsizing savings of resources billed in the product's scope."""
    ids = {f.resource_id for f in findings if f.resource_id and f.saving.monthly}
    if not ids:
        return Decimal(0), 0
    sql = f"SELECT DISTINCT ResourceId FROM costs {where} AND ResourceId IS NOT NULL"
    in_scope = {str(r[0]) for r in engine.fetch(transpile(sql, engine.dialect))} & ids
    total = sum(
        (f.saving.monthly or Decimal(0) for f in findings if f.resource_id in in_scope),
        Decimal(0),
    )
    return total / MONTH_HOURS, len(in_scope)


def _options(baseline: Decimal, product: CommitmentProduct) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for term, pct in sorted(product.discount_percent.items()):
        d = Decimal(str(pct)) / 100
        months = TERM_MONTHS[term]
        out.append(
            {
                "term": term,
                "discount_percent": pct,
                "commitment_per_hour": money(baseline * (1 - d)),
                "monthly_saving": money(baseline * d * MONTH_HOURS),
                "term_commitment_cost": money(baseline * (1 - d) * MONTH_HOURS * months),
                "break_even_months": float(round(months * (1 - d), 1)),
            }
        )
    return out


@dataclass(frozen=True)
class _Baseline:
    """A product's on-demand series, its low percentile, the waste in it and current coverage."""

    series: np.ndarray
    hourly: bool
    measured: Decimal
    waste: Decimal
    wasted: int
    covered: Decimal

    @property
    def value(self) -> Decimal:
        return max(self.measured - self.waste, Decimal(0))

    @property
    def grain(self) -> str:
        return "hourly" if self.hourly else "daily ÷ 24"

    @property
    def coverage(self) -> Decimal:
        on_demand = Decimal(f"{self.series.sum() * (1 if self.hourly else 24):.6f}")
        total = self.covered + on_demand
        return self.covered / total * 100 if total else Decimal(0)


def _baseline(
    engine: Engine,
    config: ToolSettings,
    cfg: OptimizeConfig,
    product: CommitmentProduct,
    findings: Sequence[Finding],
    start: date,
    end: date,
) -> _Baseline | None:
    c = cfg.commitments
    where = f"WHERE {_scope(product)} AND {_between(start, end)}"
    on_demand = f"{where} AND {_ON_DEMAND}"
    cost = cost_expression(cfg.metric, config.reporting_currency, config.fx_rates)
    hourly = _hourly(engine, on_demand, c.granularity)
    series = _buckets(engine, on_demand, cost, start, end, hourly)
    if not series.size or series.max() <= 0:
        return None
    waste, wasted = (Decimal(0), 0)
    if c.after_rightsizing:
        waste, wasted = _waste_in_scope(engine, on_demand, findings)
    covered_sql = f"SELECT sum({cost}) FROM costs {where} AND CommitmentDiscountId IS NOT NULL"
    covered = Decimal(engine.fetch(transpile(covered_sql, engine.dialect))[0][0] or 0)
    measured = Decimal(f"{float(np.percentile(series, c.baseline_percentile)):.6f}")
    return _Baseline(series, hourly, measured, waste, wasted, covered)


def _coverage_evidence(b: _Baseline, pct: float, currency: str, window: str) -> list[Evidence]:
    out = [
        Evidence(
            metric="on-demand spend per hour",
            statistic=f"p{pct:g} ({b.grain})",
            window=window,
            value=float(b.measured),
            unit=f"{currency}/h",
            detail=f"mean {b.series.mean():.4f}, min {b.series.min():.4f}, max "
            f"{b.series.max():.4f} over {b.series.size} buckets",
        ),
        Evidence(
            metric="current commitment coverage",
            statistic="covered / (covered + on-demand)",
            window=window,
            value=round(float(b.coverage), 2),
            unit="%",
        ),
    ]
    if b.waste:
        out.append(
            Evidence(
                metric="idle + rightsizing savings in scope",
                statistic="sum",
                window=window,
                value=float(money(b.waste)),
                unit=f"{currency}/h",
                detail=f"{b.wasted} resource(s); removed from the baseline before committing",
            )
        )
    return out


def _coverage_details(
    product: CommitmentProduct, b: _Baseline, options: list[dict[str, object]]
) -> dict[str, object]:
    return {
        "product": product.name,
        "services": product.services,
        "baseline_per_hour": money(b.value),
        "measured_baseline_per_hour": b.measured,
        "waste_removed_per_hour": money(b.waste),
        "granularity": b.grain,
        "coverage_percent": round(float(b.coverage), 2),
        "options": options,
    }


def _coverage_finding(
    engine: Engine,
    config: ToolSettings,
    cfg: OptimizeConfig,
    product: CommitmentProduct,
    findings: Sequence[Finding],
    start: date,
    end: date,
) -> Finding | None:
    c, cur = cfg.commitments, config.reporting_currency
    b = _baseline(engine, config, cfg, product, findings, start, end)
    if b is None or b.value <= 0:
        return None
    options = _options(b.value, product)
    chosen = next((o for o in options if o["term"] == c.preferred_term), options[0])
    saving, term = Decimal(str(chosen["monthly_saving"])), str(chosen["term"])
    if saving < c.min_monthly_saving:
        return None
    days = (end - start).days + 1
    return Finding(
        id=finding_id("commitment_coverage", product.name),
        kind="commitment",
        rule="commitment_coverage",
        source=SOURCES["commitment_coverage"],
        action="purchase_commitment",
        provider=product.provider,
        resource_name=product.name,
        summary=f"commit {cur} {chosen['commitment_per_hour']}/h to {product.name} ({term}, "
        f"{chosen['discount_percent']}% assumed): covers {money(b.value)}/h of steady on-demand "
        f"{', '.join(product.services)}; break-even {chosen['break_even_months']} months",
        recommended=f"{product.name} {term} {chosen['commitment_per_hour']}/h",
        monthly_cost=money(Decimal(f"{b.series.mean():.6f}") * MONTH_HOURS),
        cost_days=days,
        saving=Saving(
            monthly=saving,
            source="bills",
            basis=f"baseline {money(b.value)}/h × {chosen['discount_percent']}% assumed "
            "discount × 730 h, if fully used",
        ),
        currency=cur,
        evidence=_coverage_evidence(b, c.baseline_percentile, cur, f"{start}..{end} ({days} days)"),
        details=_coverage_details(product, b, options),
    )


def commitment_findings(
    engine: Engine,
    config: ToolSettings,
    cfg: OptimizeConfig,
    findings: Sequence[Finding],
    until: date,
) -> list[Finding]:
    """One coverage recommendation per product with steady on-demand spend to cover."""
    start = until - timedelta(days=cfg.commitments.lookback_days - 1)
    out = []
    for product in cfg.commitments.products:
        found = _coverage_finding(engine, config, cfg, product, findings, start, until)
        if found is not None:
            out.append(found)
    return out


@dataclass(frozen=True)
class _Commitment:
    """One commitment's Used and Unused EffectiveCost over the days it existed in the window."""

    cid: str
    name: str | None
    category: str | None
    ctype: str | None
    provider: str | None
    used: Decimal
    unused: Decimal
    days: int
    window: str

    @property
    def utilization(self) -> Decimal:
        return self.used / (self.used + self.unused) * 100

    def monthly(self, amount: Decimal) -> Decimal:
        return money(amount / self.days * MONTH_HOURS / 24)


def underused_findings(
    engine: Engine, config: ToolSettings, cfg: OptimizeConfig, until: date
) -> list[Finding]:
    """Commitments whose Used share of EffectiveCost is below the configured utilization."""
    c = cfg.commitments
    start = until - timedelta(days=c.lookback_days - 1)
    cost = cost_expression("effective", config.reporting_currency, config.fx_rates)
    status = "lower(coalesce(CommitmentDiscountStatus, ''))"
    sql = (
        "SELECT CommitmentDiscountId, max(CommitmentDiscountName), "
        "max(CommitmentDiscountCategory), max(CommitmentDiscountType), max(ProviderName), "
        f"sum(CASE WHEN {status} = 'used' THEN {cost} ELSE 0 END), "
        f"sum(CASE WHEN {status} = 'unused' THEN {cost} ELSE 0 END), "
        "CAST(min(ChargePeriodStart) AS DATE) FROM costs WHERE CommitmentDiscountId IS NOT NULL "
        f"AND {_between(start, until)} GROUP BY 1 ORDER BY 1"
    )
    out = []
    for cid, name, category, ctype, provider, used, unused, first in engine.fetch(
        transpile(sql, engine.dialect)
    ):
        since = max(first, start)
        k = _Commitment(
            str(cid),
            name,
            category,
            ctype,
            provider,
            Decimal(used or 0),
            Decimal(unused or 0),
            (until - since).days + 1,
            f"{since}..{until}",
        )
        if k.used + k.unused > 0 and k.utilization < Decimal(str(c.min_utilization_percent)):
            out.append(_underused(config.reporting_currency, k))
    return out


def _underused(currency: str, k: _Commitment) -> Finding:
    unused = k.monthly(k.unused)
    evidence = Evidence(
        metric="CommitmentDiscountStatus",
        statistic="Used / (Used + Unused) EffectiveCost",
        window=k.window,
        value=round(float(k.utilization), 2),
        unit="%",
        detail=f"used {money(k.used)}, unused {money(k.unused)}",
    )
    return Finding(
        id=finding_id("commitment_underused", k.cid),
        kind="commitment",
        rule="commitment_underused",
        source=SOURCES["commitment_underused"],
        action="review_commitment",
        provider=k.provider,
        resource_id=k.cid,
        resource_name=k.name,
        resource_kind=f"commitment ({k.category or 'unknown category'}, "
        f"{k.ctype or 'unknown type'})",
        summary=f"{k.name or k.cid} is {percent(k.utilization)} used: "
        f"{fmt_money(unused, currency)}/month unused; move eligible workloads onto it, exchange "
        "or sell it (standard reserved instances), or do not renew",
        monthly_cost=k.monthly(k.used + k.unused),
        cost_days=k.days,
        saving=Saving(
            monthly=unused,
            source="bills",
            basis=f"Unused EffectiveCost {money(k.unused)} over {k.days} days × 730 h / 24 "
            "(recoverable only by using or disposing of the commitment)",
        ),
        currency=currency,
        evidence=[evidence],
        details={
            "commitment_id": k.cid,
            "category": k.category,
            "type": k.ctype,
            "used": money(k.used),
            "unused": money(k.unused),
        },
    )
