"""Tests of tools/actions."""
