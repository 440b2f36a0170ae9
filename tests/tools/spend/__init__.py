"""Tests of tools/spend."""
