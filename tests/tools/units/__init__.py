"""Tests of tools/units."""
