"""OpenCost `/allocation` and `/allocation/compute` JSON responses → FOCUS rows.

The response is `{"code": 200, "data": [ {name: allocation, ...}, ... ]}`: one allocation set per
window step (a bare set, a list of sets, or JSON lines of responses are accepted too). Each
allocation (a namespace, controller, pod or container, depending on `aggregate`) becomes one row
per cost type that is non-zero: CPU, GPU, RAM, persistent volumes, network, load balancers and
shared cost, each with its `…CostAdjustment` added. Separate rows rather than one sum because each
cost type has its own consumed quantity (core-hours, GPU-hours, GiB-hours of RAM or disk) and its
own FOCUS ServiceCategory (Compute, Storage, Networking), which rightsizing and showback need;
summing an allocation's rows gives OpenCost's `totalCost` minus `externalCost`. `externalCost`
(out-of-cluster cloud services matched by label) is left out: those services are billed, and
ingested, through the cloud provider's own bill.

ChargePeriodStart/End are the allocation window; the billing period is its calendar month.
ProviderName / PublisherName / InvoiceIssuerName are "Kubernetes" (option `provider` overrides,
e.g. "AWS" for an EKS cluster); BillingAccountId and SubAccountId are the cluster (option
`cluster` when allocations do not name one); ResourceId is the pod, else the controller, else the
allocation name. Tags are the allocation's labels (namespace labels where the pod has none of
that key) plus cluster / namespace / controller / controller_kind / pod / node / container /
provider_id (the node's cloud instance id). Costs are in the currency of OpenCost's pricing,
option `currency` (default USD). `replace_scope` is `charge_day`: querying again for overlapping
days replaces exactly those days.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from warehouse.errors import IngestError
from warehouse.ingest.ai_common import to_decimal
from warehouse.ingest.base import (
    Connector,
    LoadContext,
    LocalFile,
    Probe,
    load_records,
    read_json_document,
)
from warehouse.ingest.exprs import Expr, coalesce, col, lit, sql, ts, typed

__all__ = ["OpenCostConnector", "opencost_records"]

_GIB = Decimal(2**30)
_FIELDS = (
    "start",
    "end",
    "cost",
    "quantity",
    "unit",
    "meter",
    "category",
    "subcategory",
    "description",
    "cluster",
    "resource_id",
    "resource_name",
    "resource_type",
    "tags",
)
_COMPONENTS: tuple[tuple[str, str, str | None, str, str, str | None, Decimal], ...] = (
    ("CPU", "cpuCost", "cpuCoreHours", "Compute", "Containers", "Core-Hours", Decimal(1)),
    ("GPU", "gpuCost", "gpuHours", "Compute", "Containers", "GPU-Hours", Decimal(1)),
    ("RAM", "ramCost", "ramByteHours", "Compute", "Containers", "GiB-Hours", _GIB),
    ("Persistent Volume", "pvCost", "pvByteHours", "Storage", "Block Storage", "GiB-Hours", _GIB),
    ("Network", "networkCost", "networkTransferBytes", "Networking", "Network Connectivity",
     "GiB", _GIB),
    ("Load Balancer", "loadBalancerCost", None, "Networking", "Application Networking", None,
     Decimal(1)),
    ("Shared", "sharedCost", None, "Compute", "Containers", None, Decimal(1)),
)  # fmt: skip
"""(SkuMeter, cost field, quantity field, category, subcategory, unit, quantity divisor)."""
_TAG_PROPERTIES = {
    "cluster": "cluster",
    "namespace": "namespace",
    "controller": "controller",
    "controllerKind": "controller_kind",
    "pod": "pod",
    "node": "node",
    "container": "container",
    "providerID": "provider_id",
}


def _sets(document: Any, file: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Allocation sets of a response, a list of responses or a bare set."""
    docs = document if isinstance(document, list) else [document]
    n = 0
    for doc in docs:
        sets = doc.get("data") if isinstance(doc, dict) and "data" in doc else [doc]
        if isinstance(sets, dict):
            sets = [sets]
        if not isinstance(sets, list):
            raise IngestError("expected `data` to be a list of allocation sets", file=file)
        for allocation_set in sets:
            n += 1
            if not isinstance(allocation_set, dict):
                raise IngestError(f"allocation set {n}: expected an object", file=file)
            yield n, allocation_set


def _tags(props: Mapping[str, Any]) -> str | None:
    tags: dict[str, Any] = {}
    for source in ("namespaceLabels", "labels"):
        labels = props.get(source)
        if isinstance(labels, dict):
            tags.update(labels)
    for key, tag in _TAG_PROPERTIES.items():
        if props.get(key):
            tags[tag] = props[key]
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else None


def _money(alloc: Mapping[str, Any], field: str, where: str, file: str) -> Decimal:
    total = Decimal(0)
    for name in (field, f"{field}Adjustment"):
        if alloc.get(name) is not None:
            total += to_decimal(alloc[name], f"{where}: {name}", file)
    return total


