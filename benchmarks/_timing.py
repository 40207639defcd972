"""Wall-clock and memory helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float, float]:
    """``fn()``'s result, median and first (cold) wall time over ``repeats`` calls."""
    times, out = [], None
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times), times[0]


def peak_memory_reset() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def matmul_ceiling(sizes: list[int], rows: int) -> float:
    """Rows/s through a plain batched matmul chain of layer ``sizes`` with GELU between
    (no model code): the ceiling a decoder of that size can reach on this machine."""
    import itertools

    import torch

    gen = torch.Generator().manual_seed(0)
    weights = [torch.randn(a, b, generator=gen) / a**0.5 for a, b in itertools.pairwise(sizes)]
    block = 8192
    x = torch.randn(block, sizes[0], generator=gen)
    with torch.no_grad():
        for w in weights:  # warm-up
            x = x @ w
        t0 = time.perf_counter()
        done = 0
        while done < rows:
            h = torch.randn(block, sizes[0], generator=gen)
            for i, w in enumerate(weights):
                h = h @ w
                if i < len(weights) - 1:
                    h = torch.nn.functional.gelu(h)
            done += block
        return done / (time.perf_counter() - t0)
