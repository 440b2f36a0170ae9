"""What every tool receives: config, the warehouse, the state store and ledger, and a clock.

Tools never open connections or read the environment themselves; the runtime builds one context
per run (tests build one over a temporary home), which keeps tools pure and testable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from guardrails.approvals import Ledger
from guardrails.audit import AuditLog
from tools.query import Engine
from tools.settings import ToolSettings
from warehouse.state.store import StateStore

__all__ = ["ToolContext"]


@dataclass
class ToolContext:
    """Injected dependencies of tool calls within one run.

    `warehouse` opens (once) the connection the read tools use; for the agent it is read-only
    with external file and network access disabled.
    """

    config: ToolSettings
    store: StateStore
    ledger: Ledger
    audit: AuditLog
    clock: Callable[[], datetime]
    warehouse: Callable[[], duckdb.DuckDBPyConnection]
    actor: str = "agent"
    run_id: str | None = None
    config_path: Path | None = None
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        """The query engine `warehouse.url` selects (DuckDB over `warehouse()` by default)."""
        if self._engine is None:
            self._engine = self.config.warehouse.open(self.warehouse)
        return self._engine

    def today(self) -> date:
        return self.clock().date()
