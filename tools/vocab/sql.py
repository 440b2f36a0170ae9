"""The catalog's SQL: which dimensions it covers and the statements that build it.

Everything is DuckDB-dialect text run through the query layer's `Engine`, so the same statements
build the catalog on DuckDB and on Spark (transpiled by sqlglot). The build reads `costs` in few
passes: one small presence pass (which columns hold any value), one `GROUPING SETS` pass that
groups every plain column, every id/name pair and the distinct `Tags` objects at once, and, when
virtual tags are allocated, one join with `vtag_alloc`. Tag keys and values are then expanded from
the few distinct `Tags` objects, not from every row.

Identifiers come only from the FOCUS schema below and from validated virtual-tag names; user
values only pass through `literal()`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.query import literal

__all__ = [
    "COUNTS_SQL",
    "DIMENSION_ORDER",
    "GROUPS_TABLE",
    "LABEL_PAIRS",
    "META_COLUMNS",
    "PLAIN_COLUMNS",
    "VOCAB_COLUMNS",
    "catalog_select",
    "groups_sql",
    "months_sql",
    "presence_sql",
    "store_meta_sql",
    "store_sql",
    "vtags_select",
]

PLAIN_COLUMNS: tuple[str, ...] = (
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ChargeDescription",
    "CommitmentDiscountType",
    "CommitmentDiscountCategory",
    "CommitmentDiscountStatus",
    "PricingCategory",
    "ConsumedUnit",
    "SkuId",
    "SkuMeter",
    "ResourceType",
    "AvailabilityZone",
    "SubAccountType",
    "BillingAccountType",
)
"""FOCUS text columns catalogued on their own (no other name for the same thing)."""

LABEL_PAIRS: tuple[tuple[str, str], ...] = (
    ("SubAccountId", "SubAccountName"),
    ("BillingAccountId", "BillingAccountName"),
    ("RegionId", "RegionName"),
    ("ResourceId", "ResourceName"),
    ("CommitmentDiscountId", "CommitmentDiscountName"),
)
"""(id, name) columns naming one thing twice: each side's entry carries the other as its label."""

DIMENSION_ORDER: tuple[str, ...] = (
    "ProviderName",
    "ServiceName",
    "SubAccountName",
    "SubAccountId",
    "BillingAccountName",
    "BillingAccountId",
    "RegionId",
    "RegionName",
    "ServiceCategory",
    "ChargeCategory",
    "CommitmentDiscountType",
    "PricingCategory",
    "ChargeFrequency",
    "ChargeClass",
    "vtag:",
    "tag:",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "ResourceName",
    "ResourceId",
    "ResourceType",
    "AvailabilityZone",
    "CommitmentDiscountName",
    "CommitmentDiscountId",
    "CommitmentDiscountCategory",
    "CommitmentDiscountStatus",
    "PublisherName",
    "InvoiceIssuerName",
    "SubAccountType",
    "BillingAccountType",
    "ConsumedUnit",
    "ChargeDescription",
)
"""Which dimension a phrase most likely means when several hold it (`vtag:`/`tag:`: all of them)."""

VOCAB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dimension", "VARCHAR"),
    ("value", "VARCHAR"),
    ("label", "VARCHAR"),
    ("cost", "DECIMAL(38,12)"),
    ("first_day", "DATE"),
    ("last_day", "DATE"),
    ("row_count", "BIGINT"),
)
"""The `vocab` table (warehouse migration 7); every build casts to exactly these types."""

META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fingerprint", "VARCHAR"),
    ("built_at", "TIMESTAMP"),
    ("seconds", "DOUBLE"),
    ("currency", "VARCHAR"),
    ("first_day", "DATE"),
    ("last_day", "DATE"),
    ("months", "VARCHAR"),
    ("entries", "BIGINT"),
    ("dimensions", "BIGINT"),
    ("tag_keys", "BIGINT"),
    ("warnings", "VARCHAR"),
)
"""The one-row `vocab_meta` table (migration 7): what the stored catalog was built from."""

MONEY = "DECIMAL(38,12)"
"""The type of every cost the catalog computes (the warehouse's money type)."""

GROUPS_TABLE = "vocab_groups"
"""The TEMP table of the grouping-sets pass."""

