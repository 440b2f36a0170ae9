"""Tests of warehouse/ingest."""
