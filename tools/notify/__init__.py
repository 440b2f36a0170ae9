"""tools/notify."""
