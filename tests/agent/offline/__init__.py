"""Tests of agent/offline."""
