"""Tests of tools/forecast."""
