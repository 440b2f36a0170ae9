"""The two terminals every surface writes to: results on stdout, progress and logs on stderr."""

from __future__ import annotations

from rich.console import Console

__all__ = ["err_console", "out_console"]

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
