"""An unseen fleet for the optimizer's quality bar: planted idle and oversized resources.

Deliberately unlike the demo company: other families (m6i, c6i, r6i, m7i, t3), other regions
(us-west-2, eu-west-1, one outside the price table), 21 days of hourly samples with weekly batch
bursts, idle instances that wake up on some days, memory-bound and network-chatty instances that
look idle or oversized on one metric only, unbilled instances, and protected resources (by
inventory tag or by bill tag) among the planted ones. Seeded: a seed always gives the same fleet.

What is planted is decided by construction, independently of the optimizer:
* idle instance: daily mean CPU 0.3–6% and 0.2–4.9 MB network on at least 4 of the last 14 days;
* oversized instance: a strictly smaller size of its family (the *target*) holds p99.5 CPU and
  maximum memory with 20% headroom and only 1–7% to spare;
* negatives: CPU and memory that no smaller size holds; low CPU with a chatty network; idle on
  exactly 3 of the last 14 days; low CPU with a memory peak 43–50% (× 1.2 misses half a size).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from tests.helpers.optimize import add_costs, add_resource
from tools.optimize.prices import Shape, price_table

__all__ = ["Fleet", "FleetInstance", "build_fleet", "window"]

DAYS = 21
_FAMILIES = ("m6i", "c6i", "r6i", "m7i")
_SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge")


@dataclass
class FleetInstance:
    rid: str
    shape: Shape
    profile: str
    cpu: np.ndarray
    memory: np.ndarray
    target: Shape | None = None


@dataclass
class Fleet:
    """What was planted, and the raw series (to check fits independently)."""

    end: date
    idle: set[str] = field(default_factory=set)
    oversized: set[str] = field(default_factory=set)
    negatives: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)
    instances: dict[str, FleetInstance] = field(default_factory=dict)
    util: dict[str, list[Any]] = field(
        default_factory=lambda: {"rid": [], "provider": [], "metric": [], "ts": [], "value": []}
    )


def _hours(end: date) -> np.ndarray:
    start = np.datetime64((end - timedelta(days=DAYS - 1)).isoformat(), "h")
    return start + np.arange(DAYS * 24).astype("timedelta64[h]")


def _diurnal() -> np.ndarray:
    return np.tile(np.exp(-(((np.arange(24) - 15) / 4.0) ** 2)), DAYS)


def _put(fleet: Fleet, rid: str, metric: str, values: np.ndarray, provider: str = "aws") -> None:
    n = len(values)
    fleet.util["rid"] += [rid] * n
    fleet.util["provider"] += [provider] * n
    fleet.util["metric"] += [metric] * n
    fleet.util["ts"] += list(_hours(fleet.end)[:n].astype("datetime64[us]").tolist())
    fleet.util["value"] += [float(v) for v in values]


def _idle_series(
    rng: np.random.Generator, low_days: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Low days: CPU 0.3–6% and 0.2–4.9 MB; busy days: batch bursts. `low_days` fixes how many
    of the last 14 days are low (default: the last 4 for sure, the rest at random)."""
    if low_days is None:
        busy = {int(d) for d in rng.choice(DAYS - 4, size=int(rng.integers(0, 11)), replace=False)}
    else:
        low = set(range(DAYS - 14, DAYS)) - {
            int(d) for d in rng.choice(range(DAYS - 14, DAYS), size=14 - low_days, replace=False)
        }
        busy = set(range(DAYS)) - low
    cpu, net = np.empty(DAYS * 24), np.empty(DAYS * 24)
    for d in range(DAYS):
        hours = slice(d * 24, (d + 1) * 24)
        if d in busy:
            cpu[hours] = rng.uniform(25, 60, 24)
            net[hours] = rng.uniform(5e6, 5e7, 24)
        else:
            cpu[hours] = np.clip(rng.uniform(0.3, 6) + rng.normal(0, 0.3, 24), 0.05, 9.9)
            net[hours] = rng.uniform(0.2e6, 4.9e6) * rng.dirichlet(np.ones(24))
    memory = np.clip(rng.uniform(3, 15) + rng.normal(0, 0.5, DAYS * 24), 1, 30)
    if low_days is not None:
        memory = np.clip(rng.uniform(55, 80) + rng.normal(0, 1, DAYS * 24), 0, 100)
    return cpu, memory, net


