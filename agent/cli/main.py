"""The `finops` command line (Typer).

Global options choose the home folder and config. Each command group lives in its own module
under `agent/cli/` (parsing and rendering only) and is imported when that command runs, so a
short command never pays for the agent runtime, cloud SDKs or the HTTP server. Failures print one
line to stderr and exit non-zero.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter  # the click copy Typer vendors
from typer.core import TyperCommand, TyperGroup

from agent.console import err_console
from warehouse.errors import FinopsError

__all__ = ["app", "main"]

COMMANDS: tuple[tuple[str, str, str], ...] = (
    (
        "ingest",
        "agent.cli.ingest",
        "Ingest billing data into the FOCUS warehouse (one transaction; restated periods replace).",
    ),
    (
        "spend",
        "agent.cli.spend",
        "Spend totals and breakdowns (currency, period and scope on every figure).",
    ),
    (
        "demo",
        "agent.cli.demo",
        "Build the demo company's warehouse in FINOPS_HOME, print a spend overview, and show "
        "an idle-instance stop going through approval on a simulated AWS.",
    ),
    (
        "ask",
        "agent.cli.ask",
        "Ask the agent; it answers from the warehouse with tools, within its self-budget.",
    ),
    (
        "approve",
        "agent.cli.proposals",
        "Approve a proposal; once approved it is re-validated and executed at most once.",
    ),
    (
        "reject",
        "agent.cli.proposals",
        "Reject a proposal; nothing runs.",
    ),
    (
        "rollback",
        "agent.cli.proposals",
        "Propose the exact reverse of an executed action; it runs only after approval.",
    ),
    (
        "audit",
        "agent.cli.audit",
        "The append-only audit log: model calls, tool calls, proposals, decisions, executions.",
    ),
    (
        "proposals",
        "agent.cli.proposals",
        "Proposed actions and their status.",
    ),
    (
        "tickets",
        "agent.cli.tickets",
        "The local tickets table (tickets opened by approved proposals).",
    ),
    (
        "tags",
        "agent.cli.tags",
        "Virtual tags: allocation of every cost row to an owner.",
    ),
    (
        "vocab",
        "agent.cli.vocab",
        "The warehouse's vocabulary: every dimension's values with spend and date range.",
    ),
    (
        "units",
        "agent.cli.units",
        "Unit economics: usage metrics from CSV, cost per unit by virtual tag value.",
    ),
    (
        "notify",
        "agent.cli.notify",
        "Alerts: test a channel, show recent deliveries.",
    ),
    (
        "anomalies",
        "agent.cli.anomalies",
        "Cost anomalies: detection, root cause, feedback, mute windows.",
    ),
    (
        "recommend",
        "agent.cli.optimize",
        "Savings findings: idle resources, rightsizing, commitments; evidence and saving per "
        "month.",
    ),
    (
        "savings",
        "agent.cli.savings",
        "Realized savings of executed actions: estimated vs measured (baseline − actual) per "
        "resource, grouped by owner, action or month, with the evidence windows.",
    ),
    (
        "forecast",
        "agent.cli.forecast",
        "Month-end (or quarter-end) spend forecast with 80%/95% intervals, per scope.",
    ),
    (
        "budgets",
        "agent.cli.budgets",
        "Every budget: spend to date and period-end forecast against its amount and thresholds.",
    ),
    (
        "policy",
        "agent.cli.budgets",
        "Budgets and policies as code: test them against history.",
    ),
    (
        "sweep",
        "agent.cli.sweep",
        "One sweep; needs no LLM. Findings, proposals and alerts are recorded once each.",
    ),
    (
        "collect",
        "agent.cli.collect",
        "Collect cloud and cluster inventory with utilization (for idle and rightsizing).",
    ),
    (
        "events",
        "agent.cli.events",
        "Serve POST /v1/usage-events (JSON lines, OpenTelemetry GenAI attributes), GET "
        "/v1/runaway and GET /healthz; flag runaway agents within seconds. Ctrl-C or SIGTERM "
        "stops it after storing every buffered event.",
    ),
    (
        "serve",
        "agent.cli.serve",
        "Run the FinOps service: GET /healthz, the usage-event endpoint, the Slack app "
        "(Socket Mode by default, --http for POST /slack/events) and the scheduled jobs of "
        "`schedule:`. SIGTERM or Ctrl-C stops it gracefully (running job finished, events "
        "flushed), exit 0.",
    ),
    (
        "eval",
        "evals.cli",
        "Score the agent on the scenario suite (figures, tools, proposals, safety, cost) or on "
        "the question suite (correct / clarified / wrong on bills it has never seen).",
    ),
)
"""Every top-level command: (name, module that registers it, the help `finops --help` shows).

`tests/agent/cli/test_startup.py` checks this table against what the modules register."""


def _load(module_name: str) -> TyperGroup:
    """The commands `module_name` registers, as a click group (imported now, once)."""
    group = _LOADED.get(module_name)
    if group is None:
        sub = typer.Typer()
        importlib.import_module(module_name).register(sub)
        group = typer.main.get_group(sub)
        _LOADED[module_name] = group
    return group


_LOADED: dict[str, TyperGroup] = {}


class LazyGroup(TyperGroup):
    """The `finops` group: a command's module is imported only when that command runs.

    `finops --help` lists every command from `COMMANDS` (name, module, one-line help) without
    importing any of them; a test checks the table against what the modules register.
    """

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name, _m, _h in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        entry = next((c for c in COMMANDS if c[0] == cmd_name), None)
        if entry is None:
            return None
        name, module_name, help_text = entry
        if self._listing:
            return TyperCommand(name, help=help_text)
        return _load(module_name).get_command(ctx, name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="finops",
    cls=LazyGroup,
    help="Agentic FinOps: FOCUS cost warehouse, spend queries and an approval-gated agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="FINOPS_HOME", help="Home folder (default ./.finops)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (default HOME/finops.yaml).")
    ] = None,
) -> None:
    from agent.context import AppContext  # the config and connections, once a command runs

    ctx.obj = AppContext.create(home, config)
    ctx.call_on_close(ctx.obj.close)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning operator errors into one line and exit code 1."""
    try:
        code = app(args=argv, standalone_mode=False)
    except FinopsError as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except typer.Abort:
        raise SystemExit(1) from None
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "show"):
            exc.show()
            raise SystemExit(code) from None
        raise
    if isinstance(code, int) and code != 0:  # `typer.Exit(code)` from a command
        raise SystemExit(code)
