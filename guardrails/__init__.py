"""Guardrails: policy, approvals, self-budget and audit (built by the agent-core issue)."""
