"""The demo company: determinism, clean ingest, exact totals and visible planted incidents.

Expected values come from `ground_truth.json`, and every check against it also recomputes the
figure independently — from the parquet files with pyarrow, or from the warehouse with SQL — so
a generator bug cannot hide behind its own bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from agent.config import Config
from agent.demo.build import DemoResult, build_demo
from tests.helpers.warehouse import ingest
from warehouse.db import connect
from warehouse.demo import focus_arrow_schema, generate, write_scale
from warehouse.schema import focus_columns

CENT = Decimal("0.01")
PROVIDER_FILES = ("aws", "azure", "gcp", "openai", "anthropic", "snowflake", "kubernetes")
OWNER_KEYS = ["team", "Team", "owner", "squad", "cost-center", "CostCenter"]
ARROW_TYPES = {
    "VARCHAR": "string",
    "DECIMAL(38,12)": "decimal128(38, 12)",
    "TIMESTAMP": "timestamp[us]",
    "JSON": "extension<arrow.json>",
}


@dataclass
class Built:
    result: DemoResult
    con: duckdb.DuckDBPyConnection
    truth: dict[str, Any]
    out: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The default demo (seed 7, end 2026-11-27), generated and ingested once for this module."""
    root = tmp_path_factory.mktemp("demo")
    con = connect(root / "warehouse.duckdb")
    result = build_demo(con, Config(), root / "data")
    truth = json.loads(result.manifest.ground_truth_path.read_text())
    yield Built(result, con, truth, root / "data")
    con.close()


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _incidents(truth: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in truth["incidents"] if i["kind"] == kind]


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=7)
    generate(tmp_path / "b", seed=7)
    manifest = generate(tmp_path / "c", seed=8)
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert set(a) == {f"{k}.parquet" for k in PROVIDER_FILES} | {
        "utilization.parquet",
        "ground_truth.json",
    }
    assert a == b
    assert all(a[f"{k}.parquet"] != c[f"{k}.parquet"] for k in PROVIDER_FILES)
    assert {f.path.name: f.sha256 for f in manifest.files} == {
        k: v for k, v in c.items() if k.removesuffix(".parquet") in PROVIDER_FILES
    }


def test_files_carry_all_57_focus_columns_with_warehouse_types(built: Built) -> None:
    expected = [(c.name, ARROW_TYPES[c.sql_type]) for c in focus_columns()]
    assert len(expected) == 57
    for f in built.result.manifest.files:
        schema = pq.read_schema(f.path)
        assert [(field.name, str(field.type)) for field in schema] == expected, f.path.name
        assert pq.read_metadata(f.path).num_rows == f.rows


def test_every_file_ingests_and_totals_match_ground_truth_to_the_cent(built: Built) -> None:
    assert [r.files[0].source for r in built.result.reports] == [
        f"demo-{k}" for k in PROVIDER_FILES
    ]
    assert all(r.warnings == [] for r in built.result.reports)
    rows = dict(built.con.execute("SELECT x_SourceName, count(*) FROM costs GROUP BY 1").fetchall())
    sums = {
        r[0]: (r[1], r[2])
        for r in built.con.execute(
            "SELECT x_SourceName, sum(BilledCost), sum(EffectiveCost) FROM costs GROUP BY 1"
        ).fetchall()
    }
    for key, total in built.truth["totals"].items():
        table = pq.read_table(built.out / total["file"], columns=["BilledCost", "EffectiveCost"])
        from_file = pc.sum(table["BilledCost"]).as_py()
        assert rows[total["source"]] == total["rows"] == table.num_rows, key
        assert sums[total["source"]][0] == Decimal(total["billed_cost"]) == from_file, key
        assert sums[total["source"]][1].quantize(CENT) == Decimal(total["effective_cost"]).quantize(
            CENT
        ), key
    assert sum(Decimal(t["effective_cost"]) for t in built.truth["totals"].values()) == Decimal(
        built.truth["total_cost"]
    )
    team_total = sum(Decimal(v) for v in built.truth["team_totals"].values())
    assert abs(team_total - Decimal(built.truth["total_cost"])) < Decimal("0.05")


