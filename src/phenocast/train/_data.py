"""Splitting rows for early stopping (numpy only: no torch, no Lightning)."""

from __future__ import annotations

import numpy as np

__all__ = ["early_stopping_split"]


def early_stopping_split(
    groups: np.ndarray, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows held out for early stopping, stratified by group.

    ``fraction`` of every group with at least 4 rows (cells of one condition × context) is
    drawn at random; the rows of the smaller groups (bulk wells) are pooled and ``fraction``
    of them drawn together, so whole wells are held out and the validation loss tests
    conditions the model did not train on.

    Parameters
    ----------
    groups
        ``(n,)`` integer group code of each row (``0 .. G-1``).
    fraction
        Share held out (0: none).
    seed
        Seeds the draw.

    Returns
    -------
    train_rows, val_rows
        Sorted row indices.
    """
    codes = np.asarray(groups)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(codes), dtype=bool)
    if fraction > 0 and len(codes):
        small = []
        for g in range(int(codes.max()) + 1):
            rows = np.flatnonzero(codes == g)
            n_val = round(fraction * rows.size)
            if rows.size >= 4 and n_val:
                val[rng.choice(rows, n_val, replace=False)] = True
            elif rows.size < 4:
                small.append(rows)
        pool = np.concatenate(small) if small else np.zeros(0, dtype=int)
        n_val = round(fraction * pool.size)
        if n_val:
            val[rng.choice(pool, n_val, replace=False)] = True
    return np.flatnonzero(~val), np.flatnonzero(val)
