"""Capabilities shared by the CLI, the agent and the sweep (spend queries first)."""
