"""The tool registry is complete: every tool declares what the guardrails and the model need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.helpers.agent import Clock, make_runtime
from tools.catalog import registry
from tools.invoke import invoke_tool
from tools.registry import ToolRegistry

READ_TOOLS = {
    "spend_breakdown",
    "spend_movers",
    "unit_cost_report",
    "query_sql",
    "proposal_status",
    "vocab_lookup",
}


class NoArgs(BaseModel):
    x: int = 1


def test_registry_lists_the_issue_tools() -> None:
    names = {t.name for t in registry()}
    assert READ_TOOLS | {"open_ticket"} <= names


@pytest.mark.parametrize("name", sorted(registry().tools))
def test_every_tool_declares_effect_args_docs_and_permissions(name: str) -> None:
    tool = registry().get(name)
    assert tool.effect in ("read", "write")
    assert isinstance(tool.reversible, bool)
    assert tool.permissions and all(":" in p for p in tool.permissions)
    assert issubclass(tool.args, BaseModel)
    assert len(tool.description) > 80 and "Example" in tool.description
    tool.args.model_validate(tool.example)
    schema = tool.schema()
    assert schema["function"]["name"] == name
    json.dumps(schema)
    for field in tool.args.model_fields.values():
        assert field.annotation is not None


@pytest.mark.parametrize("name", sorted(t.name for t in registry() if t.effect == "write"))
def test_every_write_tool_has_an_action_with_permissions(name: str) -> None:
    action = registry().actions[name]
    assert action.permissions


def test_read_tools_are_read() -> None:
    for name in READ_TOOLS:
        assert registry().get(name).effect == "read"
    assert registry().get("open_ticket").effect == "write"


def test_a_write_tool_that_does_not_return_a_proposal_is_a_bug(tmp_path: Path) -> None:
    reg = ToolRegistry()

    @reg.tool(effect="write", reversible=False, permissions=("x:y",), example={})
    def sneaky(ctx: object, args: NoArgs) -> dict[str, str]:
        """Pretends to be a write tool but acts directly. Example: {}."""
        return {"done": "yes"}

    rt = make_runtime(tmp_path / "h", Clock())
    with pytest.raises(TypeError, match="ProposalDraft"):
        invoke_tool(reg, rt.tool_context("t", None), "sneaky", {})
    rt.close()


def test_bad_arguments_go_back_to_the_model_as_an_error(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "h", Clock())
    ctx = rt.tool_context("t", None)
    out = invoke_tool(registry(), ctx, "spend_breakdown", {"top": 0, "grain": "hourly"})
    assert not out.ok and out.error and "invalid arguments" in out.error
    out = invoke_tool(registry(), ctx, "spend_breakdown", {"filters": ["nonsense"]})
    assert not out.ok and out.error
    out = invoke_tool(registry(), ctx, "drop_everything", {})
    assert not out.ok and "unknown tool" in (out.error or "")
    assert rt.ledger.proposals() == []
    rt.close()


def test_registering_twice_fails() -> None:
    reg = ToolRegistry()

    def tool(ctx: object, args: NoArgs) -> None:
        """Example: {}."""

    reg.tool(effect="read", reversible=True, permissions=("a:b",), example={})(tool)
    with pytest.raises(ValueError, match="twice"):
        reg.tool(effect="read", reversible=True, permissions=("a:b",), example={})(tool)
