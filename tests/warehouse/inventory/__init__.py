"""Tests of warehouse/inventory."""
