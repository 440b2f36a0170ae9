"""The self-budget: the agent meters its own LLM spend and fails closed before crossing a cap.

Before each model call, `check_model_call` prices the worst case (the estimated prompt at the
dearest input rate plus `max_output_tokens` at the output rate) and refuses if it would cross the
per-run, per-day or per-month cap in USD, or the per-run call cap. After the call,
`record_model_call` stores the actual usage and cost. A real provider's model missing from the
price table is refused: an unpriced call cannot be bounded. A model with no public price (a
self-hosted one) is metered at the price the caller passes in (`price=`, from the config; zero
allowed). (Pattern: pydantic-ai's UsageLimits, checked before each request, errors naming the
limit and the value.)

The caps hold with many processes at once: the check runs inside one state-store write
transaction (SQLite `BEGIN IMMEDIATE`, PostgreSQL the store's advisory write lock), counts every
other call's unsettled worst case as already spent, and in the same transaction reserves this
call's worst case (`model_call_reservations`, one row per run: a run has one call in flight).
Recording the call settles the reservation to the actual cost; `finish_run` drops what is left.
A process that died mid-call leaves its reservation, which stops counting after
`reservation_ttl` (default 15 minutes, longer than any model call's timeout and retries).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from guardrails.settings import BudgetConfig
from warehouse.errors import FinopsError
from warehouse.format import amount
from warehouse.ingest.ai_common import FREE_PROVIDERS, ModelPrice, PriceTable
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "FREE_PROVIDERS",
    "BudgetExceeded",
    "BudgetMeter",
    "RunUsage",
    "Usage",
    "cost_of",
    "estimate_tokens",
    "usage_from_message",
]

MTOK = Decimal(1_000_000)
RESERVATION_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Usage:
    """Tokens of one model call; `input_tokens` excludes cache reads and writes."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0


class BudgetExceeded(FinopsError):
    """A model or tool call was refused because it could cross a cap."""

    def __init__(self, limit: str, cap: Decimal | int, value: Decimal | int, message: str) -> None:
        self.limit = limit
        self.cap = cap
        self.value = value
        super().__init__(message)


class RunUsage(BaseModel):
    run_id: str
    model_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


def _int(value: Any) -> int:
    return int(value or 0)


def usage_from_message(message: BaseMessage) -> Usage:
    """Actual usage of one reply, from the provider's raw usage where present.

    Anthropic's raw `usage` counts cache reads/writes *outside* `input_tokens`; OpenAI's
    `token_usage.prompt_tokens` *includes* `prompt_tokens_details.cached_tokens`. LangChain's
    normalized `usage_metadata` includes both cache kinds in `input_tokens`. A reply with no
    usage at all (the offline planner) counts as zero.
    """
    meta = getattr(message, "response_metadata", None) or {}
    raw = meta.get("usage")
    if isinstance(raw, dict) and "input_tokens" in raw:
        return Usage(
            input_tokens=_int(raw.get("input_tokens")),
            cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
            cache_write_tokens=_int(raw.get("cache_creation_input_tokens")),
            output_tokens=_int(raw.get("output_tokens")),
        )
    raw = meta.get("token_usage")
    if isinstance(raw, dict) and "prompt_tokens" in raw:
        cached = _int((raw.get("prompt_tokens_details") or {}).get("cached_tokens"))
        return Usage(
            input_tokens=_int(raw.get("prompt_tokens")) - cached,
            cache_read_tokens=cached,
            output_tokens=_int(raw.get("completion_tokens")),
        )
    norm = getattr(message, "usage_metadata", None) or {}
    details = norm.get("input_token_details") or {}
    read, write = _int(details.get("cache_read")), _int(details.get("cache_creation"))
    return Usage(
        input_tokens=_int(norm.get("input_tokens")) - read - write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=_int(norm.get("output_tokens")),
    )


def estimate_tokens(texts: Sequence[str]) -> int:
    """A deliberately high prompt-size estimate: 1 token per 3 characters plus 4 per message.

    English runs near 4 characters per token with both providers' tokenizers, so this
    over-estimates by about a quarter, which is the safe side for a pre-call cap check, without a
    tokenizer dependency.
    """
    return sum(math.ceil(len(t) / 3) + 4 for t in texts)


