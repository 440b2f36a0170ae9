"""`ground_truth.json`: the answers the demo company was built to contain.

Computed from the generated rows (not from the catalog's intentions), so every magnitude is exactly
what the files hold: totals per provider to the cent, the true team of every account, resource and
agent, the untagged share, and each planted incident with identifiers, dates and expected sizes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from statistics import median
from typing import Any

import numpy as np
import pyarrow as pa

from warehouse.demo.catalog import (
    ACCOUNTS,
    BQ_SPIKE,
    COST_CENTERS,
    OWNERSHIP_TAG_KEYS,
    PROVIDERS,
    RIGHTSIZE,
    RUNAWAY,
    S3_SPIKE,
    TEAMS,
    WORKLOADS,
)
from warehouse.demo.company import Generated
from warehouse.demo.inventory import Series

__all__ = ["ground_truth"]

_CENT = Decimal("0.01")
_MONTH_DAYS = 30


def _s(value: Decimal, places: Decimal = _CENT) -> str:
    return str(value.quantize(places))


@cache
def _is_untagged(tags: str | None) -> bool:
    return not tags or not set(json.loads(tags)) & set(OWNERSHIP_TAG_KEYS)


def _totals(gen: Generated) -> tuple[dict[str, Any], Decimal, Decimal]:
    totals: dict[str, Any] = {}
    untagged = everything = Decimal(0)
    for key, rows in gen.rows.items():
        billed = sum((r["BilledCost"] for r in rows), Decimal(0))
        effective = sum((r["EffectiveCost"] for r in rows), Decimal(0))
        untagged += sum((r["EffectiveCost"] for r in rows if _is_untagged(r["Tags"])), Decimal(0))
        everything += effective
        totals[key] = {
            "provider_name": PROVIDERS[key].name,
            "source": PROVIDERS[key].source,
            "file": f"{key}.parquet",
            "rows": len(rows),
            "billed_cost": str(billed),
            "effective_cost": str(effective),
        }
    return totals, untagged, everything


def _team_totals(gen: Generated) -> dict[str, str]:
    out: dict[str, Decimal] = dict.fromkeys(TEAMS, Decimal(0))
    for s in gen.series:
        out[s.team] += sum(gen.daily[s.key].values(), Decimal(0))
    for w in WORKLOADS:
        out[w.team] += sum(gen.hourly[w.agent_id].values(), Decimal(0))
    return {team: _s(cost) for team, cost in out.items()}


def _ownership(gen: Generated) -> dict[str, Any]:
    accounts = [
        {
            "provider": PROVIDERS[key.split(":")[0]].name,
            "sub_account_id": sub_id,
            "sub_account_name": name,
            "team": team,
        }
        for key, (sub_id, name, team) in ACCOUNTS.items()
    ]
    resources: dict[str, dict[str, str]] = {}
    for s in gen.series:
        if s.resource and s.resource[0] not in resources:
            resources[s.resource[0]] = {
                "provider": s.provider.name,
                "resource_id": s.resource[0],
                "resource_name": s.resource[1],
                "resource_type": s.resource[2],
                "sub_account_id": ACCOUNTS[s.account][0],
                "team": s.team,
                "inferable_from": s.inferable_from,
            }
    agents = [
        {
            "provider": w.provider.name,
            "agent_id": w.agent_id,
            "api_key_id": w.api_key,
            "project": ACCOUNTS[w.account][1],
            "model": w.model,
            "team": w.team,
            "inferable_from": "tag" if w.tag else "project",
        }
        for w in WORKLOADS
    ]
    for w, a in zip(WORKLOADS, agents, strict=True):
        resources[w.api_key] = {
            "provider": a["provider"],
            "resource_id": w.api_key,
            "resource_name": w.agent_id,
            "resource_type": "API Key",
            "sub_account_id": ACCOUNTS[w.account][0],
            "team": w.team,
            "inferable_from": a["inferable_from"],
        }
    return {"accounts": accounts, "resources": list(resources.values()), "agents": agents}


def _filters(s: Series) -> dict[str, str]:
    out = {
        "ProviderName": s.provider.name,
        "SubAccountId": ACCOUNTS[s.account][0],
        "ServiceName": s.service[0],
        "SkuId": s.sku[0],
    }
    if s.resource:
        out["ResourceId"] = s.resource[0]
    return out


def _spikes(gen: Generated, days: list[date]) -> list[dict[str, Any]]:
    out = []
    for name, (key, before, factor) in (
        ("s3-transfer-spike", S3_SPIKE),
        ("bigquery-spike", BQ_SPIKE),
    ):
        if before >= len(days):
            continue
        s = next(x for x in gen.series if x.key == key)
        day = days[-1 - before]
        costs = gen.daily[key]
        baseline = Decimal(median(c for d, c in costs.items() if d != day))
        out.append(
            {
                "kind": "cost_spike",
                "id": name,
                "provider": s.provider.name,
                "source": s.provider.source,
                "date": day.isoformat(),
                "team": s.team,
                "series": _filters(s),
                "quantity_multiplier": factor,
                "baseline_daily_cost": _s(baseline),
                "spike_cost": _s(costs[day]),
                "ratio": _s(costs[day] / baseline, Decimal("0.1")),
                "excess_cost": _s(costs[day] - baseline),
            }
        )
    return out


def _runaway(gen: Generated, days: list[date]) -> dict[str, Any]:
    agent, first_hour, multipliers = RUNAWAY
    w = next(x for x in WORKLOADS if x.agent_id == agent)
    hourly = gen.hourly[agent]
    last = datetime(days[-1].year, days[-1].month, days[-1].day)
    hours = [
        h
        for h in sorted(hourly)
        if h >= last and first_hour <= h.hour < first_hour + len(multipliers)
    ]
    baseline = Decimal(median(c for h, c in hourly.items() if h not in hours))
    spent = [hourly[h] for h in hours]
    return {
        "kind": "runaway_agent",
        "id": "runaway-ticket-triage",
        "provider": w.provider.name,
        "source": w.provider.source,
        "agent_id": agent,
        "api_key_id": w.api_key,
        "project": ACCOUNTS[w.account][1],
        "sub_account_id": ACCOUNTS[w.account][0],
        "model": w.model,
        "team": w.team,
        "date": days[-1].isoformat(),
        "hours": [h.isoformat() for h in hours],
        "token_multipliers": list(multipliers),
        "baseline_hourly_cost": _s(baseline),
        "hourly_costs": [_s(c) for c in spent],
        "peak_hourly_cost": _s(max(spent)),
        "excess_cost": _s(sum(spent) - baseline * len(spent)),
        "expected_action": "disable_api_key",
    }


def _util_stats(util: pa.Table, hours: int) -> dict[tuple[str, str], tuple[float, ...]]:
    """Mean, p95 and max per (resource, metric); the table holds one block of `hours` each."""
    values = util.column("value").to_numpy().reshape(-1, hours)
    ids = util.column("resource_id").to_pylist()[::hours]
    metrics = util.column("metric").to_pylist()[::hours]
    return {
        (rid, metric): (float(v.mean()), float(np.percentile(v, 95)), float(v.max()))
        for rid, metric, v in zip(ids, metrics, values, strict=True)
    }


def _resource_daily(gen: Generated, rid: str) -> Decimal:
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    for s in gen.series:
        if s.resource and s.resource[0] == rid:
            for d, c in gen.daily[s.key].items():
                per_day[d] += c
    return Decimal(median(per_day.values()))


def _waste(gen: Generated, util: pa.Table, hours: int) -> list[dict[str, Any]]:
    stats = _util_stats(util, hours)
    out = []
    for s in gen.series:
        if s.util not in ("idle", "oversized_cpu", "oversized_mem") or not s.resource:
            continue
        rid = s.resource[0]
        cpu, mem = stats[(rid, "cpu_utilization")], stats[(rid, "memory_utilization")]
        daily = _resource_daily(gen, rid)
        item: dict[str, Any] = {
            "id": f"{s.util.split('_')[0]}-{s.resource[1]}",
            "provider": s.provider.name,
            "source": s.provider.source,
            "resource_id": rid,
            "resource_name": s.resource[1],
            "resource_type": s.resource[2],
            "sub_account_id": ACCOUNTS[s.account][0],
            "team": s.team,
            "size": None if s.namespace else s.sku[0].split(":")[-1],
            "daily_cost": _s(daily),
            "cpu_mean": round(cpu[0], 2),
            "cpu_p95": round(cpu[1], 2),
            "cpu_max": round(cpu[2], 2),
            "memory_mean": round(mem[0], 2),
            "memory_max": round(mem[2], 2),
        }
        if s.util == "idle":
            action = "scale_to_zero" if s.provider.key == "kubernetes" else "stop_instance"
            item |= {
                "kind": "idle_resource",
                "expected_action": action,
                "expected_monthly_savings": _s(daily * _MONTH_DAYS),
            }
        else:
            target, price = RIGHTSIZE[item["size"]]
            saving = (s.price - Decimal(price)) * 24 * _MONTH_DAYS
            item |= {
                "kind": "oversized_resource",
                "expected_action": "resize",
                "bottleneck": "memory" if s.util == "oversized_mem" else "cpu",
                "recommended_size": target,
                "expected_monthly_savings": _s(saving),
            }
        out.append(item)
    return out


def _commitments(series: Iterable[Series]) -> list[dict[str, Any]]:
    out = []
    for name, service, wanted in (
        ("ec2", "Amazon Elastic Compute Cloud", "normal"),
        ("rds", "Amazon Relational Database Service", None),
    ):
        steady = [
            s
            for s in series
            if s.service[0] == service
            and s.schedule == "flat"
            and s.pricing_category == "Standard"
            and s.util == wanted
        ]
        hourly = sum((s.price for s in steady), Decimal(0))
        out.append(
            {
                "kind": "commitment_opportunity",
                "id": f"commit-{name}",
                "provider": "AWS",
                "source": "demo-aws",
                "service": service,
                "resource_ids": [s.resource[0] for s in steady if s.resource],
                "sub_account_ids": sorted({ACCOUNTS[s.account][0] for s in steady}),
                "steady_hourly_on_demand_cost": str(hourly),
                "monthly_on_demand_cost": _s(hourly * 24 * _MONTH_DAYS),
                "current_commitment_coverage": "0",
                "pricing_category": "Standard",
            }
        )
    return out


def ground_truth(gen: Generated, util: pa.Table, *, seed: int, days: list[date]) -> dict[str, Any]:
    """Everything an eval needs to score allocation, detection and optimization answers."""
    totals, untagged, everything = _totals(gen)
    incidents = [
        *_spikes(gen, days),
        _runaway(gen, days),
        *_waste(gen, util, len(days) * 24),
        *_commitments(gen.series),
    ]
    return {
        "seed": seed,
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "days": len(days),
        "currency": "USD",
        "teams": list(TEAMS),
        "shared_team": "platform",
        "ownership_tag_keys": list(OWNERSHIP_TAG_KEYS),
        "cost_centers": COST_CENTERS,
        "totals": totals,
        "total_cost": str(everything),
        "untagged": {"cost": _s(untagged), "share": _s(untagged / everything, Decimal("0.0001"))},
        "team_totals": _team_totals(gen),
        **_ownership(gen),
        "incidents": incidents,
    }
