"""Which tools a model call binds: tool families, a keyword router and the `load_tools` meta-tool.

Binding every registered tool (31) costs about 16k prompt tokens (the self-budget's estimate) on
every model call and rules out small-context self-hosted models. So the tools are grouped in
families and one model call binds:

- the core tools (`CORE`: the structured spend query, the vocabulary lookup, proposal status),
- the families a cheap keyword router finds in the human's last message (general FinOps words:
  anomaly, forecast, budget, idle, rightsize, tag, allocation, ticket, stop, approve, ...);
  a plain spend question needs none (`spend_query` is a core tool),
- the families of the tools the previous turn of the thread used (follow-ups keep their tools),
- every family loaded earlier in this run: named in a `load_tools` call, or the family of any
  tool the model called (so a tool, once called, stays bound for the rest of the turn),
- `load_tools` itself, whose schema lists every family with a one-line description.

This is a prompt-size choice, not a permission: what a run may call is still the chat nodes'
`_offered()` registry (a read-only run offers read tools only, and refuses and audits the rest).
A registered tool that belongs to no family is always bound, so nothing is ever hidden by
omission; a test keeps every tool in exactly one family. The offline planner ignores
`bind_tools` and is unaffected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from pydantic import BaseModel, Field, ValidationError, field_validator

from tools.registry import ToolRegistry, ToolSpec

__all__ = [
    "CORE",
    "DEFAULT_FAMILY",
    "FAMILIES",
    "LOAD_TOOLS",
    "Family",
    "LoadToolsArgs",
    "Selection",
    "family_of",
    "load_tools_schema",
    "parse_load",
    "route",
    "select_tools",
    "unassigned",
]

LOAD_TOOLS = "load_tools"


@dataclass(frozen=True)
class Family:
    """A group of tools bound together; `words` is the router's pattern over a question."""

    name: str
    description: str
    tools: tuple[str, ...]
    words: re.Pattern[str]


