"""Tiny timing helpers: median of repeated runs with a fresh setup each time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["median_seconds"]


def median_seconds(
    run: Callable[[T], object], setup: Callable[[], T], repeat: int = 3
) -> tuple[float, list[float]]:
    """Median wall time of `run(setup())` over `repeat` runs (setup is not timed)."""
    times = []
    for _ in range(repeat):
        state = setup()
        start = time.perf_counter()
        run(state)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times
