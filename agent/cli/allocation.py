"""Bringing the virtual-tag allocation up to date before a command reads it, with progress.

Its own small module so that `finops spend` imports the allocation code (and Rich's progress
bar) only when a query actually groups or filters by a virtual tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.console import err_console

if TYPE_CHECKING:
    from agent.context import AppContext
    from tools.vtags.allocate import BuildResult

__all__ = ["refresh_allocation"]


def refresh_allocation(app: AppContext, *, force: bool = False, quiet: bool = False) -> BuildResult:
    """Bring the allocation up to date (rebuilds only when definitions or data changed); after a
    rebuild, the vocabulary catalog too (its virtual-tag values follow the allocation)."""
    from rich.progress import Progress

    from tools.vocab.catalog import refresh_after_change, refresh_summary
    from tools.vtags.allocate import ensure_allocation

    with Progress(console=err_console, transient=True, disable=quiet) as progress:
        task = progress.add_task("checking virtual tag allocation", total=None)
        result = ensure_allocation(
            app.engine(),
            app.config,
            force=force,
            on_step=lambda s: progress.update(task, description=s),
        )
        if result.rebuilt:
            progress.update(task, description="refreshing the vocabulary catalog")
            vocab = refresh_after_change(app.engine(), app.config)
            if vocab.error and not quiet:
                err_console.print(refresh_summary(vocab), markup=False)
        return result
