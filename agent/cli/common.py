"""What several command modules share: the `--json` option and the agent runtime of a command.

Kept light: the runtime (LangGraph, model clients) is imported when a command asks for it, so a
module importing this one still starts at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent.context import AppContext

if TYPE_CHECKING:
    from agent.runtime.runner import Runtime

__all__ = ["JsonOpt", "runtime"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def runtime(ctx: typer.Context) -> Runtime:
    """The agent runtime over the command's home and config; the caller closes it."""
    from agent.runtime.runner import Runtime

    app: AppContext = ctx.obj
    return Runtime(app)
