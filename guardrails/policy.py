"""Action policy as code, checked right before an approved proposal executes.

Default deny: an action type with no registered executor never runs. On top of that the config
can block action types outright (`approvals.blocked_actions`) and cap how many executions of one
action type may start per UTC day (`approvals.max_executions_per_day`, Cloud Custodian's
max-resources idea: a runaway loop of approvals cannot fan out into hundreds of changes).
The cap checked here fails a proposal early with its reason; the check that holds across
processes is `Ledger.begin_attempt`, which counts and takes the execution's start mark in one
write transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from guardrails.approvals import Proposal, executions_started
from guardrails.settings import GuardrailSettings
from warehouse.state.store import StateStore

__all__ = ["policy_problem"]


def policy_problem(
    config: GuardrailSettings,
    store: StateStore,
    proposal: Proposal,
    registered: Collection[str],
    now: datetime,
) -> str | None:
    """Why policy forbids executing `proposal` now, or None when it may run."""
    action = proposal.action
    if action not in registered:
        return f"no action {action!r} is registered (policy default: deny)"
    if action in config.approvals.blocked_actions:
        return f"action {action!r} is blocked by config (approvals.blocked_actions)"
    cap = config.approvals.max_executions_per_day
    with store.transaction() as conn:
        started = executions_started(conn, action, proposal.id, now)
    if started >= cap:
        return (
            f"{started} {action} execution(s) already started today; the "
            f"approvals.max_executions_per_day cap is {cap}"
        )
    return None
