"""Tests of the warehouse layer: schema, migrations, the state store."""
