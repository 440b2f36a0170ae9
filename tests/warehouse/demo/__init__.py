"""Tests of warehouse/demo."""
