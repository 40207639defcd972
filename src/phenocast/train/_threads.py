"""How many CPU threads a fit trains with: set for a block, or chosen by timing minibatches.

Extra torch threads pay off on large minibatches when cores are free, and cost many times
what they bring when other processes keep the cores busy (threads spin-waiting for one
another): neither the machine's load nor its speed can be read from the work size alone, so
a long fit times a few of its own minibatches at one thread and at every core
(:class:`ThreadProbe`), trains on with the faster, and times again when the machine's load
changes.
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
    "PROBE_EVERY",
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
#: Values per minibatch (rows × genes) below which a fit is not probed (e.g. 32 cells × 2,048
#: genes). Down to about 64 × 1,000 values a second thread on free cores can still pay, and
#: the probe drops a stalled count after one minibatch, so probing costs little beside a busy
#: process (``benchmarks/run_scale.py``'s 10 k rows, its ``epoch-busy-auto`` step); on
#: minibatches much smaller than this the threads' start-up outweighs the arithmetic.
PROBE_ELEMENTS = 1 << 16
#: A thread count whose timed minibatch takes this many times the first count's median is
#: abandoned at once (its threads are waiting for busy cores); several threads chosen are
#: timed again when their recent minibatches take this many times that median.
_GIVE_UP = 3.0
#: The same for a count's first (untimed) minibatch, which also starts its threads.
_WARM_GIVE_UP = 10.0
#: Minibatches after which the thread counts are timed again (the machine's load changes);
#: the interval doubles each time the same count is chosen again.
PROBE_EVERY = 1000


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
    on with the fastest (wall seconds per row, median of ``steps``); time them again after
    ``every`` minibatches (doubling while the same count wins), and at once when the count
    chosen is several threads and its recent minibatches take :data:`_GIVE_UP` times the
    one-thread median (another process took the cores).

    Each count first runs one untimed minibatch (its threads start); a count whose timed
    minibatch takes :data:`_GIVE_UP` times the first count's median, or whose first one
    :data:`_WARM_GIVE_UP` times, is abandoned at once.
    These minibatches train the model as usual: only the thread count differs, which changes
    floating-point rounding, not the computation. Inactive (``chosen`` stays the current
    count) off the CPU or with several processes. ``chosen`` (``None`` while timing),
    ``timings`` (seconds per row per count, of the latest probe) and ``rounds`` (probes
    started) say what it found.
    """

    def __init__(
        self, candidates: Sequence[int], *, steps: int = PROBE_STEPS, every: int = PROBE_EVERY
    ) -> None:
        self.candidates = list(dict.fromkeys(int(c) for c in candidates))
        self.steps, self.every = int(steps), int(every)
        self.timings: dict[int, list[float]] = {}
        self.chosen: int | None = None
        self.rounds = 0
        self.active = True
        self._start = 0.0
        self._last: int | None = None
        self._interval = self.every
        self._restart()

    def _restart(self) -> None:
        self.timings = {c: [] for c in self.candidates}
        self.chosen = None
        self.rounds += 1
        self._index = 0  # the candidate being timed
        self._done = 0  # minibatches run at it, the untimed one included
        self._since = 0  # minibatches since the choice
        self._recent: list[float] = []  # the latest minibatches at the count chosen

    def on_fit_start(self, trainer: pl.Trainer, plan: Any) -> None:
        from lightning.pytorch.accelerators import CPUAccelerator

        if trainer.world_size > 1 or not isinstance(trainer.accelerator, CPUAccelerator):
            self.active = False
            self.chosen = torch.get_num_threads()

    def on_train_batch_start(self, trainer: pl.Trainer, plan: Any, batch: Any, idx: int) -> None:
        if not self.active:
            return
        if self.chosen is None:
            n = self.candidates[self._index]
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, plan: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        if not self.active:
            return
        per_row = (time.perf_counter() - self._start) / max(len(batch), 1)
        if self.chosen is not None:
            self._watch(per_row)
            return
        n = self.candidates[self._index]
        self._done += 1
        warm = self._done > 1  # the first minibatch at a count starts its threads
        if warm:
            self.timings[n].append(per_row)
        limit = _GIVE_UP if warm else _WARM_GIVE_UP
        slow = self._index > 0 and per_row > limit * self._base()
        if slow and not warm:
            self.timings[n].append(per_row)
        if self._done > self.steps or slow:
            self._index, self._done = self._index + 1, 0
            if self._index == len(self.candidates):
                self._choose()

    def _base(self) -> float:
        """The first count's median seconds per row in the latest probe."""
        return statistics.median(self.timings[self.candidates[0]])

    def _choose(self) -> None:
        medians = {n: statistics.median(t) for n, t in self.timings.items() if t}
        before, self.chosen = self._last, min(medians, key=medians.__getitem__)
        self._interval = self._interval * 2 if self.chosen == before else self.every
        self._last = self.chosen
        torch.set_num_threads(self.chosen)

    def _watch(self, per_row: float) -> None:
        """Time again after ``every`` minibatches, or at once when several threads chosen
        have become far slower than one thread was."""
        self._since += 1
        self._recent = [*self._recent[-(self.steps - 1) :], per_row]
        stalled = (
            self.chosen != self.candidates[0]
            and len(self._recent) == self.steps
            and statistics.median(self._recent) > _GIVE_UP * self._base()
        )
        if stalled or self._since >= self._interval:
            self._restart()
