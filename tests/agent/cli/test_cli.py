"""The `finops` CLI: JSON contract, one-line errors, config, and s3:// ingest via moto."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.helpers.cli import run_cli

SAMPLE = "focus/focus_sample_1000.csv"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("FINOPS_HOME", str(path))
    return path


def test_ingest_then_spend_json(
    home: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "ingest", str(shared_data / SAMPLE), "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["rows"] == 1000
    assert (home / "warehouse.duckdb").exists()
    spent = run_cli(capsys, "spend", "--by", "ProviderName", "--json")
    assert spent.code == 0
    doc = spent.json()
    assert doc["currency"] == "USD" and doc["by"] == ["ProviderName"]
    assert Decimal(doc["total"]) == Decimal("20.52022672899")
    assert {r["dimensions"]["ProviderName"] for r in doc["rows"]} == {"AWS", "Microsoft", "Oracle"}


def test_human_output_shows_currency_period_and_scope(
    home: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(capsys, "ingest", str(shared_data / SAMPLE))
    out = run_cli(
        capsys, "spend", "--by", "ServiceName", "--top", "2", "--filter", "ProviderName=AWS"
    ).out
    assert "2024-09-01 to 2024-09-30" in out
    assert "ProviderName=AWS" in out
    assert "USD" in out and "(other)" in out and "total" in out


def test_compare_and_unit_cost_json(
    home: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(capsys, "ingest", str(shared_data / SAMPLE))
    movers = run_cli(
        capsys,
        "spend",
        "--compare",
        "--by",
        "ServiceName",
        "--since",
        "2024-09-16",
        "--until",
        "2024-09-30",
        "--json",
    ).json()
    assert movers["previous_since"] == "2024-09-01"
    unit = run_cli(capsys, "spend", "--unit", "Requests", "--per", "1000000", "--json").json()
    assert unit["unit"] == "Requests" and unit["per"] == 1000000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["spend", "--by", "nope"], "unknown dimension 'nope'"),
        (["spend", "--since", "2024-13-01"], "invalid --since"),
        (["spend", "--since", "2024-09-10", "--until", "2024-09-01"], "is before"),
        (["spend", "--grain", "hour"], "invalid --grain"),
        (["spend", "--metric", "amortized"], "invalid --metric"),
        (["spend", "--filter", "oops"], "invalid filter"),
        (["ingest"], "nothing to ingest"),
        (["ingest", "/no/such/file.csv"], "no such file"),
        (["ingest", "x.csv", "--format", "xls"], "unknown format 'xls'"),
    ],
)
def test_errors_are_one_line_and_non_zero(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    result = run_cli(capsys, *args)
    assert result.code == 1
    assert result.out == ""
    assert message in result.err
    assert result.err.startswith("error: ")


def test_invalid_config_fails_before_anything(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir(parents=True)
    (home / "finops.yaml").write_text("fx_ratez: {}\n")
    result = run_cli(capsys, "spend")
    assert result.code == 1 and "unknown key 'fx_ratez'" in result.err


def test_config_option_overrides_home_config(
    home: Path, tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "alt.yaml"
    cfg.write_text("reporting_currency: USD\nfx_rates: {EUR: 1.1}\n")
    result = run_cli(capsys, "--config", str(cfg), "ingest", str(shared_data / SAMPLE), "--json")
    assert result.code == 0


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto in server mode on 127.0.0.1; boto3 reaches it through AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield endpoint
    server.stop()


def test_ingest_from_s3_prefix(
    home: Path, shared_data: Path, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="billing")
    body = (shared_data / SAMPLE).read_bytes()
    s3.put_object(Bucket="billing", Key="focus/2024-09/part-0.csv", Body=body)
    s3.put_object(Bucket="billing", Key="focus/2024-09/manifest.json", Body=b"{}")
    s3.put_object(Bucket="billing", Key="other/ignored.csv", Body=b"a,b\n")
    result = run_cli(capsys, "ingest", "s3://billing/focus/", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["rows"] == 1000
    assert report["files"][0]["file"] == "s3://billing/focus/2024-09/part-0.csv"
    empty = run_cli(capsys, "ingest", "s3://billing/nothing-here/")
    assert empty.code == 1 and "no .csv, .parquet or .json objects" in empty.err
