"""What a dead execution left behind: its targets re-read through the action's own read path.

When an executor dies mid-execution (`kill -9`, a lost host: its lease lapses, see
`guardrails.heartbeat`), the ledger asks `observe` before closing the proposal. Actions whose
change is a state switch (EC2 and RDS stop / start) know the state each target is in once the
change applied, so they can say for each target whether it was applied, and the result is
recorded as the execution would have recorded it: `changed`, and the `rollback` that
`rollback_action` proposes. Any other action re-reads its targets through its own
`Action.observe` (for a `TargetAction`: its `drift`), which reports what differs from the plan
with the outcome still unknown.

Nothing here changes a resource: it only describes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guardrails.approvals import Observed, Proposal
from tools.actions import aws_ec2, aws_rds, base, ec2, rds
from tools.context import ToolContext
from tools.vtags.tagback_models import settings_for

__all__ = ["SWITCHES", "Switch", "observe"]

Reader = Callable[[ToolContext, Sequence[Mapping[str, Any]]], dict[str, str]]


@dataclass(frozen=True)
class Switch:
    """An action moving each target's `state` (as the plan saw it) to `after` (transitional
    states first, the settled one last), reversed by `reverse`; `read` gives id → live state."""

    provider: str
    key: str
    ident: str
    after: tuple[str, ...]
    reverse: str
    read: Reader

    def observe(self, ctx: ToolContext, proposal: Proposal) -> Observed:
        """Per target: still as planned, applied, gone, or changed to something else."""
        targets: list[Mapping[str, Any]] = proposal.params[self.key]
        live = self.read(ctx, targets)
        changed: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        lines = []
        for t in targets:
            rid, saw = str(t[self.ident]), str(t["state"])
            now = live.get(rid)
            line = self._line(rid, saw, now)
            lines.append(line)
            if now in self.after:
                changed.append({**t, "before": saw, "state": now})
            else:
                failed.append({self.ident: rid, "error": line})
        if not changed:
            return Observed(applied=False, changes=lines, result={"failed": failed})
        return Observed(applied=True, changes=lines, result=self._result(proposal, changed, failed))

    def _line(self, rid: str, saw: str, now: str | None) -> str:
        if now is None:
            return f"{rid} no longer exists: not changed by this execution"
        if now == saw:
            return f"{rid} is still {now}, as the proposal saw: the change was not applied"
        if now in self.after:
            return f"{rid} is now {now}, the proposal saw {saw}: the change was applied"
        return f"{rid} is now {now}, the proposal saw {saw}: changed, but not by this action"

    def _result(
        self, proposal: Proposal, changed: list[dict[str, Any]], failed: list[dict[str, str]]
    ) -> dict[str, Any]:
        """The execution's own result shape; the reverse expects each target settled."""
        settled = [{**c, "state": self.after[-1]} for c in changed]
        how = f"{self.reverse} on the {len(changed)} {self.key} found changed"
        rollback = base.undo(proposal, self.reverse, self.key, settled, how, drop=("before",))
        return base.outcome(self.provider, changed, failed, ident=self.ident, rollback=rollback)


def _ec2_states(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    found = aws_ec2.describe_by_region(
        "ec2", settings_for(ctx), targets, "instance_id", aws_ec2.describe
    )
    return {rid: live.state for rid, live in found.items()}


def _rds_states(ctx: ToolContext, targets: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    found = aws_ec2.describe_by_region(
        "rds", settings_for(ctx), targets, "db_instance_id", aws_rds.describe_dbs
    )
    return {name: live.status for name, live in found.items()}


_EC2 = ("AWS", "instances", "instance_id")
_RDS = ("AWS", "db_instances", "db_instance_id")
SWITCHES: dict[str, Switch] = {
    ec2.STOP: Switch(*_EC2, ("stopping", "stopped"), ec2.START, _ec2_states),
    ec2.START: Switch(*_EC2, ("pending", "running"), ec2.STOP, _ec2_states),
    rds.STOP: Switch(*_RDS, ("stopping", "stopped"), rds.START, _rds_states),
    rds.START: Switch(*_RDS, ("starting", "available"), rds.STOP, _rds_states),
}
"""The state-switch actions, by the change they make (a `rollback_action` by `params.action`)."""


def observe(ctx: ToolContext, proposal: Proposal) -> Observed | None:
    """What the targets of `proposal` show now that its executor died (None: the action cannot
    re-read them). Errors reading the cloud propagate: the ledger records the outcome as
    unknown, with the error."""
    switch = SWITCHES.get(base.effective_action(proposal))
    if switch is not None:
        return switch.observe(ctx, proposal)
    action = base.registered(base.effective_action(proposal))
    return action.observe(ctx, proposal) if action is not None else None
