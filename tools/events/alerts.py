"""Runaway flags as owner alerts (`tools.notify.service`), delivered off the flush path.

A flag opening sends a `trigger` alert of kind `runaway_agent` to the routes matching the agent's
team (`notify.routes`, e.g. `kind: runaway_agent`), its resolution a `resolve` alert with the
same dedupe key. `AlertWorker` delivers them on its own thread, so retries and slow channels never
delay a flush or a detection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from tools.events.flags import Flag
from tools.notify.config import NotifyConfig
from tools.notify.service import Alert, Figure, send
from warehouse.state.store import StateStore

__all__ = ["AlertWorker", "flag_alert"]

log = logging.getLogger("finops.events")

_RULES = {
    "spike": "spend rate far above its norm",
    "task_cost": "one task far above its usual cost",
    "new_agent_rate": "new agent over the burn-rate cap",
}


def _amount(evidence: dict[str, Any], key: str) -> Decimal | None:
    try:
        return Decimal(str(evidence[key])) if evidence.get(key) is not None else None
    except InvalidOperation:
        return None


def _figures(flag: Flag) -> list[Figure]:
    ev = flag.evidence
    window = f"last {ev.get('window_minutes', '?')} min"
    wanted = (
        ("Window spend", "window_spend_usd", window),
        ("Burn rate per hour", "burn_rate_usd_per_hour", None),
        ("Norm per hour", "norm_hourly_usd", f"median of {ev.get('norm_days', '?')} days"),
        ("Task cost", "task_cost_usd", flag.task_id),
        ("Task p95", "task_p95_usd", None),
    )
    figures = []
    for label, key, period in wanted:
        amount = _amount(ev, key)
        if amount is not None:
            figures.append(Figure(label=label, amount=amount, currency="USD", period=period))
    return figures


def flag_alert(flag: Flag, event: Literal["trigger", "resolve"], now: datetime) -> Alert:
    """The alert for a flag opening (`trigger`) or resolving (`resolve`)."""
    ev = flag.evidence
    ratio = _amount(ev, "ratio")
    evidence = [str(ev.get("reason", ""))] if ev.get("reason") else []
    evidence += [
        f"approve to disable the key: finops approve {pid} --by USER" for pid in flag.proposal_ids
    ]
    scope = {"agent_id": flag.agent_id, "rule": flag.rule}
    if flag.task_id:
        scope["task_id"] = flag.task_id
    return Alert(
        id=flag.id,
        kind="runaway_agent",
        severity="critical" if ratio is not None and ratio >= 10 else "warning",
        event=event,
        title=f"Runaway agent {flag.agent_id}: {_RULES.get(flag.rule, flag.rule)}"[:150],
        text=f"Flag {flag.id} ({flag.status}); detected {flag.latency_seconds:.1f} s after the "
        f"events arrived.",
        owner=flag.team,
        scope=scope,
        figures=_figures(flag)[:8],
        evidence=evidence[:10],
        source="finops-events",
        created_at=now,
    )


class AlertWorker:
    """Delivers flag alerts through `tools.notify.service.send` on a background thread."""

    def __init__(
        self, config: NotifyConfig, store: StateStore, clock: Callable[[], datetime]
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.queue: queue.Queue[tuple[Flag, Literal["trigger", "resolve"]] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="finops-events-alerts", daemon=True)

    def __call__(self, flag: Flag, event: Literal["trigger", "resolve"]) -> None:
        self.queue.put((flag, event))

    def start(self) -> AlertWorker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            flag, event = item
            try:
                send(
                    flag_alert(flag, event, self.clock()),
                    self.config,
                    self.store,
                    clock=self.clock,
                    sleep=time.sleep,
                )
            except Exception:
                log.exception("alert for runaway flag %s failed", flag.id)
