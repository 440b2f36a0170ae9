"""agent/serve."""
