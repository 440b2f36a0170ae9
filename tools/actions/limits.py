"""Checks every optimization action shares: blast radius, protection, billed run rates.

`exceeds` is the `actions:` limit check (Cloud Custodian's `max-resources`, plus a cap on the
billed monthly run rate one proposal may touch) and `blast_radius` applies the config's limits;
every action runs it when a proposal is made and again right before it executes. `protected`
says why a resource's tags, labels or annotations keep the agent away from it. `run_rates` is
the billed monthly run rate per resource (the optimizer's bill window), the figure both limits
and drafts quote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tools.actions.config import ActionsConfig, actions_settings
from tools.context import ToolContext
from tools.optimize.config import OptimizeConfig, settings
from tools.optimize.inventory import bills
from tools.spend.engine import data_range
from warehouse.format import money

__all__ = ["blast_radius", "exceeds", "protected", "run_rates"]


def exceeds(
    limits: ActionsConfig, currency: str, targets: Sequence[Mapping[str, Any]]
) -> str | None:
    """Why `targets` (each with an optional `monthly_cost`) exceed `limits`, or None."""
    if len(targets) > limits.max_resources_per_proposal:
        return (
            f"{len(targets)} resources exceed actions.max_resources_per_proposal "
            f"({limits.max_resources_per_proposal}); propose fewer"
        )
    spend = sum((Decimal(str(t.get("monthly_cost") or 0)) for t in targets), Decimal(0))
    cap = limits.max_monthly_spend_per_proposal
    if spend > cap:
        return (
            f"{money(spend, currency)}/month affected exceeds "
            f"actions.max_monthly_spend_per_proposal ({money(cap, currency)}); propose fewer"
        )
    return None


def blast_radius(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> str | None:
    """Why `targets` exceed the config's `actions:` limits, or None (every action's check)."""
    return exceeds(actions_settings(ctx.config), ctx.config.reporting_currency, targets)


def protected(
    tags: Mapping[str, str],
    cfg: OptimizeConfig,
    extra_keys: Iterable[str] = (),
    what: str = "tag",
) -> str | None:
    """Why a resource is protected (`optimize.protect_keys` / `protect_values`, plus
    `extra_keys`), e.g. "protected by tag finops:protected=true", or None."""
    keys = {k.lower() for k in (*cfg.protect_keys, *extra_keys)}
    for key, value in tags.items():
        if key.lower() in keys and str(value).strip().lower() in cfg.protect_values:
            return f"protected by {what} {key}={value}"
    return None


def run_rates(ctx: ToolContext, ids: Iterable[str]) -> dict[str, Decimal]:
    """Billed monthly run rate per resource id over the optimizer's bill window (ids without
    bills are left out)."""
    engine, cfg = ctx.engine(), settings(ctx.config)
    _, until = data_range(engine)
    if until is None:
        return {}
    found = bills(engine, ctx.config, cfg, until - timedelta(days=cfg.bill_days - 1), until)
    return {rid: found[rid].monthly() for rid in ids if rid in found}
