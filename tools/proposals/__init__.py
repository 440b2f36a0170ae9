"""tools/proposals."""
