"""Tests of tools/notify."""
