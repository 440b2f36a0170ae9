"""tools/forecast."""
