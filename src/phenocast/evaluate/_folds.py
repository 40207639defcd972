"""Variants of a task's folds: fewer folds, less training data, training or validation queries."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import context_of
from ._tasks import Fold, QueryGroup, Task, _query

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["first_folds", "subsample_groups", "training_groups", "validation_split"]


def first_folds(task: Task, n: int) -> Task:
    """The same task, keeping only its first ``n`` folds."""
    build = task.build

    def first(data_dir: Path | None) -> list[Fold]:
        return build(data_dir)[:n]

    return dataclasses.replace(task, build=first, description=f"{task.description}, first {n}")


def _groups(fold: Fold) -> tuple[np.ndarray, list[tuple], list[tuple]]:
    """Per training cell its (condition, context) group (``None`` for controls), the sorted
    groups, and each cell's context."""
    train, reg = fold.train, fold.registry
    contexts = context_of(train.obs, reg)
    groups = np.empty(train.n_obs, dtype=object)
    for i, (cond, ctx) in enumerate(zip(reg.parse_frame(train.obs), contexts, strict=True)):
        groups[i] = None if cond.is_control else (cond.key, ctx)
    return groups, sorted({g for g in groups if g is not None}, key=str), contexts


def subsample_groups(fold: Fold, fraction: float, *, seed: int = 0) -> tuple[AnnData, int, int]:
    """The fold's training data with ``fraction`` of its perturbed (condition, context) groups.

    Every control cell is kept. Subsets are nested: one permutation (``seed``) of the sorted
    groups, of which the first ``max(1, ⌊fraction · n + ½⌋)`` are kept. Returns the data, the
    number of groups kept and the number there were.
    """
    groups, uniq, _ = _groups(fold)
    if fraction >= 1.0:
        return fold.train, len(uniq), len(uniq)
    order = np.random.default_rng(seed).permutation(len(uniq))
    n_keep = max(1, math.floor(fraction * len(uniq) + 0.5))
    kept = {uniq[i] for i in order[:n_keep]}
    mask = np.array([g is None or g in kept for g in groups])
    return fold.train[mask].copy(), n_keep, len(uniq)


def training_groups(fold: Fold) -> list[QueryGroup]:
    """The fold's own training groups as queries: per context that has control cells, its
    perturbed conditions (observed means) predicted from that context's control cells."""
    groups, uniq, contexts = _groups(fold)
    is_ctrl = np.array([g is None for g in groups])
    out = []
    for ctx in sorted({g[1] for g in uniq}, key=str):
        in_ctx = np.array([c == ctx for c in contexts])
        if (in_ctx & is_ctrl).any():  # else no control cells to start from
            cols = fold.registry.condition_columns
            out.append(
                _query(fold.train, fold.registry, held_out=in_ctx & ~is_ctrl,
                       controls=in_ctx & is_ctrl, label_cols=cols)
            )  # fmt: skip
    return out


def validation_split(fold: Fold) -> tuple[AnnData, QueryGroup, str]:
    """The fold's training data without one more context's perturbed cells, and those cells
    as a query group (from that context's controls), and the context.

    The validation context is the next one after the fold's test context in sorted order
    (cyclically) of the first covariate, mimicking the fold's own split inside its training.
    """
    train, reg = fold.train, fold.registry
    key = reg.covariate_keys[0]
    contexts = sorted(train.obs[key].astype(str).unique())
    test_context = str(fold.groups[0].controls.obs[key].astype(str).iloc[0])
    after = [c for c in contexts if c > test_context] or contexts
    val_context = next(c for c in after if c != test_context)
    is_ctrl = np.array([c.is_control for c in reg.parse_frame(train.obs)])
    in_ctx = np.array([ctx[0] == val_context for ctx in context_of(train.obs, reg)])
    held = in_ctx & ~is_ctrl
    group = _query(
        train, reg, held_out=held, controls=in_ctx & is_ctrl, label_cols=reg.condition_columns
    )
    return train[~held].copy(), group, val_context
