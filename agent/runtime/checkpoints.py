"""LangGraph's checkpointer on the state database: `SqliteSaver` on the SQLite file (default) or
`PostgresSaver` (langgraph-checkpoint-postgres, psycopg 3) when the state target is a
`postgresql://` URL, so a proposal's paused action graph resumes in any replica.

Several replicas starting at once create the checkpoint tables once: `setup()` runs under a
PostgreSQL advisory lock.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from langgraph.checkpoint.sqlite import SqliteSaver

from warehouse.errors import ConfigError
from warehouse.state.store import is_postgres_url

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver

__all__ = ["open_checkpointer"]


def open_checkpointer(target: str) -> SqliteSaver | PostgresSaver:
    """A ready (tables created) checkpointer on `target`; close it with `saver.conn.close()`.

    Example: `open_checkpointer("postgresql://finops@db:5432/finops")` → a `PostgresSaver`;
    `open_checkpointer("/home/me/.finops/state.db")` → a `SqliteSaver` on that file.
    """
    if not is_postgres_url(target):
        saver = SqliteSaver(sqlite3.connect(target, check_same_thread=False, timeout=30))
        saver.setup()
        return saver
    try:
        from langgraph.checkpoint.postgres import PostgresSaver

        from warehouse.state.postgres import connect_checkpoint_conn, with_schema_lock
    except ImportError as exc:
        raise ConfigError(
            "state.url names a PostgreSQL server but langgraph-checkpoint-postgres is not "
            "installed; pip install 'agentic-finops[postgres]'"
        ) from exc
    conn = connect_checkpoint_conn(target)
    pg_saver = PostgresSaver(conn)
    with_schema_lock(conn, pg_saver.setup)
    return pg_saver
