"""tools/anomalies."""
