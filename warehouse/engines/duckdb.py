"""The embedded default engine: the DuckDB warehouse connection, SQL run as written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.engines.base import Params

__all__ = ["DuckDBEngine"]


@dataclass
class DuckDBEngine:
    """Queries are DuckDB's own dialect here: no transpilation, DuckDB binds the parameters."""

    con: duckdb.DuckDBPyConnection
    dialect: str = "duckdb"

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def query(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        if params is None:
            return self.con.execute(sql).fetchall()
        return self.con.execute(sql, params).fetchall()

    def tables(self) -> set[str]:
        rows = self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        return {str(r[0]) for r in rows}

    def execute(self, sql: str, params: Params = None) -> None:
        """Run the statement as written (DuckDB binds `params`)."""
        if params is None:
            self.con.execute(sql)
        else:
            self.con.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckDB transaction: every table the block builds appears at once, or none."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