def test_untagged_share_is_about_thirty_percent_and_every_owner_is_known(built: Built) -> None:
    untagged, total = built.con.execute(
        "SELECT sum(EffectiveCost) FILTER (WHERE Tags IS NULL OR NOT list_has_any("
        "json_keys(Tags), ?)), sum(EffectiveCost) FROM costs",
        [OWNER_KEYS],
    ).fetchone() or (0, 1)
    share = untagged / total
    assert Decimal("0.20") <= share <= Decimal("0.40")
    assert share.quantize(Decimal("0.0001")) == Decimal(built.truth["untagged"]["share"])
    owners = {r["resource_id"]: r for r in built.truth["resources"]}
    accounts = {a["sub_account_id"]: a["team"] for a in built.truth["accounts"]}
    for rid, sub, tags in built.con.execute(
        "SELECT DISTINCT ResourceId, SubAccountId, Tags FROM costs"
    ).fetchall():
        assert sub in accounts
        assert rid is None or owners[rid]["team"] in built.truth["teams"]
        has_owner = tags is not None and bool(set(json.loads(tags)) & set(OWNER_KEYS))
        if rid is not None:
            assert (owners[rid]["inferable_from"] == "tag") == has_owner, rid
    keys = {
        k
        for (t,) in built.con.execute(
            "SELECT DISTINCT Tags FROM costs WHERE Tags IS NOT NULL"
        ).fetchall()
        for k in json.loads(t)
    }
    assert set(OWNER_KEYS) <= keys


def test_cost_spikes_stand_out_on_their_day(built: Built) -> None:
    spikes = _incidents(built.truth, "cost_spike")
    assert {s["id"] for s in spikes} == {"s3-transfer-spike", "bigquery-spike"}
    for spike in spikes:
        where = " AND ".join(f"{k} = ?" for k in spike["series"])
        daily = dict(
            built.con.execute(
                "SELECT CAST(ChargePeriodStart AS DATE), sum(EffectiveCost) FROM costs "
                f"WHERE {where} GROUP BY 1",
                list(spike["series"].values()),
            ).fetchall()
        )
        day = date.fromisoformat(spike["date"])
        assert len(daily) >= 60
        assert daily[day] > 3 * median(daily.values()), spike["id"]
        assert max(daily, key=daily.__getitem__) == day
        assert daily[day].quantize(CENT) == Decimal(spike["spike_cost"])


def test_runaway_agent_hours_dwarf_its_normal_hourly_spend(built: Built) -> None:
    (runaway,) = _incidents(built.truth, "runaway_agent")
    hourly = dict(
        built.con.execute(
            "SELECT ChargePeriodStart, sum(EffectiveCost) FROM costs "
            "WHERE Tags->>'agent_id' = ? AND ResourceId = ? GROUP BY 1",
            [runaway["agent_id"], runaway["api_key_id"]],
        ).fetchall()
    )
    assert len(hourly) == 90 * 24
    hours = [datetime.fromisoformat(h) for h in runaway["hours"]]
    normal = median(hourly.values())
    assert all(hourly[h] >= 20 * normal for h in hours)
    assert sorted(hourly, key=hourly.__getitem__)[-len(hours) :] == sorted(
        hours, key=hourly.__getitem__
    )
    assert [hourly[h].quantize(CENT) for h in hours] == [
        Decimal(c) for c in runaway["hourly_costs"]
    ]
    assert all(h.date() == date(2026, 11, 27) for h in hours)


def test_idle_and_oversized_resources_show_in_utilization_and_costs(built: Built) -> None:
    idle = _incidents(built.truth, "idle_resource")
    oversized = _incidents(built.truth, "oversized_resource")
    assert len(idle) >= 3 and len(oversized) >= 2
    stats = {
        (r[0], r[1]): r[2:]
        for r in built.con.execute(
            "SELECT resource_id, metric, avg(value), quantile_cont(value, 0.95), max(value), "
            "count(*) FROM read_parquet(?) GROUP BY 1, 2",
            [str(built.out / "utilization.parquet")],
        ).fetchall()
    }
    for item in idle:
        rid = item["resource_id"]
        assert stats[(rid, "cpu_utilization")][2] < 3
        assert stats[(rid, "network_bytes")][0] < 5e6
        assert stats[(rid, "cpu_utilization")][3] == 90 * 24
    for item in oversized:
        rid, bottleneck = item["resource_id"], item["bottleneck"]
        assert stats[(rid, "cpu_utilization")][1] < 20
        assert stats[(rid, "memory_utilization")][0] < 25
        assert Decimal(item["expected_monthly_savings"]) > 0
        assert bottleneck in ("cpu", "memory")
    flagged = {i["resource_id"] for i in idle + oversized}
    busy = [k[0] for k in stats if k[1] == "cpu_utilization" and k[0] not in flagged]
    assert busy and all(stats[(rid, "cpu_utilization")][0] > 20 for rid in busy)
    for item in idle:
        daily = built.con.execute(
            "SELECT median(c) FROM (SELECT sum(EffectiveCost) c FROM costs WHERE ResourceId = ? "
            "GROUP BY CAST(ChargePeriodStart AS DATE))",
            [item["resource_id"]],
        ).fetchone()
        assert daily is not None and daily[0].quantize(CENT) == Decimal(item["daily_cost"])


