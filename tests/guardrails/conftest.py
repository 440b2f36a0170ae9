"""The audit suites' fixtures: a SQLite state store, a controllable clock and the audit log over
them (a suite that needs another store, e.g. PostgreSQL, defines its own `store`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrails.audit import AuditLog
from tests.helpers.agent import Clock
from warehouse.state.store import StateStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Path) -> Iterator[StateStore]:
    s = StateStore(db)
    yield s
    s.close()


@pytest.fixture
def log(store: StateStore, clock: Clock) -> AuditLog:
    return AuditLog(store, clock)
