"""The demo company's inventory and utilization as `resources` / `utilization` rows.

`load_demo_inventory` writes what a collector would have found for the demo company: every VM
(AWS `ec2_instance`; Azure and GCP `vm_instance`), RDS instance (`rds_instance`) and Kubernetes
Deployment / StatefulSet (`k8s_deployment` / `k8s_statefulset`; the DaemonSet and OpenCost's
`__idle__` are not workloads one resizes or scales to zero), and `utilization.parquet` mapped onto
the warehouse's metric names:

* VMs: `cpu_utilization` → `cpu_percent`, `memory_utilization` → `memory_percent`,
  `network_bytes` → `network_in_bytes` (the demo writes in + out together per hour; the unit
  column says so, and the idle rule sums in + out anyway);
* Kubernetes: `cpu_utilization` (percent of the request) → `cpu_usage_cores` = percent × cores
  requested, plus `cpu_request_cores`; `memory_utilization` → `memory_usage_bytes` and
  `memory_request_bytes` likewise (the requests are the catalog's cores and GiB).

Every row has `source = 'demo'`; a rerun replaces them. `resource_id` is the bills' ResourceId.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from warehouse.demo.catalog import ACCOUNTS, CONTROLLERS, rows
from warehouse.demo.inventory import Series, cloud_series

__all__ = ["DEMO_SOURCE", "DemoInventory", "demo_resources", "load_demo_inventory"]

DEMO_SOURCE = "demo"
_K8S_KINDS = {"Deployment": "k8s_deployment", "StatefulSet": "k8s_statefulset"}
_GIB = 2**30


class DemoInventory(BaseModel):
    """What `load_demo_inventory` wrote."""

    resources: int
    utilization: int


def _controllers() -> dict[str, tuple[str, float, float]]:
    """Kubernetes resource id → (kind, cores requested, GiB requested)."""
    out = {}
    for ns, kind, name, cores, gib, *_ in rows(CONTROLLERS):
        if kind in _K8S_KINDS:
            out[f"prod-eu-1/{ns}/{kind.lower()}/{name}"] = (kind, float(cores), float(gib))
    return out


def _kind(s: Series, controllers: dict[str, tuple[str, float, float]]) -> tuple[str, str] | None:
    """(kind, instance type) of a billed series' resource, or None when it is not inventoried."""
    assert s.resource is not None
    rid, _, rtype = s.resource
    provider = s.provider.key
    if provider == "kubernetes":
        found = controllers.get(rid)
        return (_K8S_KINDS[found[0]], "") if found else None
    if rtype == "Instance" and provider == "aws":
        return "ec2_instance", s.sku[0].split(":")[-1]
    if rtype in ("Virtual machine", "compute.googleapis.com/Instance"):
        return "vm_instance", s.sku[0]
    if rtype == "DB Instance":
        return "rds_instance", s.sku[0].split(":")[-1]
    return None


def demo_resources(collected_at: datetime) -> list[dict[str, Any]]:
    """One `resources` row per inventoried demo resource, in catalog order."""
    controllers = _controllers()
    out: dict[str, dict[str, Any]] = {}
    for s in cloud_series():
        if s.resource is None or s.resource[0] in out:
            continue
        kind = _kind(s, controllers)
        if kind is None:
            continue
        rid, name, _ = s.resource
        props: dict[str, Any] = {"schedule": s.schedule}
        if rid in controllers:
            props |= {
                "cpu_request_cores": controllers[rid][1],
                "memory_request_gib": controllers[rid][2],
                "namespace": rid.split("/")[1],
            }
        out[rid] = {
            "provider": s.provider.key,
            "resource_id": rid,
            "kind": kind[0],
            "region": s.provider.region[0] if s.provider.region else None,
            "account_id": ACCOUNTS[s.account][0],
            "name": name,
            "state": "running",
            "instance_type": kind[1] or None,
            "attached": None,
            "tags": json.dumps(s.tags) if s.tags else None,
            "properties": json.dumps(props),
            "collected_at": collected_at,
            "source": DEMO_SOURCE,
        }
    return list(out.values())


