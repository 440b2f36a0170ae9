"""Tests of tools/events."""