def cost_of(usage: Usage, price: ModelPrice) -> Decimal:
    """USD cost of a call's usage at the model's prices (per 1M tokens)."""
    total = (
        usage.input_tokens * price.input
        + usage.cache_read_tokens * price.cached_input
        + usage.cache_write_tokens * price.cache_write_5m
        + usage.output_tokens * price.output
    )
    return (total / MTOK).normalize() if total else Decimal(0)


def _usd(value: Decimal) -> str:
    """`$0.0500`, `$12.40`: a model call costs fractions of a cent, so under $1 shows 4 places."""
    return "$" + amount(value, 4 if value < 1 else 2)


class BudgetMeter:
    """Caps checked before calls and usage recorded after them, in the state store."""

    def __init__(
        self,
        store: StateStore,
        caps: BudgetConfig,
        prices: PriceTable,
        clock: Callable[[], datetime],
        *,
        reservation_ttl: timedelta = RESERVATION_TTL,
    ) -> None:
        self.store = store
        self.caps = caps
        self.prices = prices
        self.clock = clock
        self.reservation_ttl = reservation_ttl

    def start_run(self, run_id: str, thread_id: str, model: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, thread_id, started_at, status, model)"
                " VALUES (?, ?, ?, 'running', ?)",
                (run_id, thread_id, utc_text(self.clock()), model),
            )

    def finish_run(self, run_id: str, status: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                (status, utc_text(self.clock()), run_id),
            )
            conn.execute("DELETE FROM model_call_reservations WHERE run_id = ?", (run_id,))

    def price(
        self, provider: str, model: str, configured: ModelPrice | None = None
    ) -> ModelPrice | None:
        """The model's price: `configured` when given (a self-hosted model's price from the
        config), else the table's; None for free providers; refuses a real model without one."""
        if configured is not None:
            return configured
        if provider in FREE_PROVIDERS:
            return None
        price = self.prices.lookup(provider, model)
        if price is None:
            raise BudgetExceeded(
                "price",
                0,
                0,
                f"self-budget: no price for {provider} model {model!r} in {self.prices.source}; "
                "add it to the price table before using it (an unpriced call cannot be capped)",
            )
        return price

    def check_model_call(
        self,
        run_id: str,
        provider: str,
        model: str,
        prompt_tokens: int,
        *,
        price: ModelPrice | None = None,
    ) -> Decimal:
        """Refuse (BudgetExceeded) if this call's worst case could cross a cap; return it.

        Passing the check reserves the worst case (replacing the run's previous, unsettled
        reservation) in the same write transaction, so concurrent callers see it as spent.
        """
        with self.store.transaction() as conn:
            run = self.run_usage(run_id)
            if run.model_calls + 1 > self.caps.max_model_calls_per_run:
                cap = self.caps.max_model_calls_per_run
                raise BudgetExceeded(
                    "max_model_calls_per_run",
                    cap,
                    run.model_calls + 1,
                    f"self-budget: this run already made {run.model_calls} model call(s); the "
                    f"max_model_calls_per_run cap is {cap}",
                )
            conn.execute("DELETE FROM model_call_reservations WHERE run_id = ?", (run_id,))
            price = self.price(provider, model, price)
            if price is None:
                return Decimal(0)
            per_prompt_token = max(price.input, price.cache_write_5m)
            worst = (
                prompt_tokens * per_prompt_token + self.caps.max_output_tokens * price.output
            ) / MTOK
            self._check_caps(run.cost_usd, worst)
            now = self.clock()
            conn.execute(
                "INSERT INTO model_call_reservations (run_id, at, expires_at, provider, model,"
                " worst_usd) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    utc_text(now),
                    utc_text(now + self.reservation_ttl),
                    provider,
                    model,
                    str(worst),
                ),
            )
        return worst

    def _check_caps(self, run_cost: Decimal, worst: Decimal) -> None:
        now = self.clock()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        tomorrow = day + timedelta(days=1)
        scopes: tuple[tuple[str, str, Decimal, Decimal], ...] = (
            ("per_run_usd", "this run's", run_cost, self.caps.per_run_usd),
            (
                "per_day_usd",
                "today's",
                self.spent(day, tomorrow) + self.reserved(day, tomorrow),
                self.caps.per_day_usd,
            ),
            (
                "per_month_usd",
                "this month's",
                self.spent(month, now + timedelta(seconds=1)) + self.reserved(month, tomorrow),
                self.caps.per_month_usd,
            ),
        )
        for limit, label, spent, cap_usd in scopes:
            if spent + worst > cap_usd:
                raise BudgetExceeded(
                    limit,
                    cap_usd,
                    spent + worst,
                    f"self-budget: this call could cost up to {_usd(worst)}, which would take "
                    f"{label} agent spend to {_usd(spent + worst)}, over the {limit} cap of "
                    f"{_usd(cap_usd)}",
                )

    def check_tool_call(self, run_id: str) -> None:
        run = self.run_usage(run_id)
        cap = self.caps.max_tool_calls_per_run
        if run.tool_calls + 1 > cap:
            raise BudgetExceeded(
                "max_tool_calls_per_run",
                cap,
                run.tool_calls + 1,
                f"self-budget: this run already made {run.tool_calls} tool call(s); the "
                f"max_tool_calls_per_run cap is {cap}",
            )

    def record_model_call(
        self,
        run_id: str,
        provider: str,
        model: str,
        usage: Usage,
        prompt_hash: str,
        *,
        price: ModelPrice | None = None,
    ) -> Decimal:
        """Store one call's actual usage and cost (at `price` when given, as in
        `check_model_call`); return the cost in USD."""
        if price is None and provider not in FREE_PROVIDERS:
            price = self.prices.lookup(provider, model)
        cost = cost_of(usage, price) if price else Decimal(0)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO model_calls (at, run_id, provider, model, input_tokens,"
                " cache_read_tokens, cache_write_tokens, output_tokens, cost_usd, prompt_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    utc_text(self.clock()),
                    run_id,
                    provider,
                    model,
                    usage.input_tokens,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                    usage.output_tokens,
                    str(cost),
                    prompt_hash,
                ),
            )
            conn.execute("DELETE FROM model_call_reservations WHERE run_id = ?", (run_id,))
            conn.execute(
                "UPDATE runs SET model_calls = model_calls + 1 WHERE run_id = ?", (run_id,)
            )
        return cost

    def record_tool_call(self, run_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE runs SET tool_calls = tool_calls + 1 WHERE run_id = ?", (run_id,))

    def run_usage(self, run_id: str) -> RunUsage:
        rows = self.store.query(
            "SELECT input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_usd"
            " FROM model_calls WHERE run_id = ?",
            (run_id,),
        )
        tools = self.store.query("SELECT tool_calls FROM runs WHERE run_id = ?", (run_id,))
        return RunUsage(
            run_id=run_id,
            model_calls=len(rows),
            tool_calls=int(tools[0][0]) if tools else 0,
            input_tokens=sum(r[0] for r in rows),
            cache_read_tokens=sum(r[1] for r in rows),
            cache_write_tokens=sum(r[2] for r in rows),
            output_tokens=sum(r[3] for r in rows),
            cost_usd=sum((Decimal(r[4]) for r in rows), Decimal(0)),
        )

    def reserved(self, since: datetime, until: datetime) -> Decimal:
        """Worst cases of model calls in flight (reserved in [since, until), not yet settled,
        not expired): counted as spent by every cap check."""
        rows = self.store.query(
            "SELECT worst_usd FROM model_call_reservations WHERE at >= ? AND at < ?"
            " AND expires_at > ?",
            (utc_text(since), utc_text(until), utc_text(self.clock())),
        )
        return sum((Decimal(r[0]) for r in rows), Decimal(0))

    def spent(self, since: datetime, until: datetime) -> Decimal:
        """Agent model spend in [since, until)."""
        rows = self.store.query(
            "SELECT cost_usd FROM model_calls WHERE at >= ? AND at < ?",
            (utc_text(since), utc_text(until)),
        )
        return sum((Decimal(r[0]) for r in rows), Decimal(0))
