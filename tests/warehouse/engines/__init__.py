"""Tests of warehouse/engines."""
