"""Virtual tag definitions: the `virtual_tags:` section of `finops.yaml`, validated strictly.

A virtual tag (e.g. `team`) gives every cost row one value, decided in this order:

1. shared-cost rules (`shared:`): spend matching a filter is split across values (evenly, in fixed
   ratios, or in proportion to each value's own spend in the same month); with
   `only_unallocated: true` a shared rule takes only what steps 2-4 leave unallocated;
2. sources (`sources:`): existing tag / label keys, read in order, values normalized (case,
   separators) and mapped through `aliases`; values outside `allowed_values` are ignored;
3. rules (`rules:`): ordered conditions on FOCUS columns, tags, or a regex over the resource name
   or id; first match wins;
4. inference (`inference:`): what the tagged population says about the row's account, name tokens,
   namespace and service, kept only above `min_confidence`;
5. `default` (e.g. `unallocated`).

Why this order: an explicit shared-cost rule is a deliberate statement about that spend, tags are
the owners' own word, rules fix what tags miss, inference is a guess with a stated confidence.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tools.vtags.normalize import normalize_value, source_key
from warehouse.settings import Strict

__all__ = [
    "Condition",
    "Inference",
    "Match",
    "Normalize",
    "Rule",
    "SharedRule",
    "VirtualTag",
    "check_regex",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_UNSUPPORTED_RE = re.compile(r"\(\?[=!<]|\\[1-9]")


def check_regex(pattern: str) -> str:
    """A regex valid for both Python and DuckDB's RE2 (no lookaround, no back-references)."""
    if _UNSUPPORTED_RE.search(pattern):
        raise ValueError(
            f"regex {pattern!r} uses lookaround or a back-reference, which the warehouse's RE2 "
            "engine does not support"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    return pattern


class Match(Strict):
    """A condition on one column or tag: any of `equals`, or a `regex` (RE2, searched)."""

    equals: list[str] | None = Field(default=None, min_length=1)
    regex: str | None = None
    missing: bool | None = Field(
        default=None, description="true: the column/tag is empty; false: it has a value."
    )

    @field_validator("regex")
    @classmethod
    def _re(cls, value: str | None) -> str | None:
        return None if value is None else check_regex(value)

    @model_validator(mode="after")
    def _one(self) -> Match:
        given = [x is not None for x in (self.equals, self.regex, self.missing)]
        if sum(given) != 1:
            raise ValueError("a condition takes exactly one of equals, regex, missing")
        return self


Condition = Annotated[
    str | list[str] | Match,
    Field(description="A value, a list of values (any of), or {regex|equals|missing}."),
]


def _as_match(value: str | list[str] | Match) -> Match:
    if isinstance(value, Match):
        return value
    return Match(equals=[value] if isinstance(value, str) else value)


class _Filter(Strict):
    """`when:` conditions (all must hold) and an optional `resource:` regex over name or id."""

    when: dict[str, Condition] = Field(default_factory=dict)
    resource: str | None = Field(
        default=None, description="Regex searched in ResourceName or ResourceId."
    )

    @field_validator("resource")
    @classmethod
    def _re(cls, value: str | None) -> str | None:
        return None if value is None else check_regex(value)

    @field_validator("when", mode="before")
    @classmethod
    def _conditions(cls, value: object) -> object:
        """Validate `{regex|equals|missing}` conditions as `Match` (clear messages)."""
        if not isinstance(value, dict):
            return value
        out: dict[str, object] = {}
        for col, cond in value.items():
            if isinstance(cond, dict):
                try:
                    cond = Match.model_validate(cond)
                except ValidationError as exc:
                    raise ValueError(f"condition on {col}: {exc.errors()[0]['msg']}") from None
            out[col] = cond
        return out

    @field_validator("when")
    @classmethod
    def _columns(cls, value: dict[str, Condition]) -> dict[str, Condition]:
        from tools.vtags.columns import canonical_column

        return {canonical_column(k): _as_match(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _something(self) -> _Filter:
        if not self.when and self.resource is None:
            raise ValueError("give at least one condition in `when:` or a `resource:` regex")
        return self

    def matches(self) -> dict[str, Match]:
        """The `when:` conditions as `Match` objects (validated above)."""
        return {k: _as_match(v) for k, v in self.when.items()}


class Rule(_Filter):
    """`id`, `value`, and conditions: the first rule whose conditions all hold decides."""

    id: str = Field(pattern=_ID)
    value: str = Field(min_length=1, max_length=200)
    description: str | None = None


class SharedRule(_Filter):
    """Split the spend matching the conditions across values, month by month."""

    id: str = Field(pattern=_ID)
    method: Literal["even", "fixed", "proportional"]
    values: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Values that share the cost (even/proportional); default: every value with "
        "its own spend in that month.",
    )
    ratios: dict[str, Decimal] | None = Field(
        default=None, description="fixed: value → weight (normalized to sum to 1)."
    )
    only_unallocated: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _method(self) -> SharedRule:
        if self.method == "fixed":
            if not self.ratios:
                raise ValueError(f"shared rule {self.id}: method fixed needs `ratios:`")
            if any(w < 0 for w in self.ratios.values()) or sum(self.ratios.values()) <= 0:
                raise ValueError(f"shared rule {self.id}: ratios must be >= 0 with a positive sum")
            if self.values is not None:
                raise ValueError(f"shared rule {self.id}: fixed takes `ratios:`, not `values:`")
        elif self.ratios is not None:
            raise ValueError(f"shared rule {self.id}: `ratios:` is only for method fixed")
        return self


InferenceFeature = Literal["account", "name", "namespace", "service", "value_in_name"]
ALL_FEATURES: tuple[InferenceFeature, ...] = (
    "account",
    "name",
    "namespace",
    "service",
    "value_in_name",
)


class Inference(Strict):
    """Guess the value of untagged spend from what the tagged population says."""

    enabled: bool = True
    min_confidence: float = Field(default=0.75, ge=0, le=1)
    min_support: int = Field(
        default=2, ge=1, description="Tagged resources needed behind a learned association."
    )
    features: list[InferenceFeature] = Field(default_factory=lambda: list(ALL_FEATURES))
    namespace_keys: list[str] = Field(
        default_factory=lambda: ["namespace", "kubernetes_namespace", "k8s_namespace"]
    )
    name_match_confidence: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="Confidence when a resource/account/namespace name contains a known value.",
    )


class Normalize(Strict):
    """How tag values are cleaned before aliases apply."""

    case: Literal["lower", "upper", "keep"] = "lower"
    separator: str | None = Field(
        default="-",
        max_length=1,
        description="Runs of spaces, '_', '.', '/' and '-' become this; null keeps them.",
    )


class VirtualTag(Strict):
    """One virtual tag: sources, rules, inference, shared-cost splits and a default."""

    description: str | None = None
    sources: list[str] = Field(default_factory=list, description="Tag / label keys, in order.")
    normalize: Normalize = Field(default_factory=Normalize)
    aliases: dict[str, str] = Field(default_factory=dict)
    allowed_values: list[str] | None = None
    rules: list[Rule] = Field(default_factory=list)
    inference: Inference = Field(default_factory=Inference)
    shared: list[SharedRule] = Field(default_factory=list)
    default: str = Field(default="unallocated", min_length=1)

    @field_validator("sources")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(source_key(k) for k in value))

    @model_validator(mode="after")
    def _unique_ids(self) -> VirtualTag:
        ids = [r.id for r in self.rules] + [s.id for s in self.shared]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique within a virtual tag: {', '.join(dupes)}")
        return self

    def norm(self, raw: str) -> str:
        """A raw value as this tag stores it: normalized, then mapped through `aliases`."""
        value = normalize_value(raw, self.normalize.case, self.normalize.separator)
        return self.alias_map().get(value, value)

    def alias_map(self) -> dict[str, str]:
        """Aliases with both sides normalized (so `Payments Team: payments` matches any case)."""
        case, sep = self.normalize.case, self.normalize.separator
        return {
            normalize_value(k, case, sep): normalize_value(v, case, sep)
            for k, v in self.aliases.items()
        }

    def allowed(self) -> list[str] | None:
        """`allowed_values` in stored form, or None (any value)."""
        if self.allowed_values is None:
            return None
        return sorted({self.norm(v) for v in self.allowed_values})
