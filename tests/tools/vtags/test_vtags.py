"""Virtual tags: sources, normalization, rule order, inference with reasons, shared splits to the
cent, retroactive rebuilds, and `vtag:` queries that add up to the plain total."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from tests.helpers.vtags import Row, add_rows, allocate, config_of, spend_by, values_of
from tools.query import DuckDBEngine
from tools.spend.engine import SpendQuery, parse_filter, spend
from tools.vtags.allocate import ensure_allocation
from tools.vtags.normalize import normalize_sql, normalize_value
from tools.vtags.report import candidates, coverage, explain
from warehouse.errors import ConfigError, QueryError

TEAM = {
    "sources": ["team", "owner", "resource_tags_user_squad"],
    "aliases": {"Payments Team": "payments", "CC-1001": "payments"},
    "allowed_values": ["payments", "search", "web", "platform"],
}


def _total(con: duckdb.DuckDBPyConnection) -> Decimal:
    row = con.execute("SELECT sum(BilledCost) FROM costs").fetchone()
    assert row is not None
    return Decimal(row[0])


# -- sources and normalization ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["  Payments_Team ", "payments.team", "PAYMENTS/TEAM", "payments--team", "Payments Team"],
)
def test_normalize_python_and_sql_agree(raw: str) -> None:
    con = duckdb.connect()
    row = con.execute("SELECT " + normalize_sql("?"), [raw]).fetchone()
    assert row is not None
    assert normalize_value(raw) == row[0] == "payments-team"


def test_sources_in_order_with_key_spellings_aliases_and_allowed_values(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_rows(
        con,
        [
            Row(ResourceId="r1", tags={"Team": "Payments_Team"}),  # key case, alias
            Row(ResourceId="r2", tags={"owner": "SEARCH", "team": "bob@example.com"}),
            Row(ResourceId="r3", tags={"squad": "cc-1001"}),  # CUR-style source name, alias
            Row(ResourceId="r4", tags={"team": "web", "owner": "search"}),  # first source wins
            Row(ResourceId="r5", tags={"team": "  "}),
        ],
    )
    config = config_of({"team": {**TEAM, "inference": {"enabled": False}}})
    allocate(con, config)
    assert values_of(con, "team", "r1")[0][:3] == ("payments", "tag", "tag Team=Payments_Team")
    # bob@example.com is not an allowed team: the next source decides
    assert values_of(con, "team", "r2")[0][:3] == ("search", "tag", "tag owner=SEARCH")
    assert values_of(con, "team", "r3")[0][:2] == ("payments", "tag")
    assert values_of(con, "team", "r4")[0][:3] == ("web", "tag", "tag team=web")
    assert values_of(con, "team", "r5")[0][:2] == ("unallocated", "default")


def test_rules_in_order_first_match_wins_and_never_override_tags(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_rows(
        con,
        [
            Row(ResourceId="i-1", ResourceName="search-indexer-7", SubAccountName="shared"),
            Row(ResourceId="arn:aws:s3:::web-assets", SubAccountName="shared"),
            Row(ResourceId="i-3", SubAccountName="shared", ServiceName="AWS Support"),
            Row(ResourceId="i-4", SubAccountName="shared", tags={"team": "payments"}),
            Row(ResourceId="i-5", SubAccountName="other", tags={"env": "prod"}),
        ],
    )
    rules = [
        {"id": "by-name", "resource": "^search-", "value": "search"},
        {"id": "by-arn", "resource": "s3:::web-", "value": "web"},
        {"id": "support", "when": {"ServiceName": "AWS Support"}, "value": "platform"},
        {"id": "shared-account", "when": {"subaccountname": ["shared"]}, "value": "platform"},
        {"id": "tagged-prod", "when": {"tag:env": {"regex": "^prod"}}, "value": "web"},
    ]
    config = config_of({"team": {**TEAM, "rules": rules, "inference": {"enabled": False}}})
    allocate(con, config)
    assert values_of(con, "team", "i-1")[0][:3] == ("search", "rule", "rule by-name")
    assert values_of(con, "team", "arn:aws:s3:::web-assets")[0][:3] == (
        "web",
        "rule",
        "rule by-arn",
    )
    assert values_of(con, "team", "i-3")[0][:3] == ("platform", "rule", "rule support")
    assert values_of(con, "team", "i-4")[0][:2] == ("payments", "tag")
    assert values_of(con, "team", "i-5")[0][:3] == ("web", "rule", "rule tagged-prod")


# -- shared costs -----------------------------------------------------------------------------


def _shared_company(con: duckdb.DuckDBPyConnection) -> None:
    """Two months; own spend 1:2:0 (payments, search, web) in October and 3:1:0 in November;
    a shared cluster of 100.00 (10/01) + 0.07 (10/02) in October and 33.33 in November."""
    oct1, oct2, nov = date(2026, 10, 1), date(2026, 10, 2), date(2026, 11, 5)
    add_rows(
        con,
        [
            Row(day=oct1, cost="10", ResourceId="p1", tags={"team": "payments"}),
            Row(day=oct1, cost="20", ResourceId="s1", tags={"team": "search"}),
            Row(day=nov, cost="30", ResourceId="p1", tags={"team": "payments"}),
            Row(day=nov, cost="10", ResourceId="s1", tags={"team": "search"}),
            Row(day=oct1, cost="100.00", ResourceId="cluster", tags={"namespace": "__idle__"}),
            Row(day=oct2, cost="0.07", ResourceId="cluster", tags={"namespace": "__idle__"}),
            Row(day=nov, cost="33.33", ResourceId="cluster", tags={"namespace": "__idle__"}),
        ],
    )


def _split(con: duckdb.DuckDBPyConnection, shared: dict[str, object]) -> dict[str, Decimal]:
    rule = {"id": "cluster", "when": {"tag:namespace": "__idle__"}, **shared}
    team = {**TEAM, "shared": [rule], "inference": {"enabled": False}}
    config = config_of({"team": team})
    allocate(con, config)
    by = spend_by(con, config, "team")
    assert sum(by.values(), Decimal(0)) == _total(con)  # nothing lost, nothing doubled
    return by


def _shared_part(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, Decimal]:
    rows = con.execute(
        "SELECT a.value, sum(m.cost * a.share) FROM vtag_alloc a JOIN vtag_keys m "
        "ON m.k = a.k AND a.month = m.month WHERE a.provenance = 'shared' "
        "AND strftime(m.month, '%Y-%m') = ? GROUP BY 1",
        [month],
    ).fetchall()
    return {v: Decimal(c) for v, c in rows}


def test_proportional_split_follows_each_months_own_spend(con: duckdb.DuckDBPyConnection) -> None:
    _shared_company(con)
    _split(con, {"method": "proportional"})
    october, november = _shared_part(con, "2026-10"), _shared_part(con, "2026-11")
    assert sum(october.values(), Decimal(0)) == Decimal("100.07")  # exact, not to the cent only
    assert sum(november.values(), Decimal(0)) == Decimal("33.33")
    assert october["search"].quantize(Decimal("0.01")) == Decimal("66.71")  # 2/3 of 100.07
    assert november["payments"].quantize(Decimal("0.01")) == Decimal("25.00")  # 3/4 of 33.33
    assert "web" not in october  # no own spend, no share


def test_even_split_over_listed_values_including_one_without_spend(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _shared_company(con)
    by = _split(con, {"method": "even", "values": ["payments", "search", "Web"]})
    october = _shared_part(con, "2026-10")
    assert set(october) == {"payments", "search", "web"}
    assert sum(october.values(), Decimal(0)) == Decimal("100.07")
    assert max(october.values()) - min(october.values()) < Decimal("0.000001")
    assert by["web"] == sum(_shared_part(con, m)["web"] for m in ("2026-10", "2026-11"))


def test_fixed_ratios_are_normalized_and_exact(con: duckdb.DuckDBPyConnection) -> None:
    _shared_company(con)
    _split(con, {"method": "fixed", "ratios": {"payments": 1, "platform": 3}})
    november = _shared_part(con, "2026-11")
    assert sum(november.values(), Decimal(0)) == Decimal("33.33")
    assert november["platform"].quantize(Decimal("0.0001")) == Decimal("24.9975")


def test_shared_rule_without_targets_falls_back_to_default(con: duckdb.DuckDBPyConnection) -> None:
    add_rows(con, [Row(cost="5", ResourceId="cluster", tags={"namespace": "__idle__"})])
    by = _split(con, {"method": "proportional"})
    assert by == {"unallocated": Decimal("5")}
    detail = values_of(con, "team", "cluster")[0][2]
    assert "found no values to split to in 2026-10" in detail


def test_only_unallocated_shared_rule_leaves_owned_rows_alone(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_rows(
        con,
        [
            Row(cost="10", ResourceId="p1", tags={"team": "payments"}),
            Row(cost="4", ResourceId="support", ServiceName="AWS Support"),
            Row(
                cost="6",
                ResourceId="support-tagged",
                ServiceName="AWS Support",
                tags={"team": "web"},
            ),
        ],
    )
    rule = {
        "id": "support",
        "when": {"ServiceName": "AWS Support"},
        "method": "even",
        "values": ["payments", "search"],
        "only_unallocated": True,
    }
    config = config_of({"team": {**TEAM, "shared": [rule], "inference": {"enabled": False}}})
    allocate(con, config)
    assert values_of(con, "team", "support-tagged")[0][:2] == ("web", "tag")
    assert {v for v, *_ in values_of(con, "team", "support")} == {"payments", "search"}
    assert spend_by(con, config, "team") == {
        "payments": Decimal("12"),
        "search": Decimal("2"),
        "web": Decimal("6"),
    }


# -- inference --------------------------------------------------------------------------------


def _inference_company(con: duckdb.DuckDBPyConnection) -> None:
    tagged = [
        Row(
            ResourceId=f"i-pay{i}",
            SubAccountId="111",
            SubAccountName="acct-a",
            tags={"team": "payments"},
        )
        for i in range(3)
    ]
    tagged += [
        Row(ResourceId=f"i-mix{i}", SubAccountId="222", SubAccountName="acct-b", tags={"team": t})
        for i, t in enumerate(["search", "web", "search"])
    ]
    untagged = [
        Row(cost="7", ResourceId="i-new", SubAccountId="111", SubAccountName="acct-a"),
        Row(cost="3", ResourceId="i-odd", SubAccountId="222", SubAccountName="acct-b"),
        Row(cost="2", ResourceId="db-1", ResourceName="web-sessions-db", SubAccountId="333"),
        Row(cost="2", ResourceId="db-2", ResourceName="web-search-bridge", SubAccountId="333"),
    ]
    add_rows(con, [*tagged, *untagged])


def test_inference_learns_accounts_with_confidence_and_reason(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _inference_company(con)
    config = config_of({"team": {**TEAM, "inference": {"features": ["account"]}}})
    allocate(con, config)
    value, provenance, reason, confidence, _ = values_of(con, "team", "i-new")[0]
    assert (value, provenance) == ("payments", "inferred")
    assert reason == "account acct-a: 3 of 3 tagged resources say payments"
    assert confidence == pytest.approx(0.75)
    # acct-b: 2 of 3 say search -> 0.5 < 0.75: stays unallocated, listed as a candidate
    assert values_of(con, "team", "i-odd")[0][:2] == ("unallocated", "default")
    found = candidates(con, config, "team")
    odd = next(c for c in found.candidates if c.resource_id == "i-odd")
    assert odd.suggested == "search" and odd.confidence == pytest.approx(0.5)
    assert odd.reason == "account acct-b: 2 of 3 tagged resources say search"


def test_value_in_name_needs_exactly_one_known_value(con: duckdb.DuckDBPyConnection) -> None:
    _inference_company(con)
    config = config_of({"team": {**TEAM, "inference": {"features": ["value_in_name"]}}})
    allocate(con, config)
    value, provenance, reason, confidence, _ = values_of(con, "team", "db-1")[0]
    assert (value, provenance) == ("web", "inferred")
    assert reason == 'resource name "web-sessions-db" contains "web"'
    assert confidence == pytest.approx(0.8)
    assert values_of(con, "team", "db-2")[0][1] == "default"  # web and search: ambiguous


def test_inference_threshold_is_respected(con: duckdb.DuckDBPyConnection) -> None:
    _inference_company(con)
    strict = config_of({"team": {**TEAM, "inference": {"min_confidence": 0.9}}})
    allocate(con, strict)
    assert values_of(con, "team", "i-new")[0][1] == "default"
    off = config_of({"team": {**TEAM, "inference": {"enabled": False}}})
    allocate(con, off)
    assert con.execute("SELECT count(*) FROM vtag_guess").fetchone() == (0,)


# -- retroactive and queries ------------------------------------------------------------------


def test_rebuilds_only_when_definitions_or_data_change(con: duckdb.DuckDBPyConnection) -> None:
    _inference_company(con)
    config = config_of({"team": TEAM})
    assert ensure_allocation(con, config).rebuilt
    assert not ensure_allocation(con, config).rebuilt
    changed = config_of({"team": {**TEAM, "default": "nobody"}})
    assert ensure_allocation(con, changed).rebuilt
    assert "nobody" in spend_by(con, changed, "team")  # retroactive over all rows
    add_rows(con, [Row(cost="1", ResourceId="late")])
    with pytest.raises(QueryError, match=r"cost data changed.*finops tags refresh"):
        spend(DuckDBEngine(con), changed, SpendQuery(by=["vtag:team"]))
    assert ensure_allocation(con, changed).rebuilt
    with pytest.raises(QueryError, match="definitions changed"):
        spend(DuckDBEngine(con), config, SpendQuery(by=["vtag:team"]))


def test_vtag_queries_filters_and_totals(con: duckdb.DuckDBPyConnection) -> None:
    _shared_company(con)
    by = _split(con, {"method": "proportional"})
    engine = DuckDBEngine(con)
    config = config_of(
        {
            "team": {
                **TEAM,
                "shared": [
                    {
                        "id": "cluster",
                        "when": {"tag:namespace": "__idle__"},
                        "method": "proportional",
                    }
                ],
                "inference": {"enabled": False},
            }
        }
    )
    only = spend(engine, config, SpendQuery(filters=[parse_filter("vtag:team=search")]))
    assert only.total == by["search"]
    monthly = spend(engine, config, SpendQuery(by=["vtag:team"], grain="month"))
    assert sum(r.cost for r in monthly.rows) == _total(con)
    with pytest.raises(QueryError, match="virtual tag 'owner' is not defined"):
        spend(engine, config, SpendQuery(by=["vtag:owner"]))


def test_coverage_and_explain(con: duckdb.DuckDBPyConnection) -> None:
    _inference_company(con)
    config = config_of({"team": TEAM})
    allocate(con, config)
    result = coverage(con, config)
    team = result.tags[0]
    assert team.total == _total(con)
    assert team.by_provenance["tag"] == Decimal(6)
    assert team.by_provenance["inferred"] + team.by_provenance["default"] == Decimal(14)
    assert team.allocated_share == (team.allocated / team.total).quantize(Decimal("0.0001"))
    why = explain(con, config, "i-new")
    assert [(d.vtag, d.value, d.provenance) for d in why.decisions] == [
        ("team", "payments", "inferred")
    ]
    assert why.cost == Decimal(7)
    with pytest.raises(QueryError, match="no cost rows for resource 'nope'"):
        explain(con, config, "nope")
    with pytest.raises(QueryError, match="must be the first day of a month"):
        coverage(con, config, since=date(2026, 10, 2))


# -- config validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"sources": ["team"], "colour": "red"}, "unknown key 'virtual_tags.team.colour'"),
        ({"rules": [{"id": "x", "resource": "(?=a)", "value": "v"}]}, "lookaround"),
        ({"rules": [{"id": "x", "resource": "([a", "value": "v"}]}, "invalid regex"),
        ({"rules": [{"id": "x", "when": {"Colour": "red"}, "value": "v"}]}, "unknown column"),
        ({"rules": [{"id": "x", "value": "v"}]}, "at least one condition"),
        (
            {
                "rules": [
                    {"id": "x", "when": {"ServiceName": "a"}, "value": "v"},
                    {"id": "x", "when": {"ServiceName": "b"}, "value": "w"},
                ]
            },
            "unique",
        ),
        ({"shared": [{"id": "s", "resource": "x", "method": "fixed"}]}, "needs `ratios:`"),
        (
            {"shared": [{"id": "s", "resource": "x", "method": "even", "ratios": {"a": 1}}]},
            "only for method fixed",
        ),
        ({"inference": {"min_confidence": 1.5}}, "less than or equal to 1"),
        (
            {
                "rules": [
                    {
                        "id": "x",
                        "when": {"ServiceName": {"regex": "a", "equals": ["b"]}},
                        "value": "v",
                    }
                ]
            },
            "exactly one of",
        ),
    ],
)
def test_bad_definitions_are_refused_clearly(definition: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_of({"team": definition})


def test_bad_virtual_tag_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be lower case"):
        config_of({"Team Name": {}})
