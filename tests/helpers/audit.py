"""Filling an audit log for the audit suites."""

from __future__ import annotations

from guardrails.audit import AuditLog
from tests.helpers.agent import Clock


def fill(log: AuditLog, clock: Clock, n: int, actor: str = "agent") -> None:
    """`n` tool-call entries, one second apart."""
    for i in range(n):
        log.append("tool_call", actor, {"i": i, "tool": "spend_breakdown"}, run_id="r-1")
        clock.advance(seconds=1)
