"""Azure Cost Management cost exports → FOCUS: EA, MCA and pay-as-you-go, actual or amortized.

Header spellings differ by agreement, API version and portal language (`CostInBillingCurrency`,
`Cost`, `PreTaxCost`, `costInBillingCurrency`; `Date` / `UsageDateTime`; …). Each header is reduced
to a key — the English name in parentheses when the portal localised the header (the German export
writes `Abonnement-GUID (SubscriptionGuid)`), else the header itself — lower-cased, and each input
takes the first synonym present. Localised headers without the English name in parentheses are not
supported: detection fails and `--format azure` names the missing column instead of guessing.

The mapping follows `conversion_rules_azure.csv` (FinOps Foundation) and, where those rules predate
FOCUS 1.2, Microsoft's own FOCUS conversion:

* BilledCost is the cost column except on usage covered by a reservation or savings plan and on
  unused-commitment rows, which the invoice bills through the purchase: 0 there. Actual-cost exports
  already carry 0 on those rows; amortized exports carry the amortized share, which EffectiveCost
  (= the cost column, per the rules) keeps. Ingest the actual or the amortized export of a month
  under one source, not both.
* Dates: the format (ISO, M/D/YYYY, D/M/YYYY) is chosen per file and column by parsing the whole
  column; ChargePeriod is the export's day; BillingPeriodEnd is exclusive (Azure's inclusive end
  date + 1 day); without billing-period columns the calendar month of the charge.
* Tags: JSON, wrapped in braces when the export leaves them out (EA). A row whose tags are still no
  JSON object is kept with Tags NULL and the ingest warns with the row count and first row: tags do
  not change money, and rejecting a whole bill over one tag would hide more than it protects.
* ChargeCategory from ChargeType: Usage / UnusedReservation / UnusedSavingsPlan → Usage, Purchase,
  Tax, Refund → Purchase with ChargeClass Correction (as Microsoft's FOCUS export), anything else →
  Adjustment; exports without ChargeType (pay-as-you-go usage) are Usage.
* ServiceName/Category/Subcategory, RegionId/RegionName and the distinct unit + pricing block size
  of `UnitOfMeasure` come from Microsoft's open data tables (`warehouse/data/azure_*.csv`, MIT).
  `Quantity` counts UnitOfMeasure blocks (0.0004 of "10K" is 4 operations, priced per 10K), so
  Pricing/ConsumedQuantity are Quantity × block size in the distinct unit and the unit prices are
  PayGPrice / UnitPrice ÷ block size: quantity × unit price still equals the cost.
* BillingAccountId: the EA enrollment (numeric BillingAccountId), else the MCA billing profile, else
  the subscription (pay-as-you-go). ListCost is PaygCostInBillingCurrency or PayGPrice × Quantity;
  ContractedCost is UnitPrice (or ResourceRate) × Quantity.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from importlib import resources

import duckdb

from warehouse.errors import IngestError
from warehouse.ingest.base import Connector, LoadContext, LocalFile, Probe, load_csv
from warehouse.ingest.exprs import Expr, coalesce, col, dec, lit, null, q, sql, ts, typed
from warehouse.schema import DECIMAL_TYPE

__all__ = ["AzureColumns", "AzureConnector", "header_key", "resolve"]

_SYNONYM_TABLE = """
cost: costinbillingcurrency cost pretaxcost | currency: billingcurrencycode billingcurrency currency
date: date usagedatetime usagedate | bp_start: billingperiodstartdate | bp_end: billingperiodenddate
account_id: billingaccountid | account_name: billingaccountname | profile_id: billingprofileid
profile_name: billingprofilename | subscription_id: subscriptionid subscriptionguid
subscription_name: subscriptionname | resource_id: resourceid instanceid instancename
resource_name: resourcename | resource_type: resourcetype | location: resourcelocation location
zone: availabilityzone | consumed_service: consumedservice | meter_category: metercategory
meter_name: metername | product: productname product | product_id: productid partnumber
quantity: quantity usagequantity | unit: unitofmeasure | charge_type: chargetype
frequency: frequency | pricing_model: pricingmodel | payg_cost: paygcostinbillingcurrency
payg_price: paygprice | unit_price: unitprice resourcerate | benefit_id: benefitid reservationid
benefit_name: benefitname reservationname | publisher: publishername | partner: partnername
invoice_id: invoiceid | tags: tags
"""
_SYNONYMS: dict[str, tuple[str, ...]] = {
    field.strip(): tuple(keys.split())
    for entry in _SYNONYM_TABLE.replace("\n", " | ").split(" | ")
    if entry.strip()
    for field, _, keys in [entry.partition(":")]
}
"""Input → header keys in order of preference (see `header_key`)."""

_REQUIRED = ("cost", "currency", "date")
_MARKERS = ("meter_category", "consumed_service", "subscription_id")
_DATE_FORMATS: tuple[str | None, ...] = (None, "%m/%d/%Y", "%d/%m/%Y")
"""ISO first; M/D/Y wins over D/M/Y when both parse a whole column (Azure writes US dates)."""
_ENGLISH = re.compile(r"\(([A-Za-z0-9_]+)\)\s*$")
_UNUSED = "('unusedreservation', 'unusedsavingsplan')"


def header_key(name: str) -> str:
    """`Abonnement-GUID (SubscriptionGuid)` → `subscriptionguid`; `PreTaxCost` → `pretaxcost`."""
    match = _ENGLISH.search(name)
    return (match.group(1) if match else name).strip().lower()


def resolve(raw_columns: Iterable[str]) -> dict[str, list[str]]:
    """Each input the file has → its raw column names, most preferred synonym first."""
    keyed: dict[str, str] = {}
    for name in raw_columns:
        keyed.setdefault(header_key(name), name)
    found = {f: [keyed[s] for s in syn if s in keyed] for f, syn in _SYNONYMS.items()}
    return {f: names for f, names in found.items() if names}


class AzureColumns(list[str]):
    """The raw column names plus the date format `load` found for each date column."""

    def __init__(self, names: Sequence[str], date_formats: Mapping[str, str | None]) -> None:
        super().__init__(names)
        self.date_formats = dict(date_formats)


class _Azure:
    """Accessors over one file's resolved columns."""

    def __init__(self, raw_columns: Sequence[str]) -> None:
        self.names = resolve(raw_columns)
        self.formats = raw_columns.date_formats if isinstance(raw_columns, AzureColumns) else {}

    def has(self, field: str) -> bool:
        return field in self.names

    def first(self, field: str) -> Expr:
        return col(self.names[field][0]) if field in self.names else null()

    def any(self, field: str) -> Expr:
        names = self.names.get(field, [])
        return coalesce(*map(col, names)) if len(names) > 1 else self.first(field)

    def lower(self, field: str) -> Expr:
        return sql("lower(trim({}))", self.first(field))

    def num(self, field: str) -> Expr | None:
        return dec(self.first(field)) if field in self.names else None

    def date(self, field: str) -> Expr:
        name = self.names[field][0]
        return ts(col(name), self.formats.get(name))


