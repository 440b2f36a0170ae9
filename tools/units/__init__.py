"""tools/units."""
