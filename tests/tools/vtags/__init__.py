"""Tests of tools/vtags."""
