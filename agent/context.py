"""The application context handed to every command: home, config and lazy connections.

The state database (ledger, audit log, meter, checkpoints) is the home's `state.db`, or the
PostgreSQL server named by `state.url`; `state_store()` and `checkpointer()` open the right one.

Nothing opens a connection or reads the environment at import time; commands ask the context,
and tests build one directly with a temporary home.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from agent.config import Config, Home, load_config
from warehouse.db import connect, resolve_warehouse_path
from warehouse.state.store import StateStore, resolve_state_target

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    from warehouse.engines import Engine

__all__ = ["AppContext"]


@dataclass
class AppContext:
    """Home folder, validated config, and the warehouse connection once opened."""

    home: Home
    config: Config
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

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

    @property
    def state_target(self) -> str:
        """The state database: `state.url` when it is PostgreSQL, else the SQLite file path."""
        return resolve_state_target(self.config.state.url, self.home.state_path)

    def state_store(self) -> StateStore:
        """A new migrated connection to the state database (the caller closes it)."""
        self.home.ensure()
        return StateStore(self.state_target)

    def checkpointer(self) -> SqliteSaver | PostgresSaver:
        """LangGraph's checkpointer on the state database (close with `saver.conn.close()`)."""
        self.home.ensure()
        from agent.runtime.checkpoints import open_checkpointer

        return open_checkpointer(self.state_target)

    def engine(self) -> Engine:
        """The query engine `warehouse.url` selects (DuckDB on the home's file by default;
        Spark reads the lakehouse tables named in `warehouse.tables`)."""
        if self._engine is None:
            self._engine = self.config.warehouse.open(self.warehouse)
        return self._engine

    def close(self) -> None:
        self._engine = None  # a DuckDB engine holds the connection closed here
        if self._con is not None:
            self._con.close()
            self._con = None