def _capped(rng: np.random.Generator, cap: float, wave: np.ndarray) -> np.ndarray:
    level = rng.uniform(0.45, 0.85) * cap
    values = level * (0.55 + 0.45 * wave) + rng.normal(0, 0.03 * cap, len(wave))
    return np.clip(values, 0.2, cap)


def _oversized(rng: np.random.Generator, shape: Shape, target: Shape) -> tuple[np.ndarray, ...]:
    wave = _diurnal()
    spare = rng.uniform(0.93, 0.99)
    cpu_cap = spare * target.vcpu / (1.2 * shape.vcpu) * 100
    mem_cap = spare * target.memory_gib / (1.2 * shape.memory_gib) * 100
    return (
        _capped(rng, cpu_cap, wave),
        _capped(rng, mem_cap, wave),
        rng.uniform(2e8, 2e9, len(wave)),
    )


def _normal(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, ...]:
    wave, n = _diurnal(), DAYS * 24
    if kind == "almost_idle":
        return _idle_series(rng, low_days=3)
    if kind == "memory_bound":
        cpu = np.clip(rng.uniform(2, 6) + rng.normal(0, 0.5, n), 0.5, 10)
        memory = np.clip(rng.uniform(62, 85) + rng.normal(0, 1, n), 0, 100)
    elif kind == "almost_fits":
        cpu = np.clip(rng.uniform(3, 8) + rng.normal(0, 0.5, n), 0.5, 12)
        memory = np.clip(rng.uniform(43.5, 46) + rng.normal(0, 0.6, n), 43.0, 50.0)
    elif kind == "chatty":
        cpu = np.clip(rng.uniform(0.5, 4) + rng.normal(0, 0.3, n), 0.1, 9)
        memory = np.clip(rng.uniform(55, 80) + rng.normal(0, 1, n), 0, 100)
        return cpu, memory, rng.uniform(2e6, 8e6, n)  # 48–190 MB/day: not idle by network
    else:
        cpu = np.clip(rng.uniform(48, 75) * (0.7 + 0.3 * wave) + rng.normal(0, 3, n), 1, 100)
        memory = np.clip(rng.uniform(55, 85) + rng.normal(0, 2, n), 0, 100)
    return cpu, memory, rng.uniform(1e8, 3e9, n)


def _shape(rng: np.random.Generator, region: str) -> Shape:
    table = price_table()
    while True:
        family = str(rng.choice(_FAMILIES))
        found = table.lookup("aws", f"{family}.{rng.choice(_SIZES)}", region)
        if found is not None and (found.region == region or region == "ap-south-1"):
            return found


def _smaller(rng: np.random.Generator, shape: Shape) -> Shape | None:
    sizes = sorted(
        (s for s in price_table().family(shape) if s.vcpu < shape.vcpu), key=lambda s: s.vcpu
    )
    return sizes[int(rng.integers(0, len(sizes)))] if sizes else None


def _instance(
    con: duckdb.DuckDBPyConnection, fleet: Fleet, rng: np.random.Generator, i: int
) -> None:
    region = str(rng.choice(["us-west-2", "eu-west-1", "us-west-2", "ap-south-1"]))
    shape = _shape(rng, region)
    rid = f"i-{i:04d}{rng.integers(16**8):08x}"
    roll = rng.random()
    target = _smaller(rng, shape) if roll >= 0.25 and roll < 0.55 else None
    if roll < 0.25:
        profile, (cpu, memory, net) = "idle", _idle_series(rng)
        fleet.idle.add(rid)
    elif target is not None:
        profile, (cpu, memory, net) = "oversized", _oversized(rng, shape, target)
        fleet.oversized.add(rid)
    else:
        profile = str(
            rng.choice(["normal", "normal", "memory_bound", "chatty", "almost_idle", "almost_fits"])
        )
        cpu, memory, net = _normal(rng, profile)
        fleet.negatives.add(rid)
    protect = profile in ("idle", "oversized") and rng.random() < 0.15
    by_bill = protect and rng.random() < 0.5
    tags = {"finops:protected": "true"} if protect and not by_bill else {"team": "fleet"}
    add_resource(con, rid, instance_type=shape.name, region=region, tags=tags)
    if protect:
        fleet.protected.add(rid)
    for metric, values in (
        ("cpu_percent", cpu),
        ("memory_percent", memory),
        ("network_in_bytes", net * 0.6),
        ("network_out_bytes", net * 0.4),
    ):
        _put(fleet, rid, metric, values)
    fleet.instances[rid] = FleetInstance(rid, shape, profile, cpu, memory, target)
    if rng.random() < 0.9 or by_bill:
        daily = float(shape.price) * 24 * rng.uniform(0.7, 1.0)  # discounts: bills ≠ list
        bill_tags = {"finops:protected": "true"} if by_bill else None
        add_costs(
            con,
            [
                {
                    "day": fleet.end - timedelta(days=d),
                    "cost": f"{daily:.6f}",
                    "ResourceId": rid,
                    "tags": bill_tags,
                }
                for d in range(30)
            ],
        )


