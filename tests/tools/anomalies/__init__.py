"""Tests of tools/anomalies."""
