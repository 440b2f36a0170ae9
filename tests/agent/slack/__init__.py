"""Tests of agent/slack."""
