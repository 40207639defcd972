"""The space of screened conditions: perturbation combinations × doses × contexts, enumerated
lazily in vectorised chunks so memory never depends on the number of combinations."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Chunk", "ConditionSpace"]


@dataclass(frozen=True)
class Chunk:
    """A block of conditions of one context.

    ``members`` index :attr:`ConditionSpace.names` (``-1`` pads lower orders), ``dose_index``
    indexes each member's dose list, ``doses`` holds the doses themselves, ``ids`` number every
    condition of the space once (0 … ``len(space) − 1``).
    """

    context: int
    members: np.ndarray  # (B, K) int
    dose_index: np.ndarray  # (B, K) int, -1 pads
    doses: np.ndarray  # (B, K) float, 0 pads
    ids: np.ndarray  # (B,) int64

    def __len__(self) -> int:
        return int(self.members.shape[0])

    @property
    def order(self) -> np.ndarray:
        return (self.members >= 0).sum(1)


@dataclass(frozen=True)
class ConditionSpace:
    """Every combination of ``min_order`` … ``max_order`` distinct perturbations of ``names``,
    each at every product of its members' doses, in every context.

    Parameters
    ----------
    names
        The perturbations screened (distinct).
    doses
        One dose list per name (same order); a combination takes every product of its
        members' lists.
    n_contexts
        Number of contexts (cell types …) each condition is screened in.
    """

    names: tuple[str, ...]
    doses: tuple[tuple[float, ...], ...]
    n_contexts: int = 1
    min_order: int = 1
    max_order: int = 2

    def __post_init__(self) -> None:
        if len(self.doses) != len(self.names):
            raise ValueError("ConditionSpace needs one dose list per name.")
        if any(len(d) == 0 for d in self.doses):
            empty = [n for n, d in zip(self.names, self.doses, strict=True) if not d]
            raise ValueError(f"No doses to screen for {empty[:10]}.")
        if not 1 <= self.min_order <= self.max_order:
            raise ValueError(
                f"Orders must satisfy 1 <= min_order <= max_order; got {self.min_order}, "
                f"{self.max_order}."
            )
        if self.max_order > len(self.names):
            raise ValueError(
                f"max_order={self.max_order} needs at least that many perturbations; "
                f"{len(self.names)} given."
            )
        if self.n_contexts < 1:
            raise ValueError("A screen needs at least one context.")

    def count(self, order: int) -> int:
        """Conditions of one order in one context: the elementary symmetric polynomial of the
        dose-list lengths (``C(n, k) m^k`` when every name has ``m`` doses)."""
        e = [1] + [0] * order
        for m in (len(d) for d in self.doses):
            for k in range(order, 0, -1):
                e[k] += e[k - 1] * m
        return e[order]

    def __len__(self) -> int:
        per_context = sum(self.count(k) for k in range(self.min_order, self.max_order + 1))
        return per_context * self.n_contexts

    def n_chunks(self, size: int) -> int:
        """How many blocks :meth:`chunks` yields for ``size``: each context's orders are cut
        apart, so an order of ``c`` conditions takes ``ceil(c / size)`` blocks."""
        return sum(n for _, _, _, n in self._groups(size))

    def chunk_conditions(self, size: int, start: int = 0, stop: int | None = None) -> int:
        """Conditions in blocks ``start`` … ``stop − 1`` of :meth:`chunks` (counted, not
        enumerated)."""
        stop = self.n_chunks(size) if stop is None else stop
        total = index = 0
        for _, _, count, n in self._groups(size):
            # the group's blocks are full but its last, which holds the remainder
            lo, hi = max(start, index), min(stop, index + n)
            if lo < hi:
                total += (hi - lo) * size - (size * n - count if hi == index + n else 0)
            index += n
        return total

    def _groups(self, size: int) -> Iterator[tuple[int, int, int, int]]:
        """``(context, order, conditions, blocks)`` in enumeration order."""
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}.")
        counts = {k: self.count(k) for k in range(self.min_order, self.max_order + 1)}
        for ctx in range(self.n_contexts):
            for order, count in counts.items():
                yield ctx, order, count, -(-count // size)

    def chunks(self, size: int, *, start: int = 0, stop: int | None = None) -> Iterator[Chunk]:
        """Yield the space in blocks of at most ``size`` conditions (one context per block).

        ``start`` / ``stop`` select blocks ``start`` … ``stop − 1`` of the full sequence (see
        :meth:`n_chunks`) with the boundaries and ids they have there: a shard of a screen
        predicts exactly the blocks the whole screen would. Groups of blocks before ``start``
        are skipped by their counts without being enumerated.
        """
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}.")
        stop = self.n_chunks(size) if stop is None else stop
        width = max(len(d) for d in self.doses)
        table = np.zeros((len(self.names), width))
        valid = np.zeros((len(self.names), width), dtype=bool)
        for i, d in enumerate(self.doses):
            table[i, : len(d)] = d
            valid[i, : len(d)] = True
        next_id = index = 0
        for ctx, order, count, n_group in self._groups(size):
            if index >= stop:
                return
            first_id = next_id
            if index + n_group <= start:
                next_id += count
                index += n_group
                continue
            grid = np.array(list(itertools.product(range(width), repeat=order)), dtype=np.int64)
            per_combo = grid.shape[0]
            combos = itertools.combinations(range(len(self.names)), order)
            n_block = max(1, size // per_combo)
            buf: list[tuple[np.ndarray, np.ndarray]] = []
            n_buf = 0
            while index < stop:
                block = np.array(list(itertools.islice(combos, n_block)), dtype=np.int64)
                if block.size == 0:
                    break
                members = np.repeat(block, per_combo, axis=0)
                dose_idx = np.tile(grid, (block.shape[0], 1))
                ok = valid[members, dose_idx].all(1)
                members, dose_idx = members[ok], dose_idx[ok]
                buf.append((members, dose_idx))
                n_buf += members.shape[0]
                while n_buf >= size and index < stop:
                    members, dose_idx = (np.concatenate(a) for a in zip(*buf, strict=True))
                    if index >= start:
                        yield self._chunk(ctx, members[:size], dose_idx[:size], table, next_id)
                    next_id += size
                    index += 1
                    buf = [(members[size:], dose_idx[size:])]
                    n_buf -= size
            if n_buf and index < stop:
                members, dose_idx = (np.concatenate(a) for a in zip(*buf, strict=True))
                if index >= start:
                    yield self._chunk(ctx, members, dose_idx, table, next_id)
                index += 1
            next_id = first_id + count

    def _chunk(
        self, ctx: int, members: np.ndarray, dose_idx: np.ndarray, table: np.ndarray, start: int
    ) -> Chunk:
        n, k = members.shape
        pad = self.max_order - k
        doses = table[members, dose_idx]
        if pad:
            members = np.concatenate([members, np.full((n, pad), -1, dtype=np.int64)], 1)
            dose_idx = np.concatenate([dose_idx, np.full((n, pad), -1, dtype=np.int64)], 1)
            doses = np.concatenate([doses, np.zeros((n, pad))], 1)
        return Chunk(ctx, members, dose_idx, doses, np.arange(start, start + n, dtype=np.int64))

    def describe(self, members: Sequence[int], dose_index: Sequence[int]) -> tuple[str, str]:
        """``("A+B", "1+0.5")`` for one condition (members in sorted order)."""
        from ..data import Condition

        # canonical (sorted) member order, as the registry writes conditions
        used = sorted(
            ((m, d) for m, d in zip(members, dose_index, strict=True) if m >= 0),
            key=lambda u: self.names[u[0]],
        )
        cond = Condition(
            tuple(self.names[m] for m, _ in used), tuple(self.doses[m][d] for m, d in used)
        )
        return cond.perturbation, cond.dose

    @property
    def n_per_context(self) -> int:
        return len(self) // self.n_contexts

    def __repr__(self) -> str:
        return (
            f"ConditionSpace({len(self.names)} perturbations, orders {self.min_order}–"
            f"{self.max_order}, {self.n_contexts} context(s), {len(self):,} conditions)"
        )
