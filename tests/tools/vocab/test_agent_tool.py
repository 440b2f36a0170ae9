"""`vocab_lookup`, the read tool models call before filtering on a name: its schema, and its
answers through the guarded invocation path on the agent's read-only warehouse."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.agent import Clock, make_runtime
from tests.helpers.warehouse import ingest
from tools.catalog import registry
from tools.invoke import invoke_tool
from warehouse.db import connect

from .conftest import CUR


def test_the_tool_is_registered_as_a_read_tool_with_its_schema() -> None:
    tool = registry().get("vocab_lookup")
    assert tool.effect == "read" and tool.reversible and tool.permissions == ("warehouse:read",)
    params = tool.schema()["function"]["parameters"]
    assert set(params["properties"]) == {"phrase", "dimension", "limit"}
    assert params["required"] == ["phrase"]
    assert "Example" in tool.description and "closest" in tool.description
    tool.args.model_validate(tool.example)


def test_lookups_on_the_agents_read_only_warehouse(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "home", Clock())
    con = connect(rt.app.warehouse_path)
    ingest(con, CUR, fmt="aws-cur")
    con.close()
    ctx = rt.tool_context("agent", None)

    out = invoke_tool(registry(), ctx, "vocab_lookup", {"phrase": "EC2"})
    assert out.ok, out.error
    data = out.content["data"]
    hit = data["matches"][0]
    assert data["found"] and data["closest"] == []
    assert (hit["dimension"], hit["value"], hit["how"]) == (
        "ServiceName",
        "Amazon Elastic Compute Cloud",
        "alias",
    )
    assert hit["filter"] == "ServiceName=Amazon Elastic Compute Cloud"
    assert (hit["first_day"], hit["last_day"]) == ("2018-10-01", "2018-10-31")

    out = invoke_tool(registry(), ctx, "vocab_lookup", {"phrase": "Glu", "limit": 1})
    data = out.content["data"]
    assert not data["found"] and data["matches"] == []
    assert [(c["value"], c["how"]) for c in data["closest"]] == [("AWS Glue", "fuzzy")]
    assert data["closest"][0]["cost"].startswith("2389.3")

    out = invoke_tool(
        registry(), ctx, "vocab_lookup", {"phrase": "us-east-1", "dimension": "RegionId"}
    )
    data = out.content["data"]
    assert [m["dimension"] for m in data["matches"]] == ["RegionId"]

    out = invoke_tool(registry(), ctx, "vocab_lookup", {"phrase": "x", "dimension": "Nope"})
    assert not out.ok and out.error and "no dimension 'Nope'" in out.error
    out = invoke_tool(registry(), ctx, "vocab_lookup", {"phrase": ""})
    assert not out.ok and out.error and "invalid arguments" in out.error
    rt.close()