_METRIC_SQL = """
SELECT r.provider, u.resource_id, m.metric, u.ts,
       CASE WHEN m.scale = 'request' THEN r.request
            WHEN m.scale = 'usage' THEN u.value / 100 * r.request
            ELSE u.value END AS value,
       m.unit, 'demo'
FROM demo_util u
JOIN demo_map r ON r.resource_id = u.resource_id
 AND r.is_memory = (u.metric = 'memory_utilization')
JOIN demo_metrics m ON m.source_metric = u.metric AND m.k8s = r.k8s
"""
_METRICS = [
    ("cpu_utilization", False, "cpu_percent", "raw", "percent"),
    ("memory_utilization", False, "memory_percent", "raw", "percent"),
    (
        "network_bytes",
        False,
        "network_in_bytes",
        "raw",
        "bytes (in + out: the demo does not split)",
    ),
    ("cpu_utilization", True, "cpu_usage_cores", "usage", "cores"),
    ("cpu_utilization", True, "cpu_request_cores", "request", "cores"),
    ("memory_utilization", True, "memory_usage_bytes", "usage", "bytes"),
    ("memory_utilization", True, "memory_request_bytes", "request", "bytes"),
]


def _maps(resources: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    """(resource id × is-memory → provider, is-k8s, request) and the metric mapping."""
    controllers = _controllers()
    cols: dict[str, list[Any]] = {
        "resource_id": [],
        "provider": [],
        "k8s": [],
        "is_memory": [],
        "request": [],
    }
    for r in resources:
        found = controllers.get(r["resource_id"])
        for is_memory in (False, True):
            request = 0.0
            if found is not None:
                request = found[2] * _GIB if is_memory else found[1]
            for key, value in zip(
                cols,
                (r["resource_id"], r["provider"], found is not None, is_memory, request),
                strict=True,
            ):
                cols[key].append(value)
    names = ("source_metric", "k8s", "metric", "scale", "unit")
    metrics = {name: [m[i] for m in _METRICS] for i, name in enumerate(names)}
    return pa.table(cols), pa.table(metrics)


def load_demo_inventory(
    con: duckdb.DuckDBPyConnection, out_dir: Path, *, collected_at: datetime
) -> DemoInventory:
    """Write the demo's resources and its `utilization.parquet` (in `out_dir`) into the
    warehouse, replacing earlier demo rows, in one transaction.

    Example: `load_demo_inventory(con, Path(".finops/demo"), collected_at=datetime(2026, 11, 28))`.
    """
    # a cursor of its own: registering Arrow tables fails while the caller's connection still
    # holds an unfetched result
    con = con.cursor()
    resources = demo_resources(collected_at)
    resource_map, metric_map = _maps(resources)
    util = pq.read_table(out_dir / "utilization.parquet")
    tables = {
        "demo_res": pa.Table.from_pylist(resources),
        "demo_util": util,
        "demo_map": resource_map,
        "demo_metrics": metric_map,
    }
    for name, table in tables.items():
        con.register(name, table)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM utilization WHERE source = 'demo'")
        con.execute("DELETE FROM resources WHERE source = 'demo'")
        con.execute(
            "INSERT INTO resources (provider, resource_id, kind, region, account_id, name, state, "
            "instance_type, attached, tags, properties, collected_at, source) SELECT provider, "
            "resource_id, kind, region, account_id, name, state, instance_type, attached, "
            "CAST(tags AS JSON), CAST(properties AS JSON), collected_at, source FROM demo_res"
        )
        con.execute(
            "INSERT INTO utilization (provider, resource_id, metric, ts, value, unit, source) "
            + _METRIC_SQL
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in tables:
            con.unregister(name)
    count = con.execute("SELECT count(*) FROM utilization WHERE source = 'demo'").fetchone()
    con.close()
    return DemoInventory(resources=len(resources), utilization=int(count[0]) if count else 0)
