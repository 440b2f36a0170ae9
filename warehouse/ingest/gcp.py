"""Google Cloud billing export (BigQuery standard usage cost table, flattened to CSV) → FOCUS.

The export's nested fields arrive flattened as `service.description`, `usage.amount`, … (or with
underscores: names are matched on a key with dots turned into underscores, case-insensitive), and
its repeated fields — `credits`, `labels`, `project.labels` — as list text, either JSON
(`[{"key": "k", "value": "v"}]`) or the Python repr pandas writes (`[{'key': 'k', …}]`).

The mapping follows `conversion_rules_gcp.csv` (FinOps Foundation), except for credits:

* Google documents `cost` as the cost *before* credits ("to get the total cost including credits,
  add credits.amount to cost"), and the invoice charges cost + credits. So BilledCost is
  `cost + sum(credits.amount)`, not `cost` as the rules say; EffectiveCost is the same amount (the
  rules' `cost + credits`, without their clamp at 0, which would hide negative adjustments).
  ContractedCost is `cost` (pre-credit), ListCost `cost_at_list` when the export has it, else
  `cost`. A credits value that is not a list of entries with numeric amounts fails the ingest
  naming its row: money is never guessed.
* Tags: `project.labels` overlaid by the resource `labels` (resource wins on the same key). Label
  text that cannot be read is not money: the row is kept with Tags NULL and the ingest warns with
  the row count and the first row.
* BillingPeriod is `invoice.month` at midnight America/Los_Angeles (Google's invoice time zone,
  per the rules), converted to UTC; without `invoice.month`, the UTC calendar month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from warehouse.errors import IngestError
from warehouse.ingest.base import Connector, LoadContext, LocalFile, Probe, load_csv
from warehouse.ingest.exprs import Check, Expr, col, dec, lit, null, q, sql, ts, typed
from warehouse.schema import DECIMAL_TYPE

__all__ = ["GcpConnector", "column_key", "service_category"]

_SIGNATURE = ("billing_account_id", "cost", "usage_start_time", "service_description")
_REQUIRED = ("billing_account_id", "cost", "currency", "usage_start_time", "usage_end_time")

_SERVICES = """
Compute/Virtual Machines: Compute Engine; VMware Engine
Compute/Containers: Kubernetes Engine; GKE Enterprise
Compute/Serverless Compute: Cloud Run; Cloud Functions; Cloud Run Functions
Web/Application Platforms: App Engine
Storage/Object Storage: Cloud Storage
Storage/File Storage: Filestore
Storage/Backup Storage: Backup and DR Service
Databases/Data Warehouses: BigQuery; BigQuery Reservation API; BigQuery Storage API
Databases/Relational Databases: Cloud SQL; Cloud Spanner; AlloyDB
Databases/NoSQL Databases: Cloud Bigtable; Cloud Firestore; Cloud Datastore
Databases/Caching: Cloud Memorystore for Redis; Memorystore for Redis
Networking/Network Connectivity: Networking; Cloud VPN; Cloud Interconnect; Cloud NAT
Networking/Network Routing: Cloud DNS
Networking/Content Delivery: Cloud CDN
Networking/Application Networking: Cloud Load Balancing
Networking/Network Security: Cloud Armor
Management and Governance/Observability: Cloud Logging; Stackdriver Logging; Cloud Monitoring; \
Stackdriver Monitoring; Cloud Trace; Stackdriver Trace
Management and Governance/Support: Support
Security/Threat Detection and Response: Security Command Center
Security/Secret Management: Secret Manager; Cloud Key Management Service (KMS)
Integration/Messaging: Cloud Pub/Sub
Integration/Workflow Orchestration: Cloud Composer; Workflows; Cloud Scheduler; Cloud Tasks
Analytics/Data Processing: Cloud Dataflow; Cloud Dataproc; Dataflow; Dataproc
Developer Tools/Continuous Integration and Deployment: Cloud Build
Developer Tools/Source Code Management: Artifact Registry; Container Registry
AI and Machine Learning/Machine Learning: Vertex AI; AI Platform
AI and Machine Learning/Generative AI: Gemini API
"""
"""FOCUS 1.2 ServiceCategory/ServiceSubcategory per `service.description`; default Other."""

_AMOUNT = r"""['"]amount['"]\s*:\s*([-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"""
_LABEL = (
    r"""\{\s*['"]key['"]\s*:\s*['"]([^'"]*)['"]\s*,\s*"""
    r"""['"]value['"]\s*:\s*['"]([^'"]*)['"]\s*\}"""
)
_ITEM = r"\{"


def _service_table() -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for line in _SERVICES.replace("\\\n", "").strip().splitlines():
        pair, _, names = line.partition(": ")
        category, _, subcategory = pair.partition("/")
        for name in names.split("; "):
            table[name.lower()] = (category, subcategory)
    return table


_SERVICE_TABLE = _service_table()


def service_category(description: str) -> tuple[str, str]:
    """(ServiceCategory, ServiceSubcategory) of a `service.description`."""
    return _SERVICE_TABLE.get(description.lower(), ("Other", "Other (Other)"))


def column_key(name: str) -> str:
    """`service.description` and `Service_Description` → `service_description`."""
    return name.strip().lower().replace(".", "_")


def _s(text_: str) -> str:
    return "'" + text_.replace("'", "''") + "'"


def _extract(ref: str, pattern: str, group: int) -> str:
    return f"regexp_extract_all({ref}, {_s(pattern)}, {group})"


def _list_ok(ref: str, pattern: str) -> str:
    """The text is a list whose every `{…}` entry matches `pattern` (NULL counts as empty)."""
    return (
        f"({ref} IS NULL OR (trim({ref}) LIKE '[%]' AND "
        f"len({_extract(ref, _ITEM, 0)}) = len({_extract(ref, pattern, 1)})))"
    )


def _labels_object(ref: str) -> str:
    keys, values = _extract(ref, _LABEL, 1), _extract(ref, _LABEL, 2)
    pairs = f"list_transform({keys}, lambda k, i: to_json(k) || ':' || to_json({values}[i]))"
    return f"coalesce('{{' || array_to_string({pairs}, ',') || '}}', '{{}}')"


def _tags_sql(refs: Sequence[str]) -> tuple[str, str]:
    """(Tags JSON of the label columns, later ones winning; whether all of them are readable)."""
    valid = " AND ".join(_list_ok(r, _LABEL) for r in refs) or "true"
    merged = "'{}'"
    for ref in refs:
        merged = f"json_merge_patch({merged}, {_labels_object(ref)})"
    tags = f"CASE WHEN {valid} THEN CAST(nullif(CAST({merged} AS VARCHAR), '{{}}') AS JSON) END"
    return tags, valid


def _credits(name: str) -> Expr:
    """Sum of the credit amounts; a malformed list fails (strict) or is NULL (lenient)."""
    ref = q(name)
    amounts = _extract(ref, _AMOUNT, 1)

    def total(cast: str) -> str:
        each = f"list_transform({amounts}, lambda x: {cast}(x AS {DECIMAL_TYPE}))"
        return f"coalesce(list_sum({each}), CAST(0 AS {DECIMAL_TYPE}))"

    ok = _list_ok(ref, _AMOUNT)
    strict = f"CASE WHEN {ok} THEN {total('CAST')} ELSE error('malformed credits') END"
    lenient = f"CASE WHEN {ok} THEN {total('TRY_CAST')} END"
    check = Check(ref, lenient, name, "a list of credits with numeric amounts")
    return Expr(strict, lenient, source=name, checks=(check,), typed=DECIMAL_TYPE)


def _case(e: Expr, index: int, default: str) -> Expr:
    whens = " ".join(
        f"WHEN {_s(name)} THEN '{pair[index]}'" for name, pair in sorted(_SERVICE_TABLE.items())
    )
    return typed(sql(f"CASE lower({{}}) {whens} ELSE '{default}' END", e), "VARCHAR")


class _Gcp:
    """Accessors over one file's columns by `column_key`."""

    def __init__(self, raw_columns: Sequence[str]) -> None:
        self.names: dict[str, str] = {}
        for name in raw_columns:
            self.names.setdefault(column_key(name), name)

    def has(self, key: str) -> bool:
        return key in self.names

    def opt(self, key: str) -> Expr:
        return col(self.names[key]) if key in self.names else null()

    def label_refs(self) -> list[str]:
        return [q(self.names[k]) for k in ("project_labels", "labels") if k in self.names]


def _money(g: _Gcp) -> dict[str, Expr]:
    cost = dec(g.opt("cost"))
    net = sql("{} + {}", cost, _credits(g.names["credits"])) if g.has("credits") else cost
    net = typed(net, DECIMAL_TYPE)
    list_cost = (
        typed(sql("coalesce({}, {})", dec(g.opt("cost_at_list")), cost), DECIMAL_TYPE)
        if g.has("cost_at_list")
        else cost
    )
    return {
        "BilledCost": net,
        "EffectiveCost": net,
        "ContractedCost": cost,
        "ListCost": list_cost,
        "BillingCurrency": g.opt("currency"),
        "ConsumedQuantity": g.opt("usage_amount"),
        "ConsumedUnit": g.opt("usage_unit"),
        "PricingQuantity": g.opt("usage_amount_in_pricing_units"),
        "PricingUnit": g.opt("usage_pricing_unit"),
    }


def _periods(g: _Gcp) -> dict[str, Expr]:
    start = ts(g.opt("usage_start_time"))
    if g.has("invoice_month"):
        month = ts(g.opt("invoice_month"), "%Y%m")
        pacific = "timezone('UTC', timezone('America/Los_Angeles', {}))"
        bp_start = sql(pacific, month)
        bp_end = sql(pacific.replace("{}", "{} + INTERVAL 1 MONTH"), month)
    else:
        bp_start = sql("date_trunc('month', {})", start)
        bp_end = sql("date_trunc('month', {}) + INTERVAL 1 MONTH", start)
    return {
        "ChargePeriodStart": start,
        "ChargePeriodEnd": ts(g.opt("usage_end_time")),
        "BillingPeriodStart": typed(bp_start, "TIMESTAMP"),
        "BillingPeriodEnd": typed(bp_end, "TIMESTAMP"),
    }


def _dimensions(g: _Gcp) -> dict[str, Expr]:
    cost_type = sql("lower({})", g.opt("cost_type"))
    category = sql(
        "CASE {0} WHEN 'tax' THEN 'Tax' WHEN 'adjustment' THEN 'Adjustment' "
        "WHEN 'credit' THEN 'Adjustment' WHEN 'rounding_error' THEN 'Adjustment' ELSE 'Usage' END",
        cost_type,
    )
    service = g.opt("service_description")
    tags, _ = _tags_sql(g.label_refs())
    return {
        "BillingAccountId": g.opt("billing_account_id"),
        "ChargeCategory": category,
        "ChargeFrequency": sql("CASE WHEN {} = 'Usage' THEN 'Usage-Based' END", category),
        "ChargeDescription": g.opt("sku_description"),
        "ProviderName": lit("Google Cloud"),
        "PublisherName": sql("coalesce({}, 'Google Cloud')", g.opt("seller_name")),
        "InvoiceIssuerName": lit("Google Cloud"),
        "RegionId": sql("coalesce({}, {})", g.opt("location_region"), g.opt("location_location")),
        "RegionName": sql("coalesce({}, {})", g.opt("location_region"), g.opt("location_location")),
        "AvailabilityZone": g.opt("location_zone"),
        "ResourceId": g.opt("resource_global_name"),
        "ResourceName": g.opt("resource_name"),
        "ServiceName": service,
        "ServiceCategory": _case(service, 0, "Other"),
        "ServiceSubcategory": _case(service, 1, "Other (Other)"),
        "SkuId": g.opt("sku_id"),
        "SkuMeter": g.opt("sku_description"),
        "SubAccountId": g.opt("project_id"),
        "SubAccountName": g.opt("project_name"),
        "Tags": Expr(tags, tags, typed="JSON") if g.label_refs() else null(),
    }


class GcpConnector(Connector):
    """Google Cloud billing export rows, flattened to CSV."""

    format = "gcp"
    description = "Google Cloud billing export (BigQuery standard usage cost, flattened CSV)"

    def detect(self, probe: Probe) -> bool:
        keys = {column_key(c) for c in probe.columns}
        return all(k in keys for k in _SIGNATURE)

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        raw = load_csv(ctx, file, view)
        refs = _Gcp(raw).label_refs()
        if refs:
            _, valid = _tags_sql(refs)
            row = ctx.con.execute(
                f"SELECT count(*), min(rn) FROM (SELECT row_number() OVER () AS rn, * "
                f"FROM {q(view)}) WHERE NOT ({valid})"
            ).fetchone()
            if row and row[0]:
                ctx.warn(
                    f"{file.display}: {row[0]:,} row(s) with unreadable labels "
                    f"(first at row {row[1]:,}); kept with Tags NULL"
                )
        return raw

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        g = _Gcp(raw_columns)
        missing = [k for k in _REQUIRED if not g.has(k)]
        if missing:
            raise IngestError(
                f"not a valid Google Cloud billing export: missing column(s) {', '.join(missing)}"
            )
        return {**_money(g), **_periods(g), **_dimensions(g)}