_TAG_KEY_OK = (
    "k IS NOT NULL AND length(k) BETWEEN 1 AND 256 AND strpos(k, '\"') = 0 "
    "AND strpos(k, '\\') = 0 AND strpos(k, '''') = 0"
)
"""Tag keys a `tag:KEY` filter can name and a JSON path can quote (no quotes, no backslash)."""


def presence_sql(columns: Sequence[str]) -> str:
    """Rows, data range and each column's non-null count in one pass."""
    counts = "".join(f", count({c})" for c in columns)
    return (
        "SELECT count(*), CAST(min(ChargePeriodStart) AS DATE), "
        f"CAST(max(ChargePeriodStart) AS DATE){counts} FROM costs"
    )


def months_sql() -> str:
    """The first day of each month with cost rows."""
    return (
        "SELECT DISTINCT CAST(date_trunc('month', ChargePeriodStart) AS DATE) AS m FROM costs "
        "WHERE ChargePeriodStart IS NOT NULL ORDER BY m"
    )


def _money(expr: str) -> str:
    """Money at the warehouse's DECIMAL(38,12) at every step: Spark widens a mix of decimal types
    (a sum and a literal 0, a UNION of two branches) past 38 digits by cutting the scale to 6."""
    return f"CAST({expr} AS {MONEY})"


_ZERO_COST = f"coalesce({_money('cost')}, {_money('0')})"


def _flag(column: str) -> str:
    return f"g_{column}"


def groups_sql(
    plain: Sequence[str], pairs: Sequence[tuple[str, str]], tags: bool, cost: str
) -> str:
    """One pass over `costs`: a grouping set per plain column, per id/name pair, and `Tags`."""
    sets = [f"({c})" for c in plain] + [f"({i}, {n})" for i, n in pairs]
    columns = [*plain, *(c for pair in pairs for c in pair)]
    if tags:
        sets.append("(Tags)")
        columns.append("Tags")
    flags = [f"GROUPING({c}) AS {_flag(c)}" for c in columns]
    return (
        f"CREATE OR REPLACE TEMP TABLE {GROUPS_TABLE} AS SELECT {', '.join(flags)}, "
        f"{', '.join(columns)}, {_money(f'sum({cost})')} AS cost, "
        "min(ChargePeriodStart) AS first_ts, "
        "max(ChargePeriodStart) AS last_ts, count(*) AS n "
        f"FROM costs GROUP BY GROUPING SETS ({', '.join(sets)})"
    )


def _usable(expr: str) -> str:
    return f"{expr} IS NOT NULL AND trim(CAST({expr} AS VARCHAR)) <> ''"


def _plain_select(column: str) -> str:
    return (
        f"SELECT {literal(column)} AS dimension, CAST({column} AS VARCHAR) AS value, "
        "CAST(NULL AS VARCHAR) AS label, cost, CAST(first_ts AS DATE) AS first_day, "
        f"CAST(last_ts AS DATE) AS last_day, n AS row_count FROM {GROUPS_TABLE} "
        f"WHERE {_flag(column)} = 0 AND {_usable(column)}"
    )


def _pair_select(side: str, other: str) -> str:
    """One side of an id/name pair; its label is the other side when exactly one is seen."""
    label = (
        f"CASE WHEN count(DISTINCT {other}) = 1 THEN CAST(max({other}) AS VARCHAR) "
        "ELSE CAST(NULL AS VARCHAR) END"
    )
    return (
        f"SELECT {literal(side)} AS dimension, CAST({side} AS VARCHAR) AS value, {label} AS label, "
        f"{_money('sum(cost)')} AS cost, CAST(min(first_ts) AS DATE) AS first_day, "
        f"CAST(max(last_ts) AS DATE) AS last_day, sum(n) AS row_count FROM {GROUPS_TABLE} "
        f"WHERE {_flag(side)} = 0 AND {_usable(side)} GROUP BY {side}"
    )


def _key_path(dialect: str) -> str:
    """The JSON path of key `k`, built at run time: DuckDB reads `$."k"`; Spark's
    `get_json_object` (and the other engines) read the bracket form `$['k']`. sqlglot rewrites a
    literal path for the target engine, but not one concatenated from a column, hence the choice
    here."""
    if dialect == "duckdb":
        return "'$.\"' || k || '\"'"
    return "'$[''' || k || ''']'"


