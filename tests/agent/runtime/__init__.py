"""Tests of agent/runtime."""
