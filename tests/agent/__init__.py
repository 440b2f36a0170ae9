"""Tests of the agent layer: surfaces, runtime, offline planner."""
