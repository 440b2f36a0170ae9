"""Tests of warehouse/state."""
