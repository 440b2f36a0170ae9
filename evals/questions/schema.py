"""The question files: one practitioner question (or thread), what kind it is, and its truth.

A question file is `evals/questions/<split>/<dataset>.yaml`:

```yaml
dataset: cur-2018
questions:
  - id: cur-ec2-oct-2018
    kind: total                       # scorecard group (KINDS)
    ask: What did we spend on EC2 in October 2018?   # or a thread: [first, follow-up, …]
    expect: total                     # the answer's shape: total, rows, top, growth, share, unit,
                                      # or clarify (the question must be clarified or refused)
    truth: {period: 2018-10, where: {service: Amazon Elastic Compute Cloud}}
```

The truth is a small structured query over the dataset's raw file (see `truth.py` for the SQL it
becomes and `datasets.py` for each dataset's column definitions); `sql:` gives a scalar truth as
literal SQL over the dataset's `bill` view instead.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DIMENSIONS", "KINDS", "Expect", "Question", "QuestionFile", "Truth"]

Expect = Literal["total", "rows", "top", "growth", "share", "unit", "clarify"]
KINDS = (
    "total",
    "period",
    "breakdown",
    "top-n",
    "exclusion",
    "metric",
    "charge",
    "growth",
    "share",
    "unit-cost",
    "follow-up",
    "clarify",
    "typo",
    "as-of",
)
"""Scorecard groups: what the question mainly tests."""
DIMENSIONS = (
    "provider",
    "service",
    "service_category",
    "account",
    "billing_account",
    "region",
    "charge_category",
    "charge_class",
    "commitment_type",
    "team",
    "environment",
    "resource",
    "unit",
)
"""Columns of every dataset's `bill` view a truth may filter or group on (plus `tag:KEY`)."""
TIME_GRAINS = ("month", "day")
_PERIOD = re.compile(r"^\d{4}(-Q[1-4]|-\d{2}(-\d{2})?)?$")

Values = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_dimension(name: str, grains: bool = False) -> str:
    ok = name in DIMENSIONS or name.startswith("tag:") or (grains and name in TIME_GRAINS)
    if not ok:
        raise ValueError(f"unknown dimension {name!r}; valid: {', '.join(DIMENSIONS)}, tag:KEY")
    return name


def _check_period(value: str | list[str] | None) -> str | list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not _PERIOD.match(value):
            raise ValueError(f"period {value!r}: YYYY, YYYY-Qn, YYYY-MM, YYYY-MM-DD or [from, to)")
        return value
    if len(value) != 2 or not all(re.match(r"^\d{4}-\d{2}-\d{2}$", v) for v in value):
        raise ValueError(f"period {value!r}: a range is [first day, day after the last]")
    return value


class Truth(_Strict):
    """What the right answer is, as a query over the raw rows of the dataset."""

    period: str | list[str] | None = Field(
        default=None,
        description="YYYY, YYYY-Qn, YYYY-MM, YYYY-MM-DD, or [first day, end day exclusive]; "
        "None is all the data.",
    )
    where: dict[str, Values] = Field(default_factory=dict)
    exclude: dict[str, Values] = Field(default_factory=dict)
    metric: Literal["billed", "effective", "list"] = "billed"
    by: list[str] = Field(default_factory=list)
    top: int | None = Field(default=None, ge=1)
    previous: str | list[str] | None = Field(
        default=None, description="growth: the period compared against."
    )
    share_of: dict[str, Values] | None = Field(
        default=None, description="share: the denominator's filters (same period); {} = all."
    )
    sql: str | None = Field(default=None, description="A scalar truth as SQL over `bill`.")

    @field_validator("period", "previous", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        """YAML reads `2018-10-15` as a date and `2018` as a number: both mean the text."""
        if isinstance(value, list):
            return [v.isoformat() if isinstance(v, date) else str(v) for v in value]
        return (
            value.isoformat() if isinstance(value, date) else value if value is None else str(value)
        )

    @field_validator("period", "previous")
    @classmethod
    def _period(cls, value: str | list[str] | None) -> str | list[str] | None:
        return _check_period(value)

    @field_validator("where", "exclude", "share_of")
    @classmethod
    def _dims(cls, value: dict[str, Values] | None) -> dict[str, Values] | None:
        for name in value or {}:
            _check_dimension(name)
        return value

    @field_validator("by")
    @classmethod
    def _by(cls, value: list[str]) -> list[str]:
        return [_check_dimension(v, grains=True) for v in value]


class Question(_Strict):
    """One question (or a thread whose last message is scored) and its expected answer."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,80}$")
    kind: str
    ask: str | list[str]
    expect: Expect
    truth: Truth | None = None
    clock: Literal["now", "later"] = Field(
        default="now",
        description="now: the morning after the dataset's last charge day; later: months after.",
    )
    accept_clarify: bool = Field(
        default=False,
        description="A typo: a clarification naming `closest` also counts as correct.",
    )
    closest: str | None = None
    note: str = ""

    @property
    def messages(self) -> list[str]:
        return [self.ask] if isinstance(self.ask, str) else list(self.ask)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind {value!r}; valid: {', '.join(KINDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if (self.expect == "clarify") != (self.truth is None):
            raise ValueError(f"{self.id}: a truth is given exactly when expect is not clarify")
        t = self.truth
        if t is None:
            return self
        if self.expect in ("rows", "top", "growth") and not t.by:
            raise ValueError(f"{self.id}: expect {self.expect} needs `by`")
        if self.expect == "top" and t.top is None:
            raise ValueError(f"{self.id}: expect top needs `top`")
        if (self.expect == "growth") != (t.previous is not None):
            raise ValueError(f"{self.id}: `previous` is for expect growth only")
        if (self.expect == "share") != (t.share_of is not None):
            raise ValueError(f"{self.id}: `share_of` is for expect share only")
        if self.accept_clarify and not self.closest:
            raise ValueError(f"{self.id}: accept_clarify needs `closest`")
        return self


class QuestionFile(_Strict):
    dataset: str
    questions: list[Question]
