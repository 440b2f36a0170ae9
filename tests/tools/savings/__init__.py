"""Tests of tools/savings."""