def _words(*alternatives: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any `|`-separated stem at a word start."""
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


FAMILIES: tuple[Family, ...] = (
    Family(
        "spend",
        "the structured spend query and value lookup (core: always bound)",
        ("spend_query", "vocab_lookup"),
        _words(r"spend_query|vocab"),
    ),
    Family(
        "reports",
        "more spend reports: breakdowns, top movers, unit cost, unit economics, read-only SQL",
        (
            "spend_breakdown",
            "spend_movers",
            "unit_cost_report",
            "unit_economics_report",
            "query_sql",
        ),
        _words(
            r"sql|quer(?:y|ies)\b|mover|driv|why did|unit econ|business unit|per (?:customer|user)",
            r"per (?:request|order|transaction|active)|spend_breakdown|spend_movers|unit_cost",
        ),
    ),
    Family(
        "allocation",
        "who owns spend: tag coverage, explanations, candidates, tag fixes",
        (
            "tags_coverage",
            "tags_explain",
            "tags_candidates",
            "add_tag_rule",
            "tag_resources",
            "rollback_tag_resources",
        ),
        _words(
            r"tag|label|allocat|unallocat|owner|own(?:s|ed)\b|untagged|coverage|cost cent",
            r"showback|chargeback|attribut",
        ),
    ),
    Family(
        "detection",
        "anomalies, forecasts, budget status",
        ("anomalies_list", "spend_forecast", "budget_status_report"),
        _words(
            r"anomal|spike|unusual|unexpected|surge|jump|alert|forecast|predict|run.?rate",
            r"project(?:ed|ion)|(?:month|quarter|year).end|end of (?:the )?(?:month|quarter|year)",
            r"budget|overrun",
        ),
    ),
    Family(
        "runaway",
        "runaway AI agents; proposing to disable an API key",
        ("runaway_flags", "disable_api_key"),
        _words(r"runaway|agent|api.?key|loop|burn"),
    ),
    Family(
        "optimization",
        "idle and oversized resources, commitments, realized savings",
        ("optimization_findings", "savings_report"),
        _words(
            r"idle|unused|orphan|waste|right.?siz|oversiz|undersiz|underutil|utili[sz]",
            r"sav(?:e|ing)|optimi|commitment|reserv|recommend|reduce|cut\b|cheaper|finding",
        ),
    ),
    Family(
        "actions",
        "propose EC2, RDS and EBS changes, or rolling back an executed action",
        (
            "stop_ec2_instances",
            "start_ec2_instances",
            "resize_ec2_instance",
            "stop_rds_instance",
            "start_rds_instance",
            "delete_ebs_volume",
            "rollback_action",
        ),
        _words(
            r"stop|shut|turn (?:it |them )?off|resiz|downsiz|delete|terminate|kill|roll.?back",
            r"undo|act on|start (?:the|it|them|instance|server|vm|db|database|rds|ec2)\b",
        ),
    ),
    Family(
        "kubernetes",
        "propose Kubernetes scaling and container request changes",
        ("scale_deployment_to_zero", "scale_deployment_back", "patch_container_requests"),
        _words(r"kubernetes|k8s|deployment|replica|pods?\b|container|namespace|scale"),
    ),
    Family(
        "tickets",
        "propose a ticket for an owner",
        ("open_ticket",),
        _words(r"ticket|jira|issue|escalat|assign|notify"),
    ),
    Family(
        "proposals",
        "proposals and their approval state (core: always bound)",
        ("proposal_status",),
        _words(r"propos|approv|reject|pending|p-[0-9a-f]"),
    ),
)
"""Every tool family, in binding order."""

CORE: frozenset[str] = frozenset({"spend_query", "vocab_lookup", "proposal_status"})
"""Tools bound on every call (when registered and offered)."""

DEFAULT_FAMILY = "reports"
"""Bound when nothing else is and the structured `spend_query` is not offered (so a spend
question always has a spend tool)."""

_BY_NAME = {f.name: f for f in FAMILIES}
_FAMILY_OF = {tool: f.name for f in FAMILIES for tool in f.tools}


def family_of(tool: str) -> str | None:
    """The family a tool belongs to, or None."""
    return _FAMILY_OF.get(tool)


def unassigned(registry: ToolRegistry) -> list[str]:
    """Registered tools that belong to no family (always bound; a test keeps this empty)."""
    return sorted(name for name in registry.tools if name not in _FAMILY_OF)


def route(question: str) -> list[str]:
    """The families whose words occur in a question, in binding order."""
    return [f.name for f in FAMILIES if f.words.search(question)]


class LoadToolsArgs(BaseModel):
    families: list[str] = Field(
        min_length=1, description="Family names to bind from the next step on."
    )

    @field_validator("families")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in _BY_NAME]
        if unknown:
            raise ValueError(f"unknown family {unknown[0]!r}; known: {', '.join(_BY_NAME)}")
        return list(dict.fromkeys(value))


def load_tools_schema(offered: ToolRegistry) -> dict[str, Any]:
    """The meta-tool's schema (OpenAI function format): the families that have offered tools
    beyond the core ones, each with a one-line description and its tools."""
    lines = []
    names = []
    for family in FAMILIES:
        tools = [t for t in family.tools if t in offered.tools]
        if set(tools) - CORE:
            names.append(family.name)
            lines.append(f"- {family.name}: {family.description} ({', '.join(tools)})")
    description = (
        "Bind more tools from your next step on, when the question needs a tool you do not "
        "have. Write tools only propose; a human approves. Families:\n"
        + "\n".join(lines)
        + '\nExample: {"families": ["detection"]}'
    )
    params = {
        "type": "object",
        "properties": {
            "families": {
                "type": "array",
                "items": {"type": "string", "enum": names},
                "minItems": 1,
                "description": "Family names to bind from the next step on.",
            }
        },
        "required": ["families"],
    }
    return {
        "type": "function",
        "function": {"name": LOAD_TOOLS, "description": description, "parameters": params},
    }


def parse_load(args: dict[str, Any]) -> tuple[list[str], str | None]:
    """The families a `load_tools` call names, or an error message for the model."""
    try:
        return LoadToolsArgs.model_validate(args).families, None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        return [], f"invalid arguments: {loc}: {err['msg']}"


def _turns(messages: Sequence[AnyMessage]) -> tuple[list[AnyMessage], list[AnyMessage], str]:
    """(previous turn's messages, this turn's messages, this turn's question)."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not starts:
        return [], list(messages), ""
    last = starts[-1]
    prev = starts[-2] if len(starts) > 1 else last
    question = messages[last].content
    text = question if isinstance(question, str) else str(question)
    return list(messages[prev:last]), list(messages[last:]), text


def _called(messages: Iterable[AnyMessage]) -> set[str]:
    """Families the model asked for in these messages: loaded by name or used by a call."""
    out: set[str] = set()
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            if call["name"] == LOAD_TOOLS:
                out.update(parse_load(call["args"])[0])
            elif (family := family_of(call["name"])) is not None:
                out.add(family)
    return out


@dataclass(frozen=True)
class Selection:
    """What one model call binds: families, their offered tools, and `load_tools`."""

    families: tuple[str, ...]
    tools: tuple[ToolSpec, ...]
    meta: dict[str, Any]

    def schemas(self) -> list[dict[str, Any]]:
        return [*(t.schema() for t in self.tools), self.meta]

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]


def select_tools(offered: ToolRegistry, messages: Sequence[AnyMessage]) -> Selection:
    """The tools the next model call binds, from the conversation so far (see module doc)."""
    previous, current, question = _turns(messages)
    wanted = set(route(question)) | _called(previous) | _called(current)
    if not wanted and "spend_query" not in offered.tools:
        wanted.add(DEFAULT_FAMILY)
    families = tuple(f.name for f in FAMILIES if f.name in wanted)
    tools = tuple(
        spec
        for spec in offered
        if spec.name in CORE or family_of(spec.name) in wanted or family_of(spec.name) is None
    )
    return Selection(families=families, tools=tools, meta=load_tools_schema(offered))