# --- Microsoft open data lookups, rendered once as SQL list literals ---------------------------

Lookup = dict[str, dict[str, str | None]]


def _quote(value: str | None) -> str:
    return "NULL::VARCHAR" if value is None else "'" + value.replace("'", "''") + "'"


class _Table:
    """A lookup as parallel SQL lists: `values[field][list_position(keys, key)]`.

    (List literals bind about ten times faster in DuckDB than a MAP of structs.)"""

    def __init__(self, entries: Lookup) -> None:
        def as_list(values: Iterable[str | None]) -> Expr:
            text_ = "[" + ", ".join(map(_quote, values)) + "]"
            return Expr(text_, text_)

        fields = next(iter(entries.values())).keys()
        self.keys = as_list(entries)
        self.values = {f: as_list(e[f] for e in entries.values()) for f in fields}

    def get(self, field: str, key: Expr) -> Expr:
        return typed(
            sql("{}[list_position({}, {})]", self.values[field], self.keys, key), "VARCHAR"
        )


@cache
def _rows(name: str) -> tuple[dict[str, str], ...]:
    text_ = resources.files("warehouse").joinpath(f"data/{name}").read_text(encoding="utf-8-sig")
    return tuple(csv.DictReader(text_.splitlines()))


def _unique(rows: Iterable[dict[str, str]], key: str, fields: Sequence[str]) -> Lookup:
    """Per key, each field's value when all rows of that key agree on it, else NULL."""
    seen: dict[str, dict[str, set[str]]] = {}
    for r in rows:
        if r[key]:
            slot = seen.setdefault(r[key].lower(), {f: set() for f in fields})
            for f in fields:
                slot[f].add(r[f])
    return {k: {f: min(v) if len(v) == 1 else None for f, v in s.items()} for k, s in seen.items()}


