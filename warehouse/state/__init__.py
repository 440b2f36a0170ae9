"""warehouse/state."""
