"""tools/savings."""