_SERVICE_FIELDS = ("ServiceName", "ServiceCategory", "ServiceSubcategory")


@cache
def _service_tables() -> tuple[_Table, _Table, _Table]:
    """By (ConsumedService, resource type), by resource type alone, by ConsumedService alone."""
    rows = _rows("azure_services.csv")
    pairs: Lookup = {}
    for r in rows:
        key = f"{r['ConsumedService'].lower()}|{r['ResourceType'].lower()}"
        pairs.setdefault(key, {f: r.get(f) for f in _SERVICE_FIELDS})
    by_type = _unique(rows, "ResourceType", _SERVICE_FIELDS)
    return _Table(pairs), _Table(by_type), _Table(_unique(rows, "ConsumedService", _SERVICE_FIELDS))


@cache
def _regions() -> _Table:
    rows = _rows("azure_regions.csv")
    return _Table({r["OriginalValue"].lower(): {"id": r["RegionId"], "name": r["RegionName"]}
                   for r in rows})  # fmt: skip


@cache
def _units() -> _Table:
    """UnitOfMeasure (trimmed) → distinct unit, pricing block size and its exact inverse."""
    entries: Lookup = {}
    for r in _rows("azure_pricing_units.csv"):
        block = Decimal(r["PricingBlockSize"] or "1")
        inverse = (Decimal(1) / block).quantize(Decimal("1e-12"), ROUND_HALF_EVEN)
        fields: dict[str, str | None] = {"unit": r["DistinctUnits"], "block": str(block),
                                         "inverse": str(inverse)}  # fmt: skip
        entries.setdefault(r["UnitOfMeasure"].strip(), fields)
    return _Table(entries)


def _text(*parts: Expr) -> Expr:
    """Coalesce of text expressions (raw CSV columns and lookups are VARCHAR: no cast needed)."""
    return typed(coalesce(*parts), "VARCHAR")


def _services(az: _Azure, resource_type: Expr) -> dict[str, Expr]:
    pairs, by_type, by_service = _service_tables()
    cs = az.lower("consumed_service")
    rt = sql("lower({})", resource_type)
    keys = ((pairs, sql("{} || '|' || {}", cs, rt)), (by_type, rt), (by_service, cs))

    def chain(field: str) -> list[Expr]:
        return [table.get(field, key) for table, key in keys]

    category = _text(*chain("ServiceCategory"), lit("Other"))
    return {
        "ServiceName": _text(*chain("ServiceName"), az.first("meter_category"),
                                az.first("consumed_service")),
        "ServiceCategory": category,
        "ServiceSubcategory": _text(*chain("ServiceSubcategory"),
                                       sql("'Other (' || {} || ')'", category)),
    }  # fmt: skip


# --- tags ----------------------------------------------------------------------------------------


