"""tools/tickets."""
