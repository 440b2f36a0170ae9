"""Evaluation scenarios and scorers (built by the evals issue)."""
