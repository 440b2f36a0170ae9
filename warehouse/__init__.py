"""The data layer: FOCUS schema, migrations, DuckDB connection, ingest connectors, demo data."""
