"""SQL fragments for one virtual tag: sources, rules and filters over the allocation key table.

Everything here is pure text generation from validated definitions; user values only pass
through `literal()`, identifiers only come from the FOCUS schema.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.query import literal
from tools.vtags.columns import BASE_COLUMNS, column_sql, tag_sql
from tools.vtags.definitions import Match, Rule, SharedRule, VirtualTag
from tools.vtags.normalize import key_variants, normalize_sql

__all__ = [
    "KEY_SUMS",
    "MONTH_SUMS",
    "SUM_COLUMNS",
    "filter_sql",
    "key_columns",
    "key_expression",
    "key_sums_sql",
    "month_sums_sql",
    "rules_sql",
    "sources_sql",
    "stored_value_sql",
]


def key_columns(tags: Sequence[VirtualTag]) -> list[str]:
    """The columns that decide allocation: the base set plus any FOCUS column a rule reads."""
    extra = {
        col
        for vt in tags
        for f in [*vt.rules, *vt.shared]
        for col in f.matches()
        if not col.startswith("tag:") and col not in BASE_COLUMNS
    }
    return [*BASE_COLUMNS, *sorted(extra)]


def key_expression(columns: Sequence[str], alias: str = "") -> str:
    """The allocation key of a cost row: a 64-bit hash of the deciding columns."""
    prefix = f"{alias}." if alias else ""
    return "hash(" + ", ".join(f"{prefix}{c}" for c in columns) + ")"


KEY_SUMS = "vtag_sums"
"""The allocation-key sums: money and quantity per key, billing currency and week-in-month."""

MONTH_SUMS = "vtag_month_sums"
"""The same sums per key, billing currency and month (total- and month-grain queries)."""

SUM_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity")
"""The `costs` columns the key sums hold summed, under their own names."""


def key_sums_sql(columns: Sequence[str]) -> str:
    """`CREATE TABLE vtag_sums`: `costs` summed per allocation key, billing currency and bucket.

    A bucket is a week cut at month starts (it starts on a Monday or on the 1st, whichever is
    later), so a bucket lies in one month and one week: total-, month- and week-grain sums, and
    any range whose bounds fall on bucket starts, read it instead of the rows. Its columns keep
    their `costs` names (`ChargePeriodStart` is the bucket's start, `month` the allocation month),
    so a spend query's text runs on it unchanged as `costs`; the key's other columns are in
    `vtag_attrs` (one row per key), joined only when a query reads them.
    """
    sums = ", ".join(f"sum({c}) AS {c}" for c in SUM_COLUMNS)
    bucket = (
        "greatest(date_trunc('week', ChargePeriodStart), date_trunc('month', ChargePeriodStart))"
    )
    inner = (
        f"SELECT {key_expression(columns)} AS k, "
        "CAST(date_trunc('month', ChargePeriodStart) AS DATE) AS month, "
        f"{bucket} AS bucket, BillingCurrency, {sums}, count(*) AS n FROM costs GROUP BY ALL"
    )
    return (
        f"CREATE OR REPLACE TABLE {KEY_SUMS} AS SELECT k, month, bucket AS ChargePeriodStart, "
        f"BillingCurrency, {', '.join(SUM_COLUMNS)}, n FROM ({inner}) AS s"
    )


def month_sums_sql() -> str:
    """`CREATE TABLE vtag_month_sums` from `vtag_sums`: each month's buckets summed
    (`ChargePeriodStart` is the month's start), the columns as in `vtag_sums`."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in SUM_COLUMNS)
    return (
        f"CREATE OR REPLACE TABLE {MONTH_SUMS} AS SELECT k, month, "
        f"CAST(month AS TIMESTAMP) AS ChargePeriodStart, BillingCurrency, {sums}, "
        f"sum(n) AS n FROM {KEY_SUMS} GROUP BY ALL"
    )


def stored_value_sql(vt: VirtualTag, expr: str) -> str:
    """Raw text → the value as stored: normalized, then aliased."""
    norm = normalize_sql(expr, vt.normalize.case, vt.normalize.separator)
    aliases = vt.alias_map()
    if not aliases:
        return norm
    cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in sorted(aliases.items()))
    return f"(CASE {norm} {cases} ELSE {norm} END)"


def _ok(vt: VirtualTag, value: str) -> str:
    allowed = vt.allowed()
    check = f"{value} IS NOT NULL AND {value} <> ''"
    if allowed is not None:
        check += f" AND {value} IN ({', '.join(literal(v) for v in allowed)})"
    return check


def sources_sql(vt: VirtualTag) -> tuple[str, str]:
    """(value, detail) SQL: the first source key (any usual spelling) with a usable value."""
    if not vt.sources:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    values, details = [], []
    for key in vt.sources:
        for spelling in key_variants(key):
            raw = tag_sql(spelling)
            stored = stored_value_sql(vt, raw)
            detail = f"{literal('tag ' + spelling + '=')} || {raw}"
            values.append(f"WHEN {_ok(vt, stored)} THEN {stored}")
            details.append(f"WHEN {_ok(vt, stored)} THEN {detail}")
    return f"(CASE {' '.join(values)} END)", f"(CASE {' '.join(details)} END)"


def _match_sql(column: str, match: Match) -> str:
    expr = column_sql(column)
    if match.missing is not None:
        empty = f"coalesce({expr}, '') = ''"
        return empty if match.missing else f"NOT ({empty})"
    if match.regex is not None:
        return f"regexp_matches(coalesce({expr}, ''), {literal(match.regex)})"
    assert match.equals is not None
    return f"{expr} IN ({', '.join(literal(v) for v in match.equals)})"


def filter_sql(rule: Rule | SharedRule) -> str:
    """All of a rule's conditions, ANDed."""
    parts = [_match_sql(col, m) for col, m in rule.matches().items()]
    if rule.resource is not None:
        pattern = literal(rule.resource)
        parts.append(
            f"(regexp_matches(coalesce(ResourceName, ''), {pattern}) OR "
            f"regexp_matches(coalesce(ResourceId, ''), {pattern}))"
        )
    return "(" + " AND ".join(parts) + ")"


def rules_sql(vt: VirtualTag) -> tuple[str, str]:
    """(value, rule id) SQL: the first rule whose conditions hold."""
    if not vt.rules:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    values = " ".join(f"WHEN {filter_sql(r)} THEN {literal(vt.norm(r.value))}" for r in vt.rules)
    ids = " ".join(f"WHEN {filter_sql(r)} THEN {literal(r.id)}" for r in vt.rules)
    return f"(CASE {values} END)", f"(CASE {ids} END)"


def shared_sql(vt: VirtualTag) -> str:
    """The id of the first shared rule matching a key, else NULL."""
    if not vt.shared:
        return "CAST(NULL AS VARCHAR)"
    ids = " ".join(f"WHEN {filter_sql(s)} THEN {literal(s.id)}" for s in vt.shared)
    return f"(CASE {ids} END)"
