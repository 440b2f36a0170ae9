"""Prompt text as files, loaded by the agent (built by the agent-core issue)."""
