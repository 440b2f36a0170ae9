"""One usage event: OpenTelemetry GenAI attributes plus the ids that own the spend.

A line is either flat (`{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1200,
"agent.id": "triage", ...}`) or OTLP-style (`{"attributes": {...}, "timeUnixNano": "..."}`,
where `attributes` is a plain object or OTLP's list of `{"key", "value": {"intValue": ...}}`).

Token counts follow the GenAI semantic conventions: `gen_ai.usage.input_tokens` *includes* the
cache reads (`gen_ai.usage.cache_read.input_tokens`) and cache writes
(`gen_ai.usage.cache_creation.input_tokens`), so the uncached input is the difference. Counts must
be whole, non-negative JSON integers (OTLP's string `intValue` is converted first). Unknown
`gen_ai.usage.*` attributes are refused (a typo there would silently drop spend); other unknown
attributes are ignored, since real spans carry many.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "KNOWN_USAGE",
    "LineProblem",
    "UsageEvent",
    "event_attributes",
    "precheck_attributes",
    "validation_problems",
]

Tokens = Annotated[int, Field(ge=0, le=10**12, strict=True)]
Ident = Annotated[str, Field(min_length=1, max_length=256)]

KNOWN_USAGE = frozenset(
    {
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.total_tokens",
        "gen_ai.usage.reasoning.output_tokens",
    }
)
"""`gen_ai.usage.*` attributes understood (the last two are informational, not priced)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = timedelta(0)
_TIME_KEYS = ("time_unix_nano", "timeUnixNano", "endTimeUnixNano")


class LineProblem(BaseModel):
    """Why one line of a batch was refused."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field + ': ' if self.field else ''}{self.message}"


class UsageEvent(BaseModel):
    """One model call's usage, attributed to an agent (and optionally a team, task and key)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: Ident = Field(validation_alias="gen_ai.request.model")
    provider: Ident = Field(
        validation_alias=AliasChoices("gen_ai.provider.name", "gen_ai.system"),
    )
    input_tokens: Tokens = Field(
        validation_alias=AliasChoices("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    )
    output_tokens: Tokens = Field(
        default=0,
        validation_alias=AliasChoices(
            "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
        ),
    )
    cache_read_tokens: Tokens = Field(
        default=0, validation_alias="gen_ai.usage.cache_read.input_tokens"
    )
    cache_write_tokens: Tokens = Field(
        default=0, validation_alias="gen_ai.usage.cache_creation.input_tokens"
    )
    agent_id: Ident = Field(validation_alias=AliasChoices("agent.id", "gen_ai.agent.id"))
    team: Ident | None = Field(default=None, validation_alias="team")
    task_id: Ident | None = Field(default=None, validation_alias="task.id")
    api_key_id: Ident | None = Field(default=None, validation_alias="api_key.id")
    project_id: Ident | None = Field(default=None, validation_alias="project.id")
    event_id: Ident | None = Field(default=None, validation_alias="event.id")
    timestamp: AwareDatetime | None = Field(default=None, validation_alias="timestamp")
    time_unix_nano: Annotated[int, Field(ge=0, strict=True)] | None = Field(
        default=None, validation_alias="time_unix_nano"
    )

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("expected an RFC 3339 string with a time zone")
        return value

    @field_validator("provider")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    def event_time(self, received: datetime) -> datetime:
        """When the call happened (UTC), or `received` when the event carries no time."""
        if self.timestamp is not None:
            stamp = self.timestamp
            return stamp if stamp.utcoffset() == _ZERO else stamp.astimezone(UTC)
        if self.time_unix_nano is not None:
            return _EPOCH + timedelta(microseconds=self.time_unix_nano // 1000)
        return received


def _any_value(value: Any) -> Any:
    """An OTLP AnyValue as a plain value (`intValue` is a string in OTLP JSON)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    kind, inner = next(iter(value.items()))
    if kind == "intValue" and isinstance(inner, str) and inner.lstrip("-").isdigit():
        return int(inner)
    if kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
        return inner
    return value


def _otlp_attributes(raw: Any) -> dict[str, Any] | str:
    if isinstance(raw, Mapping):
        return {str(k): _any_value(v) for k, v in raw.items()}
    if not isinstance(raw, list):
        return "`attributes` must be an object or a list of {key, value}"
    out: dict[str, Any] = {}
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            return "`attributes` list items must be {key, value} objects"
        out[item["key"]] = _any_value(item.get("value"))
    return out


def _time_nano(line: Mapping[str, Any]) -> Any:
    for key in _TIME_KEYS:
        value = line.get(key)
        if value is not None:
            return int(value) if isinstance(value, str) and value.isdigit() else value
    return None


def event_attributes(line: Any) -> dict[str, Any] | str:
    """The attribute mapping of one parsed JSON line, or a message saying why there is none."""
    if not isinstance(line, Mapping):
        return f"expected a JSON object, got {type(line).__name__}"
    if "attributes" in line:
        attrs = _otlp_attributes(line["attributes"])
        if isinstance(attrs, str):
            return attrs
        if "timestamp" in line and "timestamp" not in attrs:
            attrs["timestamp"] = line["timestamp"]
    else:
        attrs = dict(line)
    nano = _time_nano(line) if "time_unix_nano" not in attrs else attrs["time_unix_nano"]
    if nano is not None:
        attrs["time_unix_nano"] = nano
    return attrs


def _pairs_agree(attrs: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]) -> str | None:
    for first, second in pairs:
        if first in attrs and second in attrs and attrs[first] != attrs[second]:
            return f"{first} and {second} disagree ({attrs[first]!r} vs {attrs[second]!r})"
    return None


_SYNONYMS = (
    ("gen_ai.provider.name", "gen_ai.system"),
    ("agent.id", "gen_ai.agent.id"),
    ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
)


def precheck_attributes(attrs: Mapping[str, Any], n: int) -> list[LineProblem]:
    """Problems pydantic cannot see: unknown usage attributes and disagreeing synonyms."""
    problems = [
        LineProblem(
            line=n,
            field=key,
            message="unknown usage attribute; known: " + ", ".join(sorted(KNOWN_USAGE)),
        )
        for key in attrs.keys() - KNOWN_USAGE
        if key.startswith("gen_ai.usage.")
    ]
    clash = _pairs_agree(attrs, _SYNONYMS)
    if clash:
        problems.append(LineProblem(line=n, field=None, message=clash))
    return problems


_MISSING = {
    "gen_ai.provider.name": "gen_ai.provider.name (or gen_ai.system)",
    "agent.id": "agent.id (or gen_ai.agent.id)",
}


def validation_problems(errors: list[Any], n: int) -> list[LineProblem]:
    """pydantic errors as line problems naming the attribute as the sender wrote it."""
    problems = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        field = loc[0] if loc else None
        if e.get("type") == "missing":
            field = _MISSING.get(field or "", field)
            problems.append(LineProblem(line=n, field=field, message="required"))
            continue
        message = str(e.get("msg", "invalid"))
        if "input" in e:
            message += f" (got {e['input']!r})"
        problems.append(LineProblem(line=n, field=field, message=message))
    return problems
