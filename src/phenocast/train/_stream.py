"""Minibatches streamed from a matrix too large to hold densely: block shuffling.

The rows a model trains on are cut into contiguous blocks of ``block_rows``. Every epoch the
block order is shuffled; ``window`` blocks are read at once (sequential reads, one block at a
time), their rows shuffled together and cut into minibatches. Under DDP each rank takes every
``world``-th block of the epoch's order and all ranks yield the same number of minibatches (a
rank with fewer rows re-reads its first blocks); validation splits the rows evenly instead.

A perturbed cell's control partner (its basal state, see :class:`PairedBatches`) is a random
control of the same context among the window's rows and a fixed pool of up to ``pool`` controls
per context read once at the start, so nothing but the window and the pool is in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["BlockBatches"]


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BlockBatches:
    """Minibatches of ``rows`` of ``matrix`` read in shuffled contiguous blocks.

    Parameters
    ----------
    matrix
        The values, in memory or on disk (anything :func:`phenocast.data.take_rows` reads);
        rows are read as contiguous runs.
    fields
        Per-row tensors over *all* rows of the matrix (components, doses, covariates, ...);
        each minibatch takes its rows of them.
    make
        Builds a minibatch from keyword tensors (the fields, ``x`` and, when pairing,
        ``basal_x``).
    rows
        Sorted row indices this loader serves (e.g. the training rows).
    batch_size, shuffle, seed
        Minibatch size; shuffle blocks and rows (anew every epoch, from ``seed`` and the epoch);
        ``shuffle=False`` reads in order (validation).
    block_rows, window
        Rows per block and blocks read at once.
    context, is_control, pool
        With ``context`` (per-row integer) and ``is_control`` (per-row bool), every minibatch
        gets ``basal_x``: for a perturbed cell a random control of its context from the window
        or the control pool (``pool`` controls per context, read once), else the cell itself.
    extra
        ``extra(x)`` → dict of further per-row tensors computed from the values (e.g. library
        sizes), added to each minibatch.
    rank_world
        ``(rank, world size)``; ``None`` reads them from ``torch.distributed`` when it is
        initialised (DDP), else ``(0, 1)``.
    """

    def __init__(
        self,
        matrix: Any,
        fields: dict[str, torch.Tensor | None],
        make: Callable[..., Any],
        *,
        rows: np.ndarray,
        batch_size: int,
        shuffle: bool,
        seed: int,
        block_rows: int = 4096,
        window: int = 4,
        context: np.ndarray | None = None,
        is_control: np.ndarray | None = None,
        pool: int = 256,
        extra: Callable[[torch.Tensor], dict[str, torch.Tensor]] | None = None,
        rank_world: tuple[int, int] | None = None,
    ) -> None:
        self.matrix, self.fields, self.make = matrix, fields, make
        self.rows = np.asarray(rows, dtype=np.int64)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.block_rows, self.window = int(block_rows), max(1, int(window))
        self.extra = extra
        self.rank_world = rank_world
        self.epoch = 0
        self.blocks = [
            self.rows[i : i + self.block_rows] for i in range(0, self.rows.size, self.block_rows)
        ]
        self.context = None if context is None else np.asarray(context, dtype=np.int64)
        self.is_control = None if is_control is None else np.asarray(is_control, dtype=bool)
        self._pool_x: np.ndarray | None = None
        self._pool_ctx: np.ndarray | None = None
        if self.context is not None and self.is_control is not None:
            self._build_pool(pool)

    # ------------------------------------------------------------------ the control pool
    def _build_pool(self, per_context: int) -> None:
        """Read up to ``per_context`` random controls of each context once."""
        assert self.context is not None and self.is_control is not None
        rng = np.random.default_rng(self.seed + 7)
        ctrl = np.flatnonzero(self.is_control)
        picked = []
        for c in np.unique(self.context[ctrl]):
            here = ctrl[self.context[ctrl] == c]
            take = min(per_context, here.size)
            picked.append(np.sort(rng.choice(here, take, replace=False)))
        rows = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
        self._pool_x = self._take(rows)
        self._pool_ctx = self.context[rows]

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Dense ``float32`` rows (sorted), read as contiguous runs."""
        from ..data import take_rows

        return take_rows(self.matrix, rows, max_gap=64)

    # ------------------------------------------------------------------ epochs
    def _epoch_blocks(self, epoch: int) -> list[np.ndarray]:
        """This rank's blocks of the epoch, in the order they are read.

        Shuffled, the epoch's block order is dealt round-robin to the ranks; in order
        (validation), each rank takes one contiguous share of the rows.
        """
        rank, world = self.rank_world or _rank_world()
        if not self.shuffle:
            mine = np.array_split(self.rows, world)[rank] if world > 1 else self.rows
            return [mine[i : i + self.block_rows] for i in range(0, mine.size, self.block_rows)]
        blocks = self.blocks
        if world > 1 and len(blocks) < 2 * world:  # too few blocks to share: cut finer
            blocks = [b for b in np.array_split(self.rows, 2 * world) if b.size]
        order = np.random.default_rng([self.seed, epoch]).permutation(len(blocks))
        return [blocks[i] for i in order[rank::world]]

    def __len__(self) -> int:
        """Minibatches per epoch of this rank. Shuffled under DDP, the same on every rank
        (ranks step in lockstep): ``ceil(ceil(n / world) / batch_size)``, a rank whose blocks
        hold fewer rows re-reading its first ones, as torch's DistributedSampler pads."""
        rank, world = self.rank_world or _rank_world()
        if world == 1:
            return math.ceil(self.rows.size / self.batch_size)
        if not self.shuffle:
            return math.ceil(np.array_split(self.rows, world)[rank].size / self.batch_size)
        return math.ceil(math.ceil(self.rows.size / world) / self.batch_size)

    def _windows(self, blocks: list[np.ndarray], *, pad: bool) -> Iterator[np.ndarray]:
        """The sorted rows of each window of ``window`` blocks; with ``pad``, start over."""
        i = 0
        while blocks:
            if i >= len(blocks):
                if not pad:
                    return
                i = 0
            yield np.sort(np.concatenate(blocks[i : i + self.window]))
            i += self.window

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch
        self.epoch += 1
        _, world = self.rank_world or _rank_world()
        rng = np.random.default_rng([self.seed, epoch, 1])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        n_batches, done = len(self), 0
        blocks = self._epoch_blocks(epoch)
        carry_rows = np.zeros(0, dtype=np.int64)
        carry_x: np.ndarray | None = None
        for rows in self._windows(blocks, pad=world > 1 and self.shuffle):
            if done >= n_batches:
                return
            x = self._read_after(carry_x, rows)
            if carry_x is not None and carry_rows.size:
                rows = np.concatenate([carry_rows, rows])
            pool = self._partner_pool(rows, x)
            order = rng.permutation(rows.size) if self.shuffle else np.arange(rows.size)
            stop = rows.size // self.batch_size * self.batch_size
            for b in range(0, stop, self.batch_size):
                if done >= n_batches:
                    return
                yield self._batch(rows, x, order[b : b + self.batch_size], gen, pool)
                done += 1
            carry_rows, carry_x = rows[order[stop:]], x[order[stop:]]
        if done < n_batches and carry_rows.size and carry_x is not None:
            pool = self._partner_pool(carry_rows, carry_x)
            yield self._batch(carry_rows, carry_x, np.arange(carry_rows.size), gen, pool)

    def _read_after(self, carry: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """The values of ``carry`` (the previous window's rows left over) followed by those of
        ``rows``, read into one array: a window is large, so it is never copied once read."""
        if carry is None or not len(carry):
            return self._take(rows)
        from ..data import take_rows

        out = np.empty((len(carry) + rows.size, carry.shape[1]), dtype=np.float32)
        out[: len(carry)] = carry
        take_rows(self.matrix, rows, max_gap=64, out=out[len(carry) :])
        return out

    def _batch(
        self,
        rows: np.ndarray,
        x: np.ndarray,
        pick: np.ndarray,
        gen: torch.Generator,
        pool: tuple[np.ndarray, ...] | None,
    ) -> Any:
        idx = torch.from_numpy(rows[pick])
        fields = {k: (None if v is None else v[idx]) for k, v in self.fields.items()}
        xb = torch.from_numpy(x[pick])
        fields["x"] = xb
        if self.extra is not None:
            fields.update(self.extra(xb))
        if pool is not None:
            fields["basal_x"] = self._partners(rows, pick, xb, gen, pool)
        return self.make(**fields)

    def _partner_pool(self, rows: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The controls a window's cells may be paired with — the window's own and the fixed
        pool — sorted by context: their values, contexts, and the sorted order (once per
        window, not per minibatch)."""
        if self._pool_x is None:
            return None
        assert self.context is not None and self.is_control is not None
        assert self._pool_ctx is not None
        win_ctrl = np.flatnonzero(self.is_control[rows])
        cand_x = np.concatenate([x[win_ctrl], self._pool_x]) if win_ctrl.size else self._pool_x
        cand_ctx = np.concatenate([self.context[rows[win_ctrl]], self._pool_ctx])
        order = np.argsort(cand_ctx, kind="stable")
        return cand_x, order, cand_ctx[order]

    def _partners(
        self,
        rows: np.ndarray,
        pick: np.ndarray,
        xb: torch.Tensor,
        gen: torch.Generator,
        pool: tuple[np.ndarray, ...],
    ) -> torch.Tensor:
        """For each perturbed cell a random control of its context (window or pool)."""
        assert self.context is not None and self.is_control is not None
        cand_x, order, sorted_ctx = pool
        ctx = self.context[rows[pick]]
        lo = np.searchsorted(sorted_ctx, ctx, side="left")
        hi = np.searchsorted(sorted_ctx, ctx, side="right")
        count = hi - lo
        u = torch.rand(len(pick), generator=gen).numpy()
        choice = lo + np.minimum((u * count).astype(np.int64), np.maximum(count - 1, 0))
        need = (count > 0) & ~self.is_control[rows[pick]]
        out = xb.clone()
        if need.any():
            src = order[choice[need]]
            out[torch.from_numpy(np.flatnonzero(need))] = torch.from_numpy(cand_x[src])
        return out