def _tags_select(dialect: str) -> str:
    """`tag:<key>` values expanded from the distinct `Tags` objects of the grouping pass.

    Spark's JSON paths trim the key, so there a key with surrounding spaces (" org") would read
    another key's value: such keys are left out on engines other than DuckDB."""
    value = f"json_extract_string(Tags, {_key_path(dialect)})"
    usable = _TAG_KEY_OK if dialect == "duckdb" else f"{_TAG_KEY_OK} AND k = trim(k)"
    expanded = (
        f"SELECT k, {value} AS v, cost, first_ts, last_ts, n FROM "
        f"(SELECT Tags, unnest(json_keys(Tags)) AS k, cost, first_ts, last_ts, n "
        f"FROM {GROUPS_TABLE} WHERE {_flag('Tags')} = 0 AND Tags IS NOT NULL) AS t "
        f"WHERE {usable}"
    )
    return (
        "SELECT 'tag:' || k AS dimension, v AS value, CAST(NULL AS VARCHAR) AS label, "
        f"{_money('sum(cost)')} AS cost, CAST(min(first_ts) AS DATE) AS first_day, "
        "CAST(max(last_ts) AS DATE) AS last_day, sum(n) AS row_count "
        f"FROM ({expanded}) AS e WHERE {_usable('v')} GROUP BY k, v"
    )


def vtags_select(names: Sequence[str], key: str, cost: str) -> str:
    """`vtag:<name>` values with their allocated (share-weighted) spend, one join for all tags.

    The join is the one `tools.query.vtag_dimension` makes, so the figures match `finops spend
    --by vtag:NAME` to the cent.
    """
    listed = ", ".join(literal(n) for n in names)
    month = "CAST(date_trunc('month', ChargePeriodStart) AS DATE)"
    return (
        "SELECT 'vtag:' || a.vtag AS dimension, a.value AS value, CAST(NULL AS VARCHAR) AS label, "
        f"{_money(f'sum({cost} * coalesce(a.share, 1))')} AS cost, "
        "CAST(min(ChargePeriodStart) AS DATE) "
        "AS first_day, CAST(max(ChargePeriodStart) AS DATE) AS last_day, count(*) AS row_count "
        f"FROM costs JOIN vtag_alloc AS a ON a.k = {key} "
        f"AND (a.month IS NULL OR a.month = {month}) "
        f"WHERE a.vtag IN ({listed}) AND {_usable('a.value')} GROUP BY a.vtag, a.value"
    )


def catalog_select(
    plain: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    singles: Sequence[str],
    tags: bool,
    vtags: str | None,
    dialect: str = "duckdb",
) -> str:
    """Every catalog row, cast to the `vocab` table's types, for the engine's `dialect`.

    `singles` are pair columns whose partner is absent or empty: catalogued without a label.
    """
    parts = [_plain_select(c) for c in [*plain, *singles]]
    for ident, name in pairs:
        parts += [_pair_select(ident, name), _pair_select(name, ident)]
    if tags:
        parts.append(_tags_select(dialect))
    if vtags:
        parts.append(vtags)
    casts = ", ".join(
        f"CAST({_ZERO_COST if name == 'cost' else name} AS {sql_type}) AS {name}"
        for name, sql_type in VOCAB_COLUMNS
    )
    if not parts:
        nothing = ", ".join(f"NULL AS {name}" for name, _t in VOCAB_COLUMNS)
        parts = [f"SELECT {nothing} FROM costs WHERE 1 = 0"]
    return f"SELECT {casts} FROM ({' UNION ALL '.join(parts)}) AS e WHERE first_day IS NOT NULL"


COUNTS_SQL = (
    "SELECT count(*), count(DISTINCT dimension), "
    "count(DISTINCT CASE WHEN dimension LIKE 'tag:%' THEN dimension END) FROM vocab"
)
"""Entries, dimensions and tag keys of the stored catalog."""


def store_sql(select: str) -> str:
    """Replace the stored catalog with `select`'s rows (same columns as migration 7)."""
    return f"CREATE OR REPLACE TABLE vocab AS {select}"


def store_meta_sql() -> str:
    """Replace `vocab_meta` with one row of `?` parameters, in `META_COLUMNS` order."""
    cols = ", ".join(f"CAST(? AS {sql_type}) AS {name}" for name, sql_type in META_COLUMNS)
    return f"CREATE OR REPLACE TABLE vocab_meta AS SELECT {cols}"
