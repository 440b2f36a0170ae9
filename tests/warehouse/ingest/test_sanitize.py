"""Errors never echo raw input: control characters and terminal escape codes are escaped, long
values truncated, an arbitrary non-billing file's first line is not shown, and every failure of
`finops ingest` is one `error:` line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.helpers.cli import run_cli
from tests.helpers.warehouse import ingest, snapshot
from tests.warehouse.ingest.focus_builder import HEADER, focus_row, write_focus
from warehouse.errors import IngestError

ESC = "\x1b[31mred\x1b]0;pwned\x07\r\u202e"
SECRET = "root:x:0:0:root:/root:/bin/bash"


def _raises(con: duckdb.DuckDBPyConnection, path: Path, **kw: object) -> str:
    before = snapshot(con)
    with pytest.raises(IngestError) as caught:
        ingest(con, path, **kw)  # type: ignore[arg-type]
    assert snapshot(con) == before
    message = str(caught.value)
    assert message.isprintable(), repr(message)
    return message


def test_escape_codes_in_a_value_are_escaped(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    row = focus_row("AWS", "1", 1)
    row[HEADER.index("BillingCurrency")] = ESC
    message = _raises(con, write_focus(tmp_path / "esc.csv", [row]))
    assert "\\x1b[31mred" in message.lower() and "\\u202e" in message


def test_escape_codes_in_a_header_and_ragged_row_are_escaped(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        ",".join(HEADER) + "\n" + ",".join(focus_row("AWS", "1", 1)) + f",{ESC}extra\n",
        encoding="utf-8",
    )
    _raises(con, path)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(f"{ESC}a,{ESC}b,{ESC}c\n1,2,3\n", encoding="utf-8")
    assert "unreadable CSV header" in _raises(con, unknown)
    colours = tmp_path / "colours.csv"
    colours.write_text("\x1b[31ma,\x1b[32mb,\x1b[0mc\n1,2,3\n", encoding="utf-8")
    assert "cannot detect the billing format" in _raises(con, colours)


def test_long_values_are_truncated(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    row = focus_row("AWS", "1", 1)
    row[0] = "x" * 20_000
    message = _raises(con, write_focus(tmp_path / "long.csv", [row]))
    assert "cannot convert 'xxx" in message and "…" in message
    assert len(message) < 600


def test_symlink_to_a_non_billing_file_is_not_echoed(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    secret = tmp_path / "passwd"
    secret.write_text(f"{SECRET}\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n", encoding="utf-8")
    link = tmp_path / "bill.csv"
    link.symlink_to(secret)
    message = _raises(con, link)
    assert "cannot detect the billing format" in message
    assert "root:x" not in message and "/bin/bash" not in message
    assert "root:x" not in _raises(con, link, fmt="focus")


def test_every_cli_failure_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "home"))
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "passwd")
    (tmp_path / "passwd").write_text(SECRET + "\n", encoding="utf-8")
    esc_row = focus_row("AWS", "1", 1)
    esc_row[0] = ESC
    binary = tmp_path / "blob.parquet"
    binary.write_bytes(b"PAR1\x00\x01" + ESC.encode() + b"PAR1")
    bad_json = tmp_path / "page.json"
    bad_json.write_text('{"data": [' + ESC, encoding="utf-8")
    folder = tmp_path / f"dir{ESC}"
    folder.mkdir()
    cases = [
        [str(link)],
        [str(write_focus(tmp_path / "esc.csv", [esc_row]))],
        [str(binary)],
        [str(bad_json)],
        [str(bad_json), "--format", "openai"],
        [str(folder)],
        [str(tmp_path / f"missing{ESC}.csv")],
    ]
    for args in cases:
        result = run_cli(capsys, "ingest", *args)
        lines = result.err.strip().splitlines()
        assert result.code == 1, (args, result.err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.err)
        assert "\x1b" not in result.err and "\r" not in result.err, (args, result.err)
        assert "root:x" not in result.err
