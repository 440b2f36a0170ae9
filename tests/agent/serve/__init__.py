"""Tests of agent/serve."""
