"""The `finops` command line (Typer).

Global options choose the home folder and config; each command lives in its own module and is
registered here. Failures print one line to stderr and exit non-zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.context import AppContext
from agent.errors import FinopsError
from agent.render import err_console

__all__ = ["app", "main"]

app = typer.Typer(
    name="finops",
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
    ctx.obj = AppContext.create(home, config)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from agent import (
        cli_agent,
        cli_anomalies,
        cli_budgets,
        cli_collect,
        cli_demo,
        cli_eval,
        cli_events,
        cli_forecast,
        cli_ingest,
        cli_notify,
        cli_optimize,
        cli_savings,
        cli_serve,
        cli_spend,
        cli_sweep,
        cli_tags,
        cli_units,
    )

    for module in (
        cli_ingest,
        cli_spend,
        cli_demo,
        cli_agent,
        cli_tags,
        cli_units,
        cli_notify,
        cli_anomalies,
        cli_optimize,
        cli_savings,
        cli_forecast,
        cli_budgets,
        cli_sweep,
        cli_collect,
        cli_events,
        cli_serve,
        cli_eval,
    ):
        module.register(app)


_register()


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