def _tags_sql(ref: str) -> tuple[str, str]:
    """(the tags text wrapped in braces when missing, whether that is a JSON object)."""
    wrapped = (
        f"CASE WHEN starts_with(trim({ref}), '{{') THEN trim({ref}) "
        f"ELSE '{{' || trim({ref}) || '}}' END"
    )
    valid = f"CASE WHEN json_valid({wrapped}) THEN json_type({wrapped}) = 'OBJECT' ELSE false END"
    return wrapped, valid


def _tags(name: str) -> Expr:
    wrapped, valid = _tags_sql(q(name))
    text_ = f"CASE WHEN {valid} AND {wrapped} <> '{{}}' THEN CAST({wrapped} AS JSON) END"
    return Expr(text_, text_, source=name, typed="JSON")


def _warn_bad_tags(ctx: LoadContext, file: LocalFile, view: str, name: str) -> None:
    _, valid = _tags_sql("t")
    row = ctx.con.execute(
        f"SELECT count(*), min(rn) FROM (SELECT row_number() OVER () AS rn, {q(name)} AS t "
        f"FROM {q(view)}) WHERE t IS NOT NULL AND NOT ({valid})"
    ).fetchone()
    if row and row[0]:
        ctx.warn(
            f"{file.display}: {row[0]:,} row(s) with malformed tag JSON in column {name} "
            f"(first at row {row[1]:,}); kept with Tags NULL"
        )


def _date_format(con: duckdb.DuckDBPyConnection, view: str, name: str) -> str | None:
    """The first format that parses every value of the column (else the one failing least)."""
    fails = ", ".join(
        f"count(*) FILTER (WHERE {q(name)} IS NOT NULL AND {ts(col(name), f).lenient} IS NULL)"
        for f in _DATE_FORMATS
    )
    row = con.execute(f"SELECT {fails} FROM {q(view)}").fetchone()
    counts = list(row) if row else [0]
    return _DATE_FORMATS[counts.index(min(counts))]


# --- the mapping ---------------------------------------------------------------------------------


def _charge(az: _Azure) -> dict[str, Expr]:
    ct = az.lower("charge_type")
    category = sql(
        "CASE WHEN {0} IS NULL OR {0} = 'usage' OR {0} IN " + _UNUSED + " THEN 'Usage' "
        "WHEN {0} IN ('purchase', 'refund') THEN 'Purchase' WHEN {0} = 'tax' THEN 'Tax' "
        "WHEN {0} = 'credit' THEN 'Credit' ELSE 'Adjustment' END",
        ct,
    )
    frequency = sql(
        "CASE {0} WHEN 'onetime' THEN 'One-Time' WHEN 'recurring' THEN 'Recurring' "
        "WHEN 'usagebased' THEN 'Usage-Based' ELSE CASE WHEN {0} IS NULL AND {1} = 'Usage' "
        "THEN 'Usage-Based' END END",
        az.lower("frequency"),
        category,
    )
    pricing = sql(
        "CASE {0} WHEN 'ondemand' THEN 'Standard' WHEN 'spot' THEN 'Dynamic' "
        "WHEN 'reservation' THEN 'Committed' WHEN 'savingsplan' THEN 'Committed' "
        "ELSE CASE WHEN {0} IS NOT NULL THEN 'Other' END END",
        az.lower("pricing_model"),
    )
    return {
        "ChargeCategory": category,
        "ChargeClass": sql("CASE WHEN {} = 'refund' THEN 'Correction' END", ct),
        "ChargeFrequency": frequency,
        "ChargeDescription": az.any("product"),
        "PricingCategory": pricing,
    }


