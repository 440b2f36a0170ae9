"""`finops demo`: builds the warehouse, prints a precise overview, and writes scale files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers.cli import run_cli


def test_demo_builds_warehouse_and_overview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FINOPS_HOME", str(home))
    result = run_cli(capsys, "demo", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    truth = json.loads(Path(doc["ground_truth"]).read_text())
    assert doc["rows"] > 10_000
    assert doc["by_provider"]["currency"] == "USD"
    total = Decimal(doc["by_provider"]["total"])
    assert total == Decimal(truth["total_cost"])
    assert total == sum(Decimal(t["billed_cost"]) for t in truth["totals"].values())
    assert doc["movers"]["current_until"] == "2026-11-27"
    agent = doc["agent"]  # the offline planner answered through the real chat graph
    assert [c["name"] for c in agent["tool_calls"]] == ["spend_query"]
    aws = run_cli(
        capsys,
        *("spend", "--since", "2026-10-01", "--until", "2026-10-31"),
        *("--filter", "ProviderName=AWS", "--json"),
    ).json()
    assert f"Total: USD {Decimal(aws['total']):,.2f}." in agent["answer"]
    assert "2026-10-01..2026-10-31" in agent["answer"]
    assert Decimal(agent["usage"]["cost_usd"]) == 0
    cloud = doc["actions"]  # stop-after-approval on moto's server through boto3
    assert sorted(cloud["instances"][i] for i in cloud["idle"]) == [
        "etl-nightly-old",
        "reports-legacy",
    ]
    assert all(cloud["states_before"][i] == "running" for i in cloud["idle"])
    assert all(cloud["states_after"][i] == "stopped" for i in cloud["idle"])
    busy_and_protected = set(cloud["instances"]) - set(cloud["idle"])
    assert all(cloud["states_after"][i] == "running" for i in busy_and_protected)
    p = cloud["proposal"]
    assert (p["action"], p["status"], p["decided_by"]) == (
        "stop_ec2_instances",
        "done",
        "finops-lead",
    )
    targeted = {t["instance_id"] for t in p["params"]["instances"]}
    assert targeted == set(cloud["idle"]) and not targeted & set(cloud["protected"])
    shown = run_cli(capsys, "proposals", "show", p["id"], "--json").json()
    assert shown["status"] == "done" and len(shown["result"]["changed"]) == 2
    again = run_cli(capsys, "demo", "--no-actions", "--json").json()
    assert Decimal(again["by_provider"]["total"]) == total  # re-running replaces, never doubles
    human = run_cli(capsys, "demo", "--no-actions").out
    assert "Billed cost by provider" in human and "USD" in human and "2026-11-27" in human
    assert "Amazon Elastic Compute Cloud: USD" in human


def test_demo_scale_writes_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "home"))
    out = tmp_path / "big.parquet"
    result = run_cli(capsys, "demo", "--scale", "20000", "--out", str(out), "--json")
    assert result.code == 0, result.err
    assert pq.read_metadata(out).num_rows == 20_000
    assert result.json() == {"path": str(out), "rows": 20000}


def test_demo_rejects_bad_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "home"))
    result = run_cli(capsys, "demo", "--end", "27/11/2026")
    assert result.code == 1 and "invalid --end" in result.err