def _others(con: duckdb.DuckDBPyConnection, fleet: Fleet, rng: np.random.Generator) -> None:
    for i in range(20):
        rid, free = f"vol-{i:04d}", rng.random() < 0.35
        add_resource(
            con,
            rid,
            "ebs_volume",
            attached=not free,
            region="us-west-2",
            properties={"size_gib": int(rng.integers(20, 500)), "volume_type": "gp3"},
        )
        (fleet.idle if free else fleet.negatives).add(rid)
    for i in range(12):
        rid, free = f"eipalloc-{i:04d}", rng.random() < 0.4
        add_resource(con, rid, "elastic_ip", attached=not free, region="eu-west-1")
        (fleet.idle if free else fleet.negatives).add(rid)
    for i in range(12):
        rid, idle = f"lb-{i:04d}", rng.random() < 0.35
        add_resource(con, rid, "load_balancer", region="us-west-2", properties={"type": "network"})
        per_hour = rng.uniform(0, 3.9, DAYS * 24) if idle else rng.uniform(50, 5000, DAYS * 24)
        _put(fleet, rid, "request_count", per_hour)
        (fleet.idle if idle else fleet.negatives).add(rid)
    for i in range(10):
        rid, idle = f"db-{i:04d}", rng.random() < 0.35
        add_resource(
            con,
            rid,
            "rds_instance",
            instance_type="db.m6i.large",
            region="eu-west-1",
            state="available",
        )
        conns = np.zeros(DAYS * 24) if idle else rng.integers(1, 40, DAYS * 24).astype(float)
        _put(fleet, rid, "db_connections", conns)
        (fleet.idle if idle else fleet.negatives).add(rid)
    for i in range(12):
        rid, idle = f"cluster-b/ns{i}/deployment/svc{i}", rng.random() < 0.3
        add_resource(con, rid, "k8s_deployment", provider="kubernetes", region=None)
        cores = float(rng.integers(1, 16))
        share = rng.uniform(0.001, 0.045, DAYS * 24) if idle else rng.uniform(0.75, 0.95, DAYS * 24)
        _put(fleet, rid, "cpu_request_cores", np.full(DAYS * 24, cores), "kubernetes")
        _put(fleet, rid, "cpu_usage_cores", share * cores, "kubernetes")
        (fleet.idle if idle else fleet.negatives).add(rid)


def build_fleet(con: duckdb.DuckDBPyConnection, seed: int, *, instances: int = 160) -> Fleet:
    """Write the fleet's inventory, 21 days of hourly utilization and 30 days of bills."""
    rng = np.random.default_rng([seed, 0x0F1EE7])
    fleet = Fleet(end=date(2027, 3, 14))
    for i in range(instances):
        _instance(con, fleet, rng, i)
    _others(con, fleet, rng)
    table = pa.table(
        {
            "rid": fleet.util["rid"],
            "provider": fleet.util["provider"],
            "metric": fleet.util["metric"],
            "ts": pa.array(fleet.util["ts"], pa.timestamp("us")),
            "value": fleet.util["value"],
        }
    )
    con.register("_fleet", table)
    con.execute(
        "INSERT INTO utilization SELECT provider, rid, metric, ts, value, NULL, 'fleet' FROM _fleet"
    )
    con.unregister("_fleet")
    return fleet


def window(fleet: Fleet, values: np.ndarray, days: int = 14) -> np.ndarray:
    """The last `days` days of an hourly series."""
    return values[-days * 24 :]
