"""tools/budgets."""
