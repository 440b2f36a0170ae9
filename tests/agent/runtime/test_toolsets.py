"""Tool families and per-call tool selection: every tool has one family, the router reads
general FinOps words, `load_tools` binds a family from the next call on, read-only runs still
bind read tools only (the guard in the chat nodes is unchanged)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from pydantic import Field

from agent.runtime.models import ModelHandle
from agent.runtime.runner import Runtime
from agent.runtime.toolsets import (
    CORE,
    FAMILIES,
    LOAD_TOOLS,
    family_of,
    load_tools_schema,
    parse_load,
    route,
    select_tools,
    unassigned,
)
from guardrails.budget import estimate_tokens
from tests.helpers.agent import Clock, ScriptedChatModel, call, make_runtime
from tools.catalog import registry
from tools.registry import ToolRegistry

WRITE_FAMILIES = {"actions", "kubernetes", "tickets", "allocation", "runaway"}
PENDING = {"spend_query", "vocab_lookup"}
"""Tools listed in a family before their module registers them (issue 17, being added)."""


class Recording(ScriptedChatModel):
    """A scripted model that also records the tool names bound on each call."""

    bound: list[list[str]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Recording:
        self.bound.append([t["function"]["name"] for t in tools])
        return self


def _read_only(reg: ToolRegistry) -> ToolRegistry:
    return ToolRegistry(tools={n: t for n, t in reg.tools.items() if t.effect == "read"})


def _bound(messages: list[AnyMessage], reg: ToolRegistry | None = None) -> set[str]:
    return set(select_tools(reg or registry(), messages).names)


def _family(name: str) -> set[str]:
    return {t for f in FAMILIES if f.name == name for t in f.tools if t in registry().tools}


# -- families ------------------------------------------------------------------------------


def test_every_registered_tool_belongs_to_exactly_one_family() -> None:
    counts = Counter(t for f in FAMILIES for t in f.tools)
    assert [t for t, n in counts.items() if n > 1] == []
    assert unassigned(registry()) == [], "add the new tool to a family in agent/runtime/toolsets"
    assert LOAD_TOOLS not in registry().tools


def test_every_listed_tool_is_registered_or_pending() -> None:
    listed = {t for f in FAMILIES for t in f.tools}
    assert listed - set(registry().tools) <= PENDING
    assert {"spend_query", "vocab_lookup"} <= _family_names("spend")
    assert listed >= CORE


def _family_names(name: str) -> set[str]:
    return {t for f in FAMILIES if f.name == name for t in f.tools}


def test_write_tools_sit_in_the_action_families() -> None:
    for spec in registry():
        if spec.effect == "write":
            assert family_of(spec.name) in WRITE_FAMILIES, spec.name


# -- the router ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "families"),
    [
        ("How much did we spend on storage in March?", set()),
        ("Why did compute cost go up last week?", {"reports"}),
        ("What is our cost per customer?", {"reports"}),
        ("Were there any cost anomalies yesterday?", {"detection"}),
        ("What will the month-end forecast be?", {"detection"}),
        ("Are we over budget?", {"detection"}),
        ("Is an AI agent stuck in a loop burning tokens?", {"runaway"}),
        ("Which VMs are idle?", {"optimization"}),
        ("Can we rightsize the database?", {"optimization"}),
        ("How much of our spend is untagged?", {"allocation"}),
        ("Who owns the analytics cluster?", {"allocation"}),
        ("Open a Jira ticket for the data team", {"tickets"}),
        ("Please stop the idle instance", {"actions", "optimization"}),
        ("Scale down the staging deployment", {"kubernetes"}),
        ("Is proposal p-1a2b approved yet?", {"proposals"}),
        ("hello", set()),
    ],
)
def test_router_reads_general_finops_words(question: str, families: set[str]) -> None:
    assert set(route(question)) == families


def test_router_does_not_take_a_project_for_a_projection() -> None:
    assert route("spend by project last month") == []
    assert route("since the start of the quarter") == []


# -- selection -----------------------------------------------------------------------------


def test_a_spend_question_binds_the_core_tools_only() -> None:
    names = _bound([HumanMessage("what did we spend on AWS last month by service?")])
    assert names == CORE & set(registry().tools)
    sel = select_tools(registry(), [HumanMessage("what did we spend last month?")])
    assert sel.families == ()
    assert sel.schemas()[-1]["function"]["name"] == LOAD_TOOLS


def test_without_spend_query_a_question_gets_the_spend_reports() -> None:
    offered = ToolRegistry(tools={n: t for n, t in registry().tools.items() if n != "spend_query"})
    assert _family("reports") <= _bound([HumanMessage("hello there")], offered)
    assert not _family("reports") & _bound([HumanMessage("any anomalies?")], offered)


def test_an_anomaly_question_binds_detection_only_beside_the_core() -> None:
    names = _bound([HumanMessage("any anomalies this week?")])
    assert names - CORE == _family("detection")


def test_a_load_tools_call_binds_its_family_for_the_rest_of_the_turn() -> None:
    turn: list[AnyMessage] = [
        HumanMessage("what did we spend last month?"),
        call(LOAD_TOOLS, {"families": ["optimization"]}),
        ToolMessage("{}", tool_call_id="call_1"),
    ]
    assert _family("optimization") <= _bound(turn)
    turn += [call("savings_report", {}, 2), ToolMessage("{}", tool_call_id="call_2")]
    assert _family("optimization") <= _bound(turn)


def test_a_called_tool_binds_its_family_and_a_follow_up_keeps_it() -> None:
    first: list[AnyMessage] = [
        HumanMessage("what did we spend last month?"),
        call("anomalies_list", {}),
        ToolMessage("{}", tool_call_id="call_1"),
    ]
    assert _family("detection") <= _bound(first)
    follow_up = [*first, AIMessage("There were two."), HumanMessage("and in October?")]
    assert _family("detection") <= _bound(follow_up)
    later = [*follow_up, AIMessage("None."), HumanMessage("thanks")]
    assert not _family("detection") & _bound(later)


def test_read_only_selection_never_binds_a_write_tool() -> None:
    offered = _read_only(registry())
    turn: list[AnyMessage] = [
        HumanMessage("stop the idle instances and open a ticket"),
        call(LOAD_TOOLS, {"families": ["actions", "kubernetes", "tickets", "allocation"]}),
        ToolMessage("{}", tool_call_id="call_1"),
    ]
    names = _bound(turn, offered)
    assert names and all(registry().tools[n].effect == "read" for n in names)
    meta = load_tools_schema(offered)["function"]
    enum = meta["parameters"]["properties"]["families"]["items"]["enum"]
    assert {"actions", "kubernetes", "tickets"}.isdisjoint(enum) and "detection" in enum


def test_load_tools_schema_lists_every_family_with_its_tools() -> None:
    fn = load_tools_schema(registry())["function"]
    enum = fn["parameters"]["properties"]["families"]["items"]["enum"]
    for family in FAMILIES:
        listed = f"- {family.name}: {family.description}" in fn["description"]
        assert listed == (family.name in enum) == bool(_family(family.name) - CORE)
    assert "spend" not in enum and "proposals" not in enum
    assert "anomalies_list" in fn["description"]
    assert parse_load({"families": ["detection", "detection"]}) == (["detection"], None)
    families, error = parse_load({"families": ["anomaly"]})
    assert families == [] and error and "known: spend, reports, allocation" in error
    assert parse_load({})[1]


def test_selection_shrinks_the_prompt() -> None:
    every = json.dumps(registry().schemas())
    chosen = json.dumps(select_tools(registry(), [HumanMessage("AWS spend last month")]).schemas())
    assert estimate_tokens([chosen]) < estimate_tokens([every]) / 2


# -- through the chat graph ----------------------------------------------------------------


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "home", Clock())
    yield runtime
    runtime.close()


def _recording(*replies: AIMessage) -> tuple[Recording, ModelHandle]:
    chat = Recording(responses=list(replies))
    return chat, ModelHandle("scripted", "script", chat)


def test_load_tools_through_the_graph_binds_the_next_call(rt: Runtime) -> None:
    chat, handle = _recording(call(LOAD_TOOLS, {"families": ["detection"]}), AIMessage("Loaded."))
    rt._models = [handle]
    result = rt.ask("what did we spend last month?")
    assert not _family("detection") & set(chat.bound[0])
    assert _family("detection") <= set(chat.bound[1])
    assert [(c.name, c.ok) for c in result.tool_calls] == [(LOAD_TOOLS, True)]
    reply = json.loads(str(next(m for m in chat.seen[1] if isinstance(m, ToolMessage)).content))
    assert reply["loaded"] == ["detection"] and "anomalies_list" in reply["tools"]
    audited = [e.payload for e in rt.audit.entries(kind="model_call")]
    assert audited[0]["families"] == [] and audited[1]["families"] == ["detection"]
    assert audited[1]["tools_bound"] > audited[0]["tools_bound"]


def test_an_unknown_family_is_an_error_the_model_can_read(rt: Runtime) -> None:
    chat, handle = _recording(call(LOAD_TOOLS, {"families": ["anomaly"]}), AIMessage("Sorry."))
    rt._models = [handle]
    result = rt.ask("any anomalies?")
    assert result.tool_calls[0].ok is False
    assert "unknown family 'anomaly'" in (result.tool_calls[0].error or "")
    assert chat.bound[0] == chat.bound[1]


def test_an_unbound_offered_tool_still_runs_and_binds_its_family(rt: Runtime) -> None:
    _, handle = _recording(call("proposal_status", {}), AIMessage("None pending."))
    rt._models = [handle]
    rt.ask("hello")
    chat2, handle2 = _recording(call("budget_status_report", {}), AIMessage("Done."))
    rt._models = [handle2]
    result = rt.ask("how much did we spend?")
    assert not _family("detection") & set(chat2.bound[0])
    assert result.tool_calls[0].name == "budget_status_report"
    assert "not bound" not in (result.tool_calls[0].error or "")
    assert _family("detection") <= set(chat2.bound[1])


def test_read_only_run_loads_no_write_tool_and_still_refuses_one(rt: Runtime) -> None:
    chat, handle = _recording(
        call(LOAD_TOOLS, {"families": ["actions", "tickets"]}),
        call("open_ticket", {"title": "t", "owner": "web"}, 2),
        AIMessage("Summary."),
    )
    rt._models = [handle]
    result = rt.ask("summarize the sweep", actor="sweep", read_only=True)
    writes = {t.name for t in registry() if t.effect == "write"}
    assert all(not writes & set(names) for names in chat.bound)
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        (LOAD_TOOLS, True),
        ("open_ticket", False),
    ]
    assert [e.payload["tool"] for e in rt.audit.entries(kind="tool_refused")] == ["open_ticket"]
    assert not rt.ledger.proposals()
