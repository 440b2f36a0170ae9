"""Property-based fuzzing of ingest: arbitrary malformed CSV, JSON, parquet-named and gzip bytes
either ingest correctly or fail with one sanitized `IngestError` line, and a failure leaves the
warehouse exactly as it was (one transaction per ingest)."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import Config
from tests.helpers.warehouse import ingest, snapshot
from tests.warehouse.ingest.focus_builder import HEADER, focus_row
from warehouse.db import connect
from warehouse.errors import IngestError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_names = itertools.count()

cells = st.one_of(
    st.sampled_from(
        ["", "NULL", "1.5", "-0", "NaN", "inf", "1e400", "6" * 30, "USD", "EUR", "XXX", "usd"]
    ),
    st.sampled_from(["2024-09-01", "2024-09-01T00:00:00Z", "2024-13-45", "yesterday"]),
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    folder = tmp_path_factory.mktemp("fuzz")
    con = connect(folder / "warehouse.duckdb")
    seed = folder / "seed.csv"
    with seed.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, focus_row("AWS", "seed", 1)])
    ingest(con, seed, source="seed")
    yield con
    con.close()


def _check(con: duckdb.DuckDBPyConnection, path: Path, fmt: str = "auto") -> None:
    before = snapshot(con)
    try:
        report = ingest(con, path, fmt=fmt, config=Config(fx_rates={"EUR": Decimal("1.1")}))
    except IngestError as exc:
        message = str(exc)
        assert message.isprintable() and len(message) < 1200, repr(message)
        assert snapshot(con) == before
        return
    assert report.rows >= 0
    total = con.execute("SELECT count(*), sum(BilledCost) FROM costs").fetchone()
    assert total is not None and total[0] >= 1
    rows = con.execute("SELECT count(*) FROM costs WHERE x_IngestId = ?", [report.ingest_id])
    assert rows.fetchone() == (report.rows,)


def _file(tmp: Path, suffix: str, data: bytes) -> Path:
    path = tmp / f"f{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=len(HEADER) + 2), max_size=4),
    drop=st.sets(st.sampled_from(HEADER), max_size=2),
    gz=st.booleans(),
)
def test_malformed_focus_csv(
    warehouse: duckdb.DuckDBPyConnection,
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    drop: set[str],
    gz: bool,
) -> None:
    header = [h for h in HEADER if h not in drop]
    good = [focus_row("AWS", "fuzz", 2)[: len(header)]]
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *good, *rows])
    data = buf.getvalue().encode("utf-8", "surrogatepass")
    tmp = tmp_path_factory.mktemp("csv")
    suffix = ".csv.gz" if gz else ".csv"
    _check(warehouse, _file(tmp, suffix, gzip.compress(data) if gz else data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@FUZZ
@given(
    doc=st.fixed_dictionaries(
        {"object": st.sampled_from(["page", "list", "bucket"]), "data": json_values}
    )
    | json_values,
    fmt=st.sampled_from(["auto", "openai", "anthropic", "opencost"]),
    cut=st.integers(min_value=0, max_value=40),
)
def test_malformed_json(
    warehouse: duckdb.DuckDBPyConnection,
    tmp_path_factory: pytest.TempPathFactory,
    doc: object,
    fmt: str,
    cut: int,
) -> None:
    import json

    text = json.dumps(doc)
    data = text[: len(text) - cut] if cut else text
    _check(warehouse, _file(tmp_path_factory.mktemp("json"), ".json", data.encode()), fmt)


@FUZZ
@given(
    data=st.binary(max_size=300),
    suffix=st.sampled_from([".csv", ".csv.gz", ".parquet", ".json", ".gz"]),
    prefix=st.sampled_from([b"", b"\x1f\x8b", b"PAR1", b",".join(h.encode() for h in HEADER)]),
)
def test_arbitrary_bytes(
    warehouse: duckdb.DuckDBPyConnection,
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
    suffix: str,
    prefix: bytes,
) -> None:
    _check(warehouse, _file(tmp_path_factory.mktemp("bin"), suffix, prefix + data))
