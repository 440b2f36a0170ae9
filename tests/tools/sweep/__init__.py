"""Tests of tools/sweep."""
