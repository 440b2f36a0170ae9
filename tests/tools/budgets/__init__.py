"""Tests of tools/budgets."""
