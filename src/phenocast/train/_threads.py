"""How many CPU threads a fit trains with: set for a block, or chosen by timing minibatches.

Extra torch threads pay off on large minibatches when cores are free, and cost many times
what they bring when other processes keep the cores busy (threads spin-waiting for one
another): neither the machine's load nor its speed can be read from the work size alone, so
a long fit times a few of its own minibatches at one thread and at every core
(:class:`ThreadProbe`) and trains the rest with the faster.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch

__all__ = [
    "PROBE_ELEMENTS",
    "PROBE_MIN_STEPS",
    "PROBE_STEPS",
    "ThreadProbe",
    "threads",
]

#: Minibatches timed per thread count (after one untimed minibatch that starts its threads).
PROBE_STEPS = 5
#: A fit of fewer planned minibatches (``max_epochs`` × per epoch) is not probed: the probe's
#: few minibatches at a slow thread count would cost too large a share of it.
PROBE_MIN_STEPS = 100
#: Values per minibatch (rows × genes) below which a fit is not probed: too little work for a
#: second thread to pay off (64 cells × 1,024 genes).
PROBE_ELEMENTS = 1 << 16
#: A thread count whose timed minibatch takes this many times the first count's median is
#: abandoned at once (its threads are waiting for busy cores).
_GIVE_UP = 3.0


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run the block with torch using ``n`` CPU threads (``None``: leave as is); restore."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class ThreadProbe(pl.Callback):
    """Time the first training minibatches at each thread count of ``candidates`` and train
    the rest of the fit with the fastest (wall seconds per row, median of ``steps``).

    Each count first runs one untimed minibatch (its threads start); a count whose timed
    minibatch takes :data:`_GIVE_UP` times the first count's median is abandoned at once.
    These minibatches train the model as usual: only the thread count differs, which changes
    floating-point rounding, not the computation. Inactive (``chosen`` stays the current
    count) off the CPU or with several processes. ``chosen`` and ``timings`` (seconds per row
    per count) say what it found.
    """

    def __init__(self, candidates: Sequence[int], *, steps: int = PROBE_STEPS) -> None:
        self.candidates = list(dict.fromkeys(int(c) for c in candidates))
        self.steps = int(steps)
        self.timings: dict[int, list[float]] = {c: [] for c in self.candidates}
        self.chosen: int | None = None
        self._index = 0  # the candidate being timed
        self._done = 0  # minibatches run at it, the untimed one included
        self._start = 0.0

    def on_fit_start(self, trainer: pl.Trainer, plan: Any) -> None:
        from lightning.pytorch.accelerators import CPUAccelerator

        if trainer.world_size > 1 or not isinstance(trainer.accelerator, CPUAccelerator):
            self.chosen = torch.get_num_threads()

    def on_train_batch_start(self, trainer: pl.Trainer, plan: Any, batch: Any, idx: int) -> None:
        if self.chosen is not None:
            return
        n = self.candidates[self._index]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, plan: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        if self.chosen is not None:
            return
        seconds = time.perf_counter() - self._start
        n = self.candidates[self._index]
        self._done += 1
        if self._done > 1:  # the first minibatch at a count starts its threads
            self.timings[n].append(seconds / max(len(batch), 1))
        first = self.timings[self.candidates[0]]
        slow = (
            self._index > 0
            and self.timings[n]
            and self.timings[n][-1] > _GIVE_UP * (statistics.median(first))
        )
        if self._done > self.steps or slow:
            self._index, self._done = self._index + 1, 0
            if self._index == len(self.candidates):
                self._choose()

    def _choose(self) -> None:
        medians = {n: statistics.median(t) for n, t in self.timings.items() if t}
        self.chosen = min(medians, key=medians.__getitem__)
        torch.set_num_threads(self.chosen)