def _identity(name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    if props.get("pod"):
        resource_id, kind = props["pod"], "Pod"
    elif props.get("controller"):
        resource_id, kind = props["controller"], str(props.get("controllerKind") or "Controller")
    else:
        resource_id, kind = name, "Namespace" if props.get("namespace") == name else "Allocation"
    return {
        "cluster": props.get("cluster"),
        "resource_id": resource_id,
        "resource_name": name,
        "resource_type": kind,
        "tags": _tags(props),
    }


def _rows(name: str, alloc: Mapping[str, Any], where: str, file: str) -> list[dict[str, Any]]:
    props = alloc.get("properties") or {}
    window = alloc.get("window") or {}
    if not isinstance(props, dict) or not isinstance(window, dict):
        raise IngestError(f"{where}: properties / window must be objects", file=file)
    start, end = window.get("start") or alloc.get("start"), window.get("end") or alloc.get("end")
    if not start or not end:
        raise IngestError(f"{where}: no window start / end", file=file)
    base = {"start": start, "end": end, **_identity(name, props)}
    rows = []
    for meter, field, qty_field, category, subcategory, unit, divisor in _COMPONENTS:
        cost = _money(alloc, field, where, file)
        raw_qty = alloc.get(qty_field) if qty_field else None
        quantity = None if raw_qty is None else to_decimal(raw_qty, f"{where}: {qty_field}", file)
        if not cost and not quantity:
            continue
        rows.append(
            {
                **base,
                "cost": str(cost),
                "quantity": None if quantity is None else str(quantity / divisor),
                "unit": unit if quantity is not None else None,
                "meter": meter,
                "category": category,
                "subcategory": subcategory,
                "description": f"Kubernetes {meter} cost of {name}",
            }
        )
    return rows


def opencost_records(document: Any, file: str) -> list[dict[str, Any]]:
    """Flatten an OpenCost allocation response into one record per allocation and cost type."""
    records: list[dict[str, Any]] = []
    for n, allocation_set in _sets(document, file):
        for name, alloc in allocation_set.items():
            where = f"allocation set {n}, allocation {name!r}"
            if not isinstance(alloc, dict):
                raise IngestError(f"{where}: expected an object", file=file)
            records.extend(_rows(str(name), alloc, where, file))
    return records


def _looks_like_allocation(value: Any) -> bool:
    return isinstance(value, dict) and "window" in value and "totalCost" in value


class OpenCostConnector(Connector):
    """OpenCost allocation API responses (JSON or JSON lines)."""

    format = "opencost"
    description = "OpenCost /allocation or /allocation/compute JSON response"
    replace_scope = "charge_day"

    def detect(self, probe: Probe) -> bool:
        docs = probe.document if isinstance(probe.document, list) else [probe.document]
        for doc in docs[:1]:
            sets = doc.get("data") if isinstance(doc, dict) and "data" in doc else [doc]
            for allocation_set in sets if isinstance(sets, list) else [sets]:
                if isinstance(allocation_set, dict) and allocation_set:
                    return _looks_like_allocation(next(iter(allocation_set.values())))
        return False

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        records = opencost_records(read_json_document(file), file.display)
        return load_records(ctx, records, view, _FIELDS)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        provider = lit(str(ctx.options.get("provider") or "Kubernetes"))
        cluster = str(ctx.options.get("cluster") or "kubernetes")
        start = ts("start")
        month = typed(sql("CAST(date_trunc('month', {}) AS TIMESTAMP)", start), "TIMESTAMP")
        cost = col("cost")
        return {
            "BilledCost": cost,
            "EffectiveCost": cost,
            "ContractedCost": cost,
            "ListCost": cost,
            "BillingCurrency": lit(str(ctx.options.get("currency") or "USD")),
            "BillingAccountId": coalesce(col("cluster"), lit(cluster)),
            "BillingPeriodStart": month,
            "BillingPeriodEnd": typed(sql("{} + INTERVAL 1 MONTH", month), "TIMESTAMP"),
            "ChargePeriodStart": start,
            "ChargePeriodEnd": ts("end"),
            "ChargeCategory": lit("Usage"),
            "ChargeFrequency": lit("Usage-Based"),
            "ChargeDescription": col("description"),
            "ConsumedQuantity": col("quantity"),
            "ConsumedUnit": col("unit"),
            "ProviderName": provider,
            "PublisherName": provider,
            "InvoiceIssuerName": provider,
            "ServiceName": lit("Kubernetes"),
            "ServiceCategory": col("category"),
            "ServiceSubcategory": col("subcategory"),
            "SkuMeter": col("meter"),
            "SubAccountId": coalesce(col("cluster"), lit(cluster)),
            "SubAccountName": coalesce(col("cluster"), lit(cluster)),
            "SubAccountType": lit("Cluster"),
            "ResourceId": col("resource_id"),
            "ResourceName": col("resource_name"),
            "ResourceType": col("resource_type"),
            "Tags": col("tags"),
        }
