"""`query_sql`, the agent's SQL tool, runs within the configured `sql:` limits (issue 18, 6)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.config import Config
from guardrails.sqlguard import SqlLimits, open_readonly
from tests.helpers.anomalies import make_ctx
from tests.helpers.warehouse import ingest
from tools.spend.agent_tools import SqlArgs, query_sql
from warehouse.db import connect
from warehouse.errors import QueryError


def test_query_sql_enforces_the_configured_limits(tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    con = connect(path)
    ingest(con, shared_data / "focus/focus_sample_1000.csv")
    con.close()
    ro = open_readonly(path)
    limits = SqlLimits(timeout_seconds=1.5, memory_limit_mb=64, max_result_bytes=5_000)
    ctx = make_ctx(ro, tmp_path, Config(sql=limits))
    try:
        started = time.perf_counter()
        with pytest.raises(QueryError, match=r"exceeded the (64 MB memory|1\.5 s time) limit"):
            query_sql(ctx, SqlArgs(sql="SELECT list_sum(range(200000000)) AS s"))
        with pytest.raises(QueryError, match=r"exceeded the 1\.5 s time limit"):
            query_sql(ctx, SqlArgs(sql="SELECT count(*) FROM costs a, costs b, costs c, costs d"))
        assert time.perf_counter() - started < 5.0
        big = query_sql(ctx, SqlArgs(sql="SELECT repeat('x', 1000) AS pad FROM costs"))
        assert big["truncated"] and big["row_count"] < 5
        assert "5000-byte result cap" in big["note"]
        ok = query_sql(ctx, SqlArgs(sql="SELECT count(*) AS n FROM costs"))
        assert ok["rows"] == [[1000]] and ok["note"] is None
    finally:
        ro.close()
        ctx.store.close()
