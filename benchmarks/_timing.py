"""Wall-clock helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float, float]:
    """``fn()``'s result, median and first (cold) wall time over ``repeats`` calls."""
    times, out = [], None
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times), times[0]