def _commitment(az: _Azure, category: Expr) -> dict[str, Expr]:
    bid = az.any("benefit_id")
    kind = sql(
        "CASE WHEN lower({0}) LIKE '%/microsoft.capacity/%' THEN 'Reservation' "
        "WHEN lower({0}) LIKE '%/microsoft.billingbenefits/%' THEN 'Savings Plan' "
        "WHEN {0} IS NOT NULL THEN CASE WHEN {1} = 'savingsplan' THEN 'Savings Plan' "
        "ELSE 'Reservation' END END",
        bid,
        az.lower("pricing_model"),
    )
    status = sql(
        "CASE WHEN {0} IS NOT NULL AND {1} = 'Usage' THEN CASE WHEN {2} IN " + _UNUSED
        + " THEN 'Unused' ELSE 'Used' END END",
        bid, category, az.lower("charge_type"),
    )  # fmt: skip
    return {
        "CommitmentDiscountId": bid,
        "CommitmentDiscountName": az.any("benefit_name"),
        "CommitmentDiscountType": kind,
        "CommitmentDiscountCategory": sql(
            "CASE {} WHEN 'Reservation' THEN 'Usage' WHEN 'Savings Plan' THEN 'Spend' END", kind
        ),
        "CommitmentDiscountStatus": status,
    }


def _times_map(az: _Azure) -> dict[str, Expr]:
    start = az.date("date")
    month = typed(sql("date_trunc('month', {})", start), "TIMESTAMP")
    bp_start = coalesce(az.date("bp_start"), month) if az.has("bp_start") else month
    bp_start = typed(bp_start, "TIMESTAMP")
    next_month = sql("{} + INTERVAL 1 MONTH", bp_start)
    bp_end = (
        coalesce(sql("{} + INTERVAL 1 DAY", az.date("bp_end")), next_month)
        if az.has("bp_end")
        else next_month
    )
    return {
        "ChargePeriodStart": start,
        "ChargePeriodEnd": typed(sql("{} + INTERVAL 1 DAY", start), "TIMESTAMP"),
        "BillingPeriodStart": bp_start,
        "BillingPeriodEnd": typed(bp_end, "TIMESTAMP"),
    }


def _product(a: Expr | None, b: Expr | None) -> Expr:
    return null() if a is None or b is None else sql("{} * {}", a, b)


def _money(az: _Azure, usage_consumed: Expr) -> dict[str, Expr]:
    cost = dec(az.first("cost"))
    ct, pm = az.lower("charge_type"), az.lower("pricing_model")
    covered = sql(
        "({0} IN " + _UNUSED + " OR ({1} IN ('reservation', 'savingsplan') "
        "AND coalesce({0}, 'usage') = 'usage'))",
        ct, pm,
    )  # fmt: skip
    billed = sql(f"CASE WHEN {{1}} THEN CAST(0 AS {DECIMAL_TYPE}) ELSE {{0}} END", cost, covered)
    qty = az.num("quantity")
    unit = az.first("unit")
    key = sql("trim({})", unit)
    block = sql(f"CAST(coalesce({{}}, '1') AS {DECIMAL_TYPE})", _units().get("block", key))
    inverse = sql(f"CAST(coalesce({{}}, '1') AS {DECIMAL_TYPE})", _units().get("inverse", key))
    pricing_unit = _text(_units().get("unit", key), unit)
    payg, price = az.num("payg_price"), az.num("unit_price")
    units = _product(qty, block)
    list_cost = _product(payg, qty)
    if az.has("payg_cost"):
        list_cost = coalesce(dec(az.first("payg_cost")), list_cost)
    return {
        "BilledCost": typed(billed, DECIMAL_TYPE),
        "EffectiveCost": cost,
        "ListCost": list_cost,
        "ContractedCost": _product(price, qty),
        "ListUnitPrice": _product(payg, inverse),
        "ContractedUnitPrice": _product(price, inverse),
        "PricingQuantity": units,
        "PricingUnit": pricing_unit,
        "ConsumedQuantity": sql("CASE WHEN {} THEN {} END", usage_consumed, units),
        "ConsumedUnit": _text(sql("CASE WHEN {} THEN {} END", usage_consumed, pricing_unit)),
    }  # fmt: skip


