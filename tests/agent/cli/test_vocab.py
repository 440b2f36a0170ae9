"""`finops vocab`: dimensions, one dimension's values, `--search`, the refresh line after an
ingest, errors, and a start-up that loads none of the agent's heavy dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.cli.test_startup import _heavy, _run
from tests.helpers.cli import run_cli
from tests.paths import SHARED_DATA

CUR = SHARED_DATA / "aws-cur/Oct2018-WorkshopCUR-00001.snappy.parquet"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vocab-home")


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    return home


def test_ingest_refreshes_the_catalog(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "ingest", str(CUR), "--format", "aws-cur")
    assert result.code == 0, result.err
    line = next(x for x in result.err.splitlines() if x.startswith("vocabulary refreshed:"))
    assert " values in " in line and " s" in line
    quiet = run_cli(capsys, "ingest", str(CUR), "--format", "aws-cur", "--json")
    assert quiet.code == 0 and "vocabulary" not in quiet.err and quiet.json()["rows"] == 119307


def test_dimensions_overview(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_cli(capsys, "vocab", "--json").json()
    assert doc["currency"] == "USD" and doc["months"] == ["2018-10-01"]
    dims = {d["dimension"]: d for d in doc["dimensions"]}
    assert dims["ServiceName"]["values"] == 16 and dims["ServiceName"]["top"] == "AWS Glue"
    assert "tag:department" in dims and "SubAccountName" not in dims
    human = run_cli(capsys, "vocab")
    assert human.code == 0
    assert "Vocabulary:" in human.out and "ServiceName" in human.out and "AWS Glue" in human.out


def test_one_dimensions_values(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_cli(capsys, "vocab", "servicename", "--limit", "3", "--json").json()
    assert doc["dimension"] == "ServiceName" and doc["values"] == 16
    assert [e["value"] for e in doc["entries"]] == [
        "AWS Glue",
        "Amazon Relational Database Service",
        "Amazon Elastic Compute Cloud",
    ]
    assert doc["entries"][0]["cost"].startswith("2389.32")
    human = run_cli(capsys, "vocab", "RegionId", "--limit", "2")
    assert "RegionId: top 2 of 17 values" in human.out
    assert "us-east-1" in human.out and "US East (N. Virginia)" in human.out


def test_search(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = run_cli(capsys, "vocab", "--search", "EC2", "--json").json()
    assert found["found"] and found["matches"][0]["value"] == "Amazon Elastic Compute Cloud"
    close = run_cli(capsys, "vocab", "--search", "Glu")
    assert "No value matches 'Glu'; closest:" in close.out and "AWS Glue" in close.out
    assert "USD 2,389.33" in close.out
    nothing = run_cli(capsys, "vocab", "--search", "zzzqqq")
    assert "none is close" in nothing.out
    scoped = run_cli(capsys, "vocab", "tag:department", "--search", "sales", "--json").json()
    assert [(m["dimension"], m["value"]) for m in scoped["matches"]] == [
        ("tag:department", "Sales")
    ]


def test_refresh_and_errors(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refreshed = run_cli(capsys, "vocab", "--refresh", "ProviderName")
    assert refreshed.code == 0 and refreshed.err.startswith("vocabulary refreshed:")
    bad = run_cli(capsys, "vocab", "Nope")
    assert bad.code == 1 and bad.err.startswith("error: the catalog has no dimension 'Nope'")
    assert len(bad.err.strip().splitlines()) == 1


def test_an_empty_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "empty"))
    doc = run_cli(capsys, "vocab", "--json").json()
    assert doc["dimensions"] == [] and doc["first_day"] is None


def test_vocab_starts_without_heavy_dependencies(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    lines = (SHARED_DATA / "focus" / "focus_sample_1000.csv").read_text().splitlines()
    (home / "tiny.csv").write_text("\n".join(lines[:11]) + "\n")
    code, _modules, output = _run(home, "ingest", "tiny.csv")
    assert code == 0, output
    for argv in (("vocab",), ("vocab", "--search", "Glu"), ("vocab", "ServiceName")):
        code, modules, output = _run(home, *argv)
        assert code == 0, output
        assert not _heavy(modules), f"finops {' '.join(argv)} imported {_heavy(modules)[:10]}"
