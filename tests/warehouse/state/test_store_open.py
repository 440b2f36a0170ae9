"""Several processes opening a brand-new state.db at the same moment all succeed (WAL switch)."""

from __future__ import annotations

import threading
from pathlib import Path

from warehouse.state.store import StateStore


def test_concurrent_first_opens_of_a_new_state_db(tmp_path: Path) -> None:
    for round_ in range(15):
        path = tmp_path / f"state-{round_}.db"
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []
        modes: list[str] = []

        def open_once(
            path: Path = path,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
            modes: list[str] = modes,
        ) -> None:
            barrier.wait()
            try:
                store = StateStore(path)
                modes.append(str(store.conn.execute("PRAGMA journal_mode").fetchone()[0]))
                store.close()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_once) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert modes == ["wal"] * 6