def _accounts(az: _Azure) -> dict[str, Expr]:
    account, profile, sub = (
        az.first("account_id"),
        az.first("profile_id"),
        az.any("subscription_id"),
    )
    enrollment = sql("regexp_full_match(coalesce({}, ''), '[0-9]+')", account)
    return {
        "BillingAccountId": sql(
            "CASE WHEN {0} THEN {1} ELSE coalesce({2}, {1}, {3}) END", enrollment, account,
            profile, sub),
        "BillingAccountName": sql(
            "CASE WHEN {0} THEN {1} ELSE coalesce({2}, {1}) END", enrollment,
            az.first("account_name"), az.first("profile_name")),
        "BillingCurrency": az.first("currency"),
        "SubAccountId": sub,
        "SubAccountName": az.any("subscription_name"),
        "InvoiceId": az.any("invoice_id"),
        "ProviderName": lit("Microsoft"),
        "PublisherName": coalesce(az.any("publisher"), lit("Microsoft")),
        "InvoiceIssuerName": coalesce(az.any("partner"), lit("Microsoft")),
    }  # fmt: skip


def _resources(az: _Azure) -> dict[str, Expr]:
    rid = az.any("resource_id")
    parsed = sql("nullif(regexp_extract({}, '(?i)/providers/([^/]+/[^/]+)', 1), '')", rid)
    rtype = coalesce(az.any("resource_type"), parsed)
    region = sql("lower(trim({}))", az.first("location"))
    return {
        "ResourceId": rid,
        "ResourceName": coalesce(
            az.any("resource_name"),
            sql(
                "CASE WHEN {0} LIKE '%/providers/%' "
                "THEN nullif(regexp_extract({0}, '[^/]*$'), '') END",
                rid,
            ),
        ),
        "ResourceType": rtype,
        "RegionId": _text(_regions().get("id", region), az.first("location")),
        "RegionName": _regions().get("name", region),
        "AvailabilityZone": az.any("zone"),
        "SkuId": az.any("product_id"),
        "SkuMeter": az.any("meter_name"),
        **_services(az, rtype),
        "Tags": _tags(az.names["tags"][0]) if az.has("tags") else null(),
    }


class AzureConnector(Connector):
    """Azure Cost Management exports (EA / MCA / pay-as-you-go, actual or amortized cost)."""

    format = "azure"
    description = "Azure Cost Management cost export CSV (EA, MCA, pay-as-you-go; actual/amortized)"

    def detect(self, probe: Probe) -> bool:
        found = resolve(probe.columns)
        return all(f in found for f in ("cost", "date")) and any(f in found for f in _MARKERS)

    def load(self, ctx: LoadContext, file: LocalFile, view: str) -> list[str]:
        raw = load_csv(ctx, file, view)
        names = resolve(raw)
        formats = {
            names[f][0]: _date_format(ctx.con, view, names[f][0])
            for f in ("date", "bp_start", "bp_end")
            if f in names
        }
        if "tags" in names:
            _warn_bad_tags(ctx, file, view, names["tags"][0])
        return AzureColumns(raw, formats)

    def columns(self, ctx: LoadContext, raw_columns: Sequence[str]) -> Mapping[str, Expr]:
        az = _Azure(raw_columns)
        missing = [f for f in _REQUIRED if not az.has(f)]
        if missing:
            wanted = "; ".join(f"{f}: one of {', '.join(_SYNONYMS[f])}" for f in missing)
            raise IngestError(f"not a supported Azure cost export: no column for {wanted}")
        charge = _charge(az)
        consumed = sql(
            "({} = 'Usage' AND coalesce({}, '') NOT IN " + _UNUSED + ")",
            charge["ChargeCategory"], az.lower("charge_type"),
        )  # fmt: skip
        return {
            **_accounts(az),
            **_times_map(az),
            **charge,
            **_commitment(az, charge["ChargeCategory"]),
            **_money(az, consumed),
            **_resources(az),
        }
