"""Tests of tools/optimize."""
