"""Tests of tools/tickets."""
