"""The application context handed to every command: home, config and lazy connections.

Nothing opens a connection or reads the environment at import time; commands ask the context,
and tests build one directly with a temporary home.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from agent.config import Config, Home, load_config
from tools.query import DuckDBEngine
from warehouse.db import connect, resolve_warehouse_path

__all__ = ["AppContext"]


@dataclass
class AppContext:
    """Home folder, validated config, and the warehouse connection once opened."""

    home: Home
    config: Config
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    @classmethod
    def create(cls, home: Path | None = None, config_path: Path | None = None) -> AppContext:
        h = Home(home, config_path)
        return cls(home=h, config=load_config(h))

    @property
    def warehouse_path(self) -> Path:
        return resolve_warehouse_path(self.config.warehouse.url, self.home.warehouse_path)

    def warehouse(self) -> duckdb.DuckDBPyConnection:
        """The migrated warehouse connection (created on first use)."""
        if self._con is None:
            self.home.ensure()
            self._con = connect(self.warehouse_path)
        return self._con

    def engine(self) -> DuckDBEngine:
        return DuckDBEngine(self.warehouse())

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
