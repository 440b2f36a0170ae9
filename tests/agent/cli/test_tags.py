"""`finops tags …` and `finops spend --by vtag:…` end to end, plus virtual tags on the real CUR."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from agent.config import Config
from tests.helpers.cli import run_cli
from tests.helpers.vtags import Row, add_rows, allocate, config_of, values_of
from tests.helpers.warehouse import ingest
from tools.vtags.report import coverage
from warehouse.db import connect

CONFIG = """\
virtual_tags:
  team:
    sources: [team, owner]
    aliases: {payments-team: payments}
    rules:
      - id: shared-account
        when: {SubAccountName: shared}
        value: platform
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    (root / "finops.yaml").write_text(CONFIG)
    con = connect(root / "warehouse.duckdb")
    add_rows(
        con,
        [
            Row(
                cost="10",
                ResourceId="i-1",
                SubAccountId="1",
                SubAccountName="pay",
                tags={"team": "payments"},
            ),
            Row(
                cost="10",
                ResourceId="i-2",
                SubAccountId="1",
                SubAccountName="pay",
                tags={"owner": "Payments-Team"},
            ),
            Row(
                cost="10",
                ResourceId="i-3",
                SubAccountId="1",
                SubAccountName="pay",
                tags={"team": "payments"},
            ),
            Row(cost="6", ResourceId="i-4", SubAccountId="1", SubAccountName="pay"),
            Row(cost="4", ResourceId="i-5", SubAccountId="9", SubAccountName="shared"),
            Row(cost="2", ResourceId="i-6", SubAccountId="7", SubAccountName="misc"),
        ],
    )
    con.close()
    monkeypatch.setenv("FINOPS_HOME", str(root))
    return root


def test_coverage_explain_candidates(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_cli(capsys, "tags", "coverage", "--json").json()
    team = doc["tags"][0]
    assert team["by_provenance"] == {
        "tag": "30.000000000000000000000000",
        "rule": "4.000000000000000000000000",
        "inferred": "6.000000000000000000000000",
        "shared": "0",
        "default": "2.000000000000000000000000",
    }
    assert team["allocated_share"] == "0.9524"
    human = run_cli(capsys, "tags", "coverage").out
    assert "95.2%" in human and "USD 42.00" in human
    why = run_cli(capsys, "tags", "explain", "i-4", "--json").json()
    assert why["decisions"][0]["detail"] == "account pay: 3 of 3 tagged resources say payments"
    human = run_cli(capsys, "tags", "explain", "i-2").out
    assert "tag owner=Payments-Team" in human
    cands = run_cli(capsys, "tags", "candidates", "--json").json()
    assert [c["resource_id"] for c in cands["candidates"]] == ["i-6"]
    assert Decimal(cands["unallocated"]) == Decimal(2)
    missing = run_cli(capsys, "tags", "explain", "nope")
    assert missing.code != 0 and "no cost rows for resource 'nope'" in missing.err


def test_export_csv_and_parquet(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alloc.csv"
    assert run_cli(capsys, "tags", "export", str(out), "--json").json()["rows"] == 6
    with out.open() as fh:
        rows = {r["resource_id"]: r for r in csv.DictReader(fh)}
    assert rows["i-4"]["value"] == "payments" and rows["i-4"]["provenance"] == "inferred"
    assert float(rows["i-4"]["confidence"]) == pytest.approx(0.75)
    assert rows["i-5"]["detail"] == "rule shared-account"
    parquet = tmp_path / "alloc.parquet"
    run_cli(capsys, "tags", "export", str(parquet))
    assert pq.read_table(parquet).num_rows == 6
    bad = run_cli(capsys, "tags", "export", str(out), "--format", "xlsx")
    assert bad.code != 0 and "invalid --format" in bad.err


def test_spend_by_vtag_refreshes_after_a_config_change(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = run_cli(capsys, "spend", "--by", "vtag:team", "--json").json()
    by = {r["dimensions"]["vtag:team"]: Decimal(r["cost"]) for r in doc["rows"]}
    assert by == {"payments": 36, "platform": 4, "unallocated": 2}
    (home / "finops.yaml").write_text(CONFIG.replace("value: platform", "value: web"))
    doc = run_cli(capsys, "spend", "--by", "vtag:team", "--json").json()
    assert {r["dimensions"]["vtag:team"] for r in doc["rows"]} == {"payments", "web", "unallocated"}
    bad = run_cli(capsys, "spend", "--by", "vtag:nope")
    assert bad.code != 0 and "virtual tag 'nope' is not defined" in bad.err


def test_accuracy_against_a_truth_csv(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("resource_id,sub_account_id,value\n,1,payments\ni-5,,platform\ni-6,,data\n")
    doc = run_cli(capsys, "tags", "accuracy", str(truth), "--json").json()
    assert doc["by_provenance"]["inferred"]["accuracy"] == "1.0000"
    assert doc["by_provenance"]["rule"]["accuracy"] == "1.0000"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,team\n")
    result = run_cli(capsys, "tags", "accuracy", str(bad))
    assert result.code != 0 and "needs columns value" in result.err


def test_no_virtual_tags_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "empty"))
    result = run_cli(capsys, "tags", "coverage")
    assert result.code != 0 and "no virtual tags are defined" in result.err


def test_real_cur_resource_tags_become_virtual_tags(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    """The workshop CUR's `resource_tags_user_department` columns drive a `department` tag."""
    ingest(con, shared_data / "aws-cur/Oct2018-WorkshopCUR-00001.snappy.parquet", fmt="aws-cur")
    config = config_of(
        {
            "department": {
                "sources": ["resource_tags_user_department"],
                "inference": {"enabled": False},
            },
            "environment": {"sources": ["resource_tags_user_environment"]},
        }
    )
    assert isinstance(config, Config)
    allocate(con, config)
    result = coverage(con, config)
    dept = next(c for c in result.tags if c.vtag == "department")
    tagged = con.execute(
        "SELECT sum(BilledCost) FROM costs WHERE json_extract_string(Tags, '$.department') <> ''"
    ).fetchone()
    assert tagged is not None and dept.by_provenance["tag"] == tagged[0]
    assert dept.values == 5  # CentralIT, Sales, Analytics, Marketing, Finance
    row = con.execute(
        "SELECT ResourceId FROM costs WHERE json_extract_string(Tags, '$.department') = 'Sales' "
        "AND ResourceId IS NOT NULL LIMIT 1"
    ).fetchone()
    assert row is not None
    value, provenance, detail, *_ = values_of(con, "department", row[0])[0]
    assert (value, provenance, detail) == ("sales", "tag", "tag department=Sales")
    env = next(c for c in result.tags if c.vtag == "environment")
    assert env.by_provenance["tag"] > 0 and env.total == dept.total
