"""The action workflow's nodes: wait for the decision, re-validate, execute once.

The decision itself is taken in the approvals ledger (`finops approve`, a Slack click); resuming
this graph only wakes it up. `revalidate` claims the proposal in the ledger (approved → executing,
one winner across processes, refused when expired or when the hash changed) and re-checks policy
and the target's current state; `execute` performs the change at most once, guarded by a second
ledger mark so a crash mid-execution is never retried. While the action runs, a heartbeat thread
renews the execution's lease (`guardrails.heartbeat`), so however long it takes it is never
declared dead; when an executor did die, `observe` re-reads its targets for `Ledger.fail_stale`,
which records what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.types import interrupt

from agent.runtime.state import ActionState
from guardrails.approvals import Observed, Proposal
from guardrails.heartbeat import Heartbeat
from guardrails.policy import policy_problem
from tools.actions import recovery
from tools.context import ToolContext
from tools.registry import ToolRegistry

__all__ = ["ActionNodes", "card"]


def card(p: Proposal) -> dict[str, Any]:
    """What the approver is shown (and what the interrupt carries)."""
    return {
        "proposal_id": p.id,
        "action": p.action,
        "target": p.target,
        "params": p.params,
        "summary": p.summary,
        "evidence": p.evidence,
        "expected_monthly_saving": str(p.expected_monthly_saving),
        "currency": p.currency,
        "risk": p.risk,
        "rollback": p.rollback,
        "owner": p.owner,
        "expires_at": p.expires_at.isoformat(),
        "action_hash": p.action_hash,
    }


@dataclass
class ActionNodes:
    registry: ToolRegistry
    ctx: ToolContext
    executor: str = "finops"

    def await_decision(self, state: ActionState) -> dict[str, Any]:
        """Pause until woken for this proposal; a wake-up meant for another one is ignored."""
        pid = state["proposal_id"]
        shown = card(self.ctx.ledger.get(pid))
        while True:
            value = interrupt(shown)
            if isinstance(value, dict) and value.get("proposal_id") == pid:
                return {}

    def revalidate(self, state: ActionState) -> dict[str, Any]:
        """Claim the approved proposal (one winner) and re-check policy and the target."""
        ledger = self.ctx.ledger
        pid = state["proposal_id"]
        ledger.expire_due()
        claimed = ledger.claim(pid, self.executor)
        if claimed is None:
            # another caller claimed it and is re-validating it: only the claimer goes on
            status = ledger.get(pid).status
            return {"decision": "claimed_elsewhere" if status == "executing" else status}
        with self._lease(pid):
            problem = policy_problem(
                self.ctx.config, self.ctx.store, claimed, self.registry.actions, self.ctx.clock()
            )
            if problem is None:
                problem = self.registry.actions[claimed.action].precheck(self.ctx, claimed)
        if problem:
            ledger.finish(pid, ok=False, result={"error": f"re-validation failed: {problem}"})
            return {"decision": "failed"}
        return {"decision": "executing"}

    @staticmethod
    def route(state: ActionState) -> Literal["execute", "__end__"]:
        return "execute" if state.get("decision") == "executing" else "__end__"

    def execute(self, state: ActionState) -> dict[str, Any]:
        """Perform the change once and record the result with its rollback."""
        ledger = self.ctx.ledger
        pid = state["proposal_id"]
        if not ledger.begin_attempt(pid):
            # another process is executing it, or crashed while doing so: never run it again
            return {"decision": ledger.get(pid).status}
        proposal = ledger.get(pid)
        if self.ctx.config.approvals.dry_run:
            outcome = {"dry_run": True, "would": proposal.summary}
            ledger.finish(pid, ok=True, result=outcome)
            return {"decision": "done", "outcome": outcome}
        try:
            with self._lease(pid):
                outcome = self.registry.actions[proposal.action].execute(self.ctx, proposal)
        except Exception as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
            ledger.finish(pid, ok=False, result=outcome)
            return {"decision": "failed", "outcome": outcome}
        ledger.finish(pid, ok=True, result=outcome)
        return {"decision": "done", "outcome": outcome}

    def _lease(self, proposal_id: str) -> Heartbeat:
        """The heartbeat renewing this process's lease on `proposal_id` while it works on it."""
        interval = self.ctx.config.approvals.heartbeat_interval()
        renew = self.ctx.ledger.renew
        return Heartbeat(lambda: renew(proposal_id), interval, name=f"lease-{proposal_id}")

    def observe(self, proposal: Proposal) -> Observed | None:
        """What a dead execution's targets show now, through its action's own read path (the
        observer `Ledger.fail_stale` calls); None for an action type this registry does not
        run, or that cannot re-read its targets."""
        if proposal.action not in self.registry.actions:
            return None
        return recovery.observe(self.ctx, proposal)
