"""The vocabulary catalog: the warehouse's own names for everything a question can refer to."""
