"""`finops notify`: send a test alert to one channel, and show the delivery log."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated

import typer

from agent.cli.common import JsonOpt
from agent.cli.render import out_console, print_json, table
from agent.context import AppContext
from tools.notify.config import NotifyConfig
from tools.notify.ledger import DeliveryRecord, recent_deliveries
from tools.notify.service import DeliveryReport, NotifyError, probe_alert, send
from warehouse.clock import utc_now

__all__ = ["notify_config", "register", "send_probe"]

notify_app = typer.Typer(help="Alerts: test a channel, show recent deliveries.")


def notify_config(app: AppContext) -> NotifyConfig:
    """The `notify:` section (all defaults, no channels, while the config has none)."""
    value = getattr(app.config, "notify", None)
    return value if isinstance(value, NotifyConfig) else NotifyConfig()


def send_probe(
    app: AppContext,
    channel: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] | None = None,
    config: NotifyConfig | None = None,
) -> DeliveryReport:
    """Send a harmless test alert to `channel`, bypassing routing (still ledgered and audited).

    `config` defaults to the app's `notify:` section.
    """
    config = config or notify_config(app)
    if channel not in config.channels:
        valid = ", ".join(sorted(config.channels)) or "none configured under notify.channels"
        raise NotifyError(f"unknown channel {channel!r}; channels: {valid}")
    store = app.state_store()
    try:
        alert = probe_alert(channel, clock(), currency=app.config.reporting_currency)
        return send(
            alert,
            config,
            store,
            clock=clock,
            sleep=sleep,
            environ=os.environ if environ is None else environ,
            channels=[channel],
        )
    finally:
        store.close()


@notify_app.command("test")
def test_command(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="Channel name under notify.channels.")],
    as_json: JsonOpt = False,
) -> None:
    """Send a test alert to CHANNEL now (with the configured retries); exit 1 if it failed."""
    report = send_probe(ctx.obj, channel)
    result = report.results[0]
    if as_json:
        print_json(report)
    if result.status != "sent":
        raise NotifyError(f"test alert to {channel} {result.status}: {result.detail}")
    if not as_json:
        out_console.print(
            f"{channel} ({result.type}): sent after {result.attempts} attempt(s): {result.detail}",
            markup=False,
        )


def _rows(records: list[DeliveryRecord]) -> list[list[str]]:
    return [
        [
            r.updated_at[:16].replace("T", " "),
            r.status,
            r.channel,
            f"{r.severity} {r.kind}{' (resolve)' if r.event == 'resolve' else ''}: {r.title}",
            str(r.attempts),
            r.last_error or "",
        ]
        for r in records
    ]


@notify_app.command("log")
def log_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many deliveries.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Recent alert deliveries, newest first: status, channel, attempts, last error."""
    app: AppContext = ctx.obj
    store = app.state_store()
    try:
        records = recent_deliveries(store, limit)
    finally:
        store.close()
    if as_json:
        print_json({"deliveries": [r.model_dump(mode="json") for r in records]})
        return
    head = ["updated (UTC)", "status", "channel", "alert", "tries", "last error"]
    out_console.print(table("Alert deliveries, newest first", head, _rows(records), right=[4]))


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")
