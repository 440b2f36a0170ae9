"""tools/spend."""
