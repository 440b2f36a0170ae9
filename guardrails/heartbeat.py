"""An execution's heartbeat: a background thread that renews its lease while the action runs.

A cloud change can take far longer than the execution lease (an EBS snapshot waits up to 10
minutes per volume, an RDS stop up to 30). The executor therefore renews its lease every
`approvals.heartbeat_interval()` seconds (`Ledger.renew`) for as long as the action runs, and
`Ledger.fail_stale` only takes an execution as dead once its last renewal is older than the lease.
The thread never touches the cloud: if a renewal fails (the database is busy), it tries again at
the next beat; if the ledger answers that the execution is no longer this executor's (it was
declared dead meanwhile), it stops and says so (`lost`), and the executor's result is still
recorded when it finishes (`Ledger.finish`, late).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["Heartbeat", "executor_identity"]

log = logging.getLogger(__name__)


def executor_identity() -> str:
    """Who executes, as recorded on the proposal: `host:pid` (read at call time, so a forked
    process names itself)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Renews a lease every `interval` seconds from a daemon thread, between `__enter__` and
    `__exit__`.

    `renew` returns False when the lease is no longer ours (then the thread stops and `lost` is
    set); an exception from it is logged and retried at the next beat. The thread waits on its
    stop event between beats, so `__exit__` ends it at once.
    """

    def __init__(
        self,
        renew: Callable[[], bool],
        interval: float,
        *,
        name: str = "execution-heartbeat",
    ) -> None:
        self.renew = renew
        self.interval = interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop beating and wait for the thread (at most one renewal in flight)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                mine = self.renew()
            except Exception:  # a busy or briefly unreachable database: try at the next beat
                log.warning("renewing the execution lease failed; retrying", exc_info=True)
                continue
            if not mine:
                self.lost = True
                log.error("the execution lease was taken over; this executor's result is late")
                return
