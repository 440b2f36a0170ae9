"""tools/sweep."""