def test_commitment_baseline_is_steady_on_demand(built: Built) -> None:
    plans = {c["id"]: c for c in _incidents(built.truth, "commitment_opportunity")}
    assert set(plans) == {"commit-ec2", "commit-rds"}
    for plan in plans.values():
        rows = built.con.execute(
            "SELECT ResourceId, count(DISTINCT CAST(ChargePeriodStart AS DATE)), "
            "count(DISTINCT EffectiveCost), any_value(ListUnitPrice), "
            "bool_and(PricingCategory = 'Standard') FROM costs WHERE list_contains(?, ResourceId) "
            "GROUP BY 1",
            [plan["resource_ids"]],
        ).fetchall()
        assert len(rows) == len(plan["resource_ids"]) >= 3
        assert all(days == 90 and costs == 1 and standard for _, days, costs, _, standard in rows)
        assert sum(r[3] for r in rows) == Decimal(plan["steady_hourly_on_demand_cost"])


def test_ai_rows_are_hourly_token_rows_per_type(built: Built) -> None:
    rows = built.con.execute(
        "SELECT ProviderName, count(DISTINCT SkuMeter), bool_and(ConsumedUnit = 'Tokens'), "
        "bool_and(ChargePeriodEnd - ChargePeriodStart = INTERVAL 1 HOUR), "
        "bool_and(abs(EffectiveCost::DOUBLE - ConsumedQuantity::DOUBLE * ListUnitPrice::DOUBLE "
        "/ 1e6) < 1e-9), bool_and(PricingQuantity * 1000000 = ConsumedQuantity), "
        "count(DISTINCT Tags->>'agent_id') FROM costs "
        "WHERE ProviderName IN ('OpenAI', 'Anthropic') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("Anthropic", 3, True, True, True, True, 3),
        ("OpenAI", 3, True, True, True, True, 3),
    ]
    kinds = {
        r[0]
        for r in built.con.execute(
            "SELECT DISTINCT ProviderName FROM costs WHERE x_SourceName = 'demo-kubernetes'"
        ).fetchall()
    }
    assert kinds == {"Kubernetes"}


def test_end_date_is_injectable_and_short_windows_are_refused(tmp_path: Path) -> None:
    manifest = generate(tmp_path, end=date(2025, 3, 10), days=30)
    table = pq.read_table(tmp_path / "aws.parquet", columns=["ChargePeriodStart"])
    first, last = pc.min_max(table["ChargePeriodStart"]).values()
    assert (first.as_py().date(), last.as_py().date()) == (date(2025, 2, 9), date(2025, 3, 10))
    truth = json.loads(manifest.ground_truth_path.read_text())
    assert (truth["start"], truth["end"]) == ("2025-02-09", "2025-03-10")
    assert _incidents(truth, "runaway_agent")[0]["date"] == "2025-03-10"
    with pytest.raises(ValueError, match="at least 30"):
        generate(tmp_path / "short", days=10)


def test_write_scale_writes_exact_rows_with_focus_schema_and_ingests(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    path = write_scale(tmp_path / "scale.parquet", 50_000, seed=3)
    again = write_scale(tmp_path / "again.parquet", 50_000, seed=3)
    assert path.read_bytes() == again.read_bytes()
    assert pq.read_metadata(path).num_rows == 50_000
    assert pq.read_schema(path).equals(focus_arrow_schema())
    table = pq.read_table(path)
    assert 15 <= pc.count_distinct(table["ServiceName"]).as_py() <= 20
    assert 300 <= pc.count_distinct(table["SubAccountId"]).as_py() <= 500
    assert 0.4 < 1 - table["Tags"].null_count / table.num_rows < 0.9
    report = ingest(con, path, fmt="focus", source="scale")
    assert report.rows == 50_000 and report.warnings == []
    total = con.execute("SELECT sum(BilledCost), count(*) FROM costs").fetchone()
    assert total == (pc.sum(table["BilledCost"]).as_py(), 50_000)
    assert isinstance(total[0], Decimal) and total[0] > 0


def test_write_scale_handles_chunk_boundaries(tmp_path: Path) -> None:
    path = write_scale(tmp_path / "chunks.parquet", 2_501, chunk_rows=1_000)
    meta = pq.read_metadata(path)
    assert (meta.num_rows, meta.num_row_groups) == (2_501, 3)
    assert pa.types.is_decimal(pq.read_schema(path).field("ListCost").type)
