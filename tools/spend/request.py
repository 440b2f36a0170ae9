"""One structured spend query: what a question about spend means, validated against the catalog.

Why: a question ("EC2 in November 2018, excluding credits, by account") has one exact meaning.
Models and the offline planner both express it as a `SpendRequest`, and `run_request` answers it
through the existing query layer (`tools.spend.engine`), so the figure is the engine's, to the
cent, and the SQL is the evidence. `check_request` validates every dimension and filter value
against the vocabulary catalog before anything runs: an unknown value is an error that names the
closest known values with their spend, so a model corrects itself instead of widening the scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.query import Engine, resolve_dimension
from tools.settings import ToolSettings
from tools.spend.engine import Filter, SpendQuery, spend, top_movers, unit_cost
from warehouse.errors import QueryError
from warehouse.format import money

if TYPE_CHECKING:
    from tools.vocab.catalog import Match, Vocabulary

__all__ = [
    "FOCUS_VALUES",
    "Measure",
    "RequestFilter",
    "SpendRequest",
    "check_request",
    "describe_matches",
    "run_request",
]

Measure = Literal["cost", "growth", "share", "unit_cost"]
Metric = Literal["billed", "effective", "list", "contracted"]
UNCHECKED_DIMENSIONS = frozenset({"ChargePeriodStart", "ChargePeriodEnd"})
FOCUS_VALUES: dict[str, tuple[str, ...]] = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
}
"""The FOCUS specification's allowed values of enumerated columns: a value the bills never used
is still a valid filter (its spend is zero), unlike a name the warehouse has never seen."""
"""Dimensions whose values are not in the catalog (dates): filters on them are not checked."""


class RequestFilter(BaseModel):
    """Keep rows whose `dimension` is one of `values` (or drop them when `exclude`)."""

    model_config = ConfigDict(extra="forbid")

    dimension: str = Field(
        description="A FOCUS column (ServiceName, SubAccountName, RegionId, ChargeCategory…), "
        "tag:KEY (tag:team|Team for several spellings of one key) or vtag:NAME."
    )
    values: list[str] = Field(min_length=1, description="Exact values, as `vocab_lookup` shows.")
    exclude: bool = Field(default=False, description="True drops these values (excluding…).")

    def engine_filter(self) -> Filter:
        return Filter(dimension=self.dimension, values=self.values, negate=self.exclude)


class SpendRequest(BaseModel):
    """A spend question in structured form; every field is echoed back with the answer.

    Example: EC2 in November 2018 by account, excluding credits ->
    {"since": "2018-11-01", "until": "2018-11-30", "by": ["SubAccountId"], "filters":
    [{"dimension": "ServiceName", "values": ["Amazon Elastic Compute Cloud"]},
    {"dimension": "ChargeCategory", "values": ["Credit"], "exclude": true}]}.
    """

    model_config = ConfigDict(extra="forbid")

    measure: Measure = Field(
        default="cost",
        description="cost (totals/breakdowns), growth (compare with a previous period; rows "
        "ranked by change), share (the scope's share of `share_within`), unit_cost (cost per "
        "`per` units of `unit`).",
    )
    metric: Metric = Field(
        default="billed",
        description="billed (invoiced), effective (amortized: commitments spread over usage), "
        "list (public prices) or contracted (negotiated prices).",
    )
    period: str | None = Field(
        default=None,
        description="A named period (this_month, last_month, last_7_days, this_quarter, "
        "this_year…) or YYYY-MM; ignored when since/until are given. Default this_month.",
    )
    since: date | None = Field(default=None, description="First day, inclusive.")
    until: date | None = Field(default=None, description="Last day, inclusive.")
    compare_since: date | None = Field(
        default=None,
        description="growth: first day of the previous period (default: the "
        "equally long period just before).",
    )
    compare_until: date | None = Field(default=None, description="growth: its last day.")
    by: list[str] = Field(default_factory=list, description="Dimensions to group by.")
    filters: list[RequestFilter] = Field(default_factory=list)
    share_within: list[RequestFilter] = Field(
        default_factory=list,
        description="share: the filters of the whole the scope is a share of (empty = all spend).",
    )
    grain: Literal["total", "day", "week", "month"] = "total"
    top: int | None = Field(default=None, ge=1, le=100, description="Keep the top N rows.")
    direction: Literal["change", "increase", "decrease"] = Field(
        default="change", description="growth: rank by absolute change, increase or decrease."
    )
    unit: str | list[str] | None = Field(
        default=None,
        description="unit_cost: the ConsumedUnit, e.g. Tokens (a list for several spellings of "
        "one unit, e.g. GB-Mo and GB/Month).",
    )
    per: int = Field(default=1, ge=1, description="unit_cost: units per price, e.g. 1000000.")

    @model_validator(mode="after")
    def _consistent(self) -> SpendRequest:
        if (self.since is None) != (self.until is None):
            raise ValueError("give both since and until, or a period")
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until {self.until} is before since {self.since}")
        if (self.compare_since is None) != (self.compare_until is None):
            raise ValueError("give both compare_since and compare_until")
        if self.measure == "unit_cost" and not self.unit:
            raise ValueError("unit_cost needs a unit (a ConsumedUnit such as Tokens)")
        return self


def describe_matches(matches: Sequence[Match], currency: str) -> str:
    """`AWS Glue (ServiceName, USD 2,389.33, 2018-10-01..2018-10-31)` for each match."""
    return "; ".join(
        f"{m.entry.value} ({m.entry.dimension}, {money(m.entry.cost, currency)}, "
        f"{m.entry.first_day}..{m.entry.last_day})"
        for m in matches
    )


def _known_values(vocab: Vocabulary, dimension: str) -> dict[str, list[str]] | None:
    """The catalog's values of a dimension (casefolded -> every exact spelling), None when the
    dimension has no values listed. `tag:a|b` covers every spelling of one key."""
    if dimension.startswith("tag:") and "|" in dimension:
        dims = [f"tag:{key}" for key in dimension[4:].split("|")]
    else:
        dims = [dimension]
    found: dict[str, list[str]] = {}
    for dim in dims:
        for e in vocab.entries(dim):
            spellings = found.setdefault(e.value.casefold(), [])
            if e.value not in spellings:
                spellings.append(e.value)
    if not found and all(d not in vocab.dimensions() for d in dims):
        return None
    return found


def _spec_value(dimension: str, value: str) -> list[str] | None:
    allowed = {v.casefold(): v for v in FOCUS_VALUES.get(dimension, ())}
    found = allowed.get(value.casefold())
    return [found] if found else None


def _check_filter(f: RequestFilter, vocab: Vocabulary) -> RequestFilter:
    """The filter with each value in its exact catalog spelling(s), or a QueryError naming the
    closest known values (so a model or a person can correct the question)."""
    if f.dimension in UNCHECKED_DIMENSIONS:
        return f
    known = _known_values(vocab, f.dimension)
    if known is None and f.dimension in FOCUS_VALUES:
        known = {}
    if known is None:
        closest = vocab.closest(f.dimension.split(":", 1)[-1], limit=3)
        hint = f"; values that look similar: {describe_matches(closest, vocab.currency)}"
        raise QueryError(f"{f.dimension} has no values in the warehouse{hint if closest else ''}")
    exact: list[str] = []
    for value in f.values:
        spellings = known.get(value.casefold()) or _spec_value(f.dimension, value)
        if spellings is None:
            closest = vocab.closest(value, [f.dimension], limit=3) or vocab.closest(value, limit=3)
            hint = (
                f"; closest: {describe_matches(closest, vocab.currency)}"
                if closest
                else "; use vocab_lookup to list its values"
            )
            raise QueryError(f"no {f.dimension} called {value!r} in the warehouse{hint}")
        chosen = [value] if value in spellings else spellings
        exact.extend(v for v in chosen if v not in exact)
    return f.model_copy(update={"values": exact})


def check_request(request: SpendRequest, config: ToolSettings, vocab: Vocabulary) -> SpendRequest:
    """Validate dimensions and values against the catalog; values come back exactly spelled."""
    for spec in [*request.by, *(f.dimension for f in [*request.filters, *request.share_within])]:
        resolve_dimension(spec, config.virtual_tags)  # unknown dimension -> QueryError
    return request.model_copy(
        update={
            "filters": [_check_filter(f, vocab) for f in request.filters],
            "share_within": [_check_filter(f, vocab) for f in request.share_within],
        }
    )


def _window(request: SpendRequest, today: date, last: date | None) -> tuple[str, date, date]:
    from tools.periods import resolve_period

    if request.since and request.until:
        return f"{request.since}..{request.until}", request.since, request.until
    period = resolve_period(request.period or "this_month", today, last)
    return period.label, period.since, period.until


def _previous(request: SpendRequest, since: date, until: date) -> tuple[date, date]:
    if request.compare_since and request.compare_until:
        return request.compare_since, request.compare_until
    length = (until - since).days + 1
    return since - timedelta(days=length), since - timedelta(days=1)


def _filters(items: Sequence[RequestFilter]) -> list[Filter]:
    return [f.engine_filter() for f in items]


def run_request(
    engine: Engine,
    config: ToolSettings,
    request: SpendRequest,
    *,
    today: date,
    last_day: date | None,
) -> dict[str, Any]:
    """Answer a checked request through the spend engine; the result carries the request, the
    resolved period(s), the figures and every SQL statement that produced them."""
    label, since, until = _window(request, today, last_day)
    as_of = min(today, last_day) if last_day else today
    out: dict[str, Any] = {
        "request": request.model_dump(mode="json", exclude_defaults=True),
        "measure": request.measure,
        "metric": request.metric,
        "currency": config.reporting_currency,
        "period": {"label": label, "since": str(since), "until": str(until), "as_of": str(as_of)},
        "defaulted_period": not (request.since or request.period),
        "filters": [f.model_dump(mode="json") for f in request.filters],
    }
    filters = _filters(request.filters)
    if request.measure == "growth":
        prev = _previous(request, since, until)
        moved = top_movers(
            engine,
            config,
            by=request.by or ["ServiceName"],
            since=since,
            until=until,
            filters=filters,
            metric=request.metric,
            top=request.top or 10,
            previous=prev,
            order=request.direction,
        )
        out["result"] = moved.model_dump(mode="json")
        out["compare_period"] = {"since": str(prev[0]), "until": str(prev[1])}
        out["sql"] = [moved.sql]
        return out
    if request.measure == "unit_cost":
        unit = unit_cost(
            engine,
            config,
            unit=request.unit or "",
            per=request.per,
            by=request.by,
            since=since,
            until=until,
            filters=filters,
            metric=request.metric,
        )
        out["result"] = unit.model_dump(mode="json")
        out["sql"] = [unit.sql]
        return out
    query = SpendQuery(
        by=request.by,
        since=since,
        until=until,
        grain=request.grain,
        filters=filters,
        metric=request.metric,
        top=request.top,
    )
    result = spend(engine, config, query)
    out["result"] = result.model_dump(mode="json")
    out["sql"] = [result.sql]
    if request.measure == "share":
        whole = spend(
            engine,
            config,
            SpendQuery(
                since=since,
                until=until,
                filters=_filters(request.share_within),
                metric=request.metric,
            ),
        )
        share = (result.total / whole.total * 100) if whole.total else None
        out["share"] = {
            "part": str(result.total),
            "whole": str(whole.total),
            "percent": None if share is None else str(share.quantize(Decimal("0.01"))),
            "within": [f.model_dump(mode="json") for f in request.share_within],
        }
        out["sql"].append(whole.sql)
    return out
