"""A request body → priced, columnar events, all or nothing.

Every line is parsed, validated and priced before anything is kept: one bad line rejects the
batch with every problem listed (line number and attribute), so a sender can fix and resend the
whole batch without double counting. Prices come from the model price table (exact Decimal, the
same `cost_of` that meters the agent's own calls); a model without a price is a problem of its
line, never priced at zero.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from guardrails.budget import Usage, cost_of
from tools.events.model import (
    LineProblem,
    UsageEvent,
    event_attributes,
    precheck_attributes,
    validation_problems,
)
from warehouse.ingest.ai_common import ModelPrice, PriceTable

__all__ = ["COLUMNS", "BatchRejected", "PricedBatch", "Pricer", "Window", "read_batch"]

COLUMNS: tuple[str, ...] = (
    "event_time",
    "received_at",
    "batch_id",
    "provider",
    "model",
    "price_model",
    "price_as_of",
    "agent_id",
    "team",
    "task_id",
    "api_key_id",
    "project_id",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cost",
    "event_id",
)
"""The `usage_events` columns, in table order."""

MAX_LISTED = 100
_SCALE = Decimal("1e-12")


class BatchRejected(Exception):
    """The batch was refused; `status` is the HTTP status, `problems` every reason found."""

    def __init__(self, status: int, message: str, problems: list[LineProblem] | None = None):
        self.status = status
        self.message = message
        self.problems = problems or []
        super().__init__(message)

    def payload(self) -> dict[str, Any]:
        shown = self.problems[:MAX_LISTED]
        body: dict[str, Any] = {
            "error": self.message,
            "stored": 0,
            "problems": [p.model_dump() for p in shown],
        }
        if len(self.problems) > len(shown):
            body["problems_not_listed"] = len(self.problems) - len(shown)
        return body


@dataclass
class PricedBatch:
    """Validated, priced events as row tuples in `COLUMNS` order, ready for an Arrow append."""

    batch_id: str
    received_at: datetime
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    total_cost: Decimal = Decimal(0)

    @property
    def received_naive(self) -> datetime:
        """`received_at` as naive UTC (how the warehouse stores times)."""
        return self.received_at.astimezone(UTC).replace(tzinfo=None)

    @property
    def count(self) -> int:
        return len(self.rows)


class Pricer:
    """Price lookups memoized per (provider, model) for one price table."""

    def __init__(self, prices: PriceTable) -> None:
        self.prices = prices
        self._memo: dict[tuple[str, str], ModelPrice | None] = {}

    def price(self, provider: str, model: str) -> ModelPrice | None:
        key = (provider, model)
        if key not in self._memo:
            self._memo[key] = self.prices.lookup(provider, model)
        return self._memo[key]

    def used(self) -> list[ModelPrice]:
        """Every price row looked up so far (what buffered events were priced at)."""
        return [p for p in list(self._memo.values()) if p is not None]

    def cost(self, event: UsageEvent, price: ModelPrice) -> Decimal:
        usage = Usage(
            input_tokens=event.uncached_input_tokens,
            cache_read_tokens=event.cache_read_tokens,
            cache_write_tokens=event.cache_write_tokens,
            output_tokens=event.output_tokens,
        )
        cost = cost_of(usage, price)
        exponent = cost.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -12:
            cost = cost.quantize(_SCALE)
        return cost


def _lines(body: bytes) -> list[tuple[int, bytes]]:
    return [(n, ln) for n, ln in enumerate(body.split(b"\n"), 1) if ln.strip()]


def _parse(n: int, raw: bytes) -> tuple[dict[str, Any] | None, list[LineProblem]]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, [LineProblem(line=n, field=None, message=f"invalid JSON: {exc}")]
    attrs = event_attributes(doc)
    if isinstance(attrs, str):
        return None, [LineProblem(line=n, field=None, message=attrs)]
    return attrs, precheck_attributes(attrs, n)


@dataclass(frozen=True)
class Window:
    """Event times accepted relative to the arrival: not too far ahead, not too old."""

    max_skew: timedelta
    max_age: timedelta


def _check(
    event: UsageEvent, n: int, received: datetime, window: Window, pricer: Pricer
) -> tuple[ModelPrice | None, datetime, list[LineProblem]]:
    problems = []
    if event.uncached_input_tokens < 0:
        cached = event.cache_read_tokens + event.cache_write_tokens
        problems.append(
            LineProblem(
                line=n,
                field="gen_ai.usage.input_tokens",
                message=f"{event.input_tokens} is less than the cache read + cache creation "
                f"tokens ({cached}); per the GenAI conventions input_tokens includes them",
            )
        )
    when = event.event_time(received)
    if when - received > window.max_skew or received - when > window.max_age:
        ahead = when > received
        limit = "events.max_clock_skew_seconds" if ahead else "events.max_age_days"
        problems.append(
            LineProblem(
                line=n,
                field="timestamp" if event.timestamp is not None else "time_unix_nano",
                message=f"{when.isoformat()} is {abs((when - received).total_seconds()):,.0f} s "
                f"{'in the future' if ahead else 'old'} (more than {limit})",
            )
        )
    price = pricer.price(event.provider, event.model)
    if price is None:
        problems.append(
            LineProblem(
                line=n,
                field="gen_ai.request.model",
                message=f"no price for {event.provider} model {event.model!r} in "
                f"{pricer.prices.source}; add it to the price table (unpriced usage is refused, "
                "not counted as zero)",
            )
        )
    return price, when, problems


def _row(
    head: tuple[datetime, str], event: UsageEvent, when: datetime, price: ModelPrice, cost: Decimal
) -> tuple[Any, ...]:
    return (
        when.replace(tzinfo=None),
        *head,
        event.provider,
        event.model,
        price.model,
        price.as_of,
        event.agent_id,
        event.team,
        event.task_id,
        event.api_key_id,
        event.project_id,
        event.uncached_input_tokens,
        event.cache_read_tokens,
        event.cache_write_tokens,
        event.output_tokens,
        cost,
        event.event_id,
    )


def read_batch(
    body: bytes,
    *,
    received_at: datetime,
    pricer: Pricer,
    max_lines: int,
    window: Window,
) -> PricedBatch:
    """Parse, validate and price every line of `body`; raise `BatchRejected` on any problem."""
    lines = _lines(body)
    if not lines:
        raise BatchRejected(400, "the body has no events (expected JSON lines)")
    if len(lines) > max_lines:
        raise BatchRejected(
            413, f"{len(lines):,} events in one request; the limit is {max_lines:,}"
        )
    received_at = received_at.astimezone(UTC)
    batch = PricedBatch(batch_id=uuid.uuid4().hex, received_at=received_at)
    head = (batch.received_naive, batch.batch_id)
    problems: list[LineProblem] = []
    malformed = False
    for n, raw in lines:
        attrs, found = _parse(n, raw)
        malformed = malformed or attrs is None
        if attrs is None or found:
            problems += found
            continue
        try:
            event = UsageEvent.model_validate(attrs)
        except ValidationError as exc:
            problems += validation_problems(exc.errors(), n)
            continue
        price, when, found = _check(event, n, received_at, window, pricer)
        if found or price is None:
            problems += found
        elif not problems:
            cost = pricer.cost(event, price)
            batch.rows.append(_row(head, event, when, price, cost))
            batch.total_cost += cost
    if problems:
        bad = len({p.line for p in problems})
        raise BatchRejected(
            400 if malformed else 422,
            f"{bad} of {len(lines)} line(s) invalid; nothing was stored",
            problems,
        )
    return batch
