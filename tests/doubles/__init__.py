"""Tests of doubles."""
