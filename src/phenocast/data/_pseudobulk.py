"""Mean profiles per condition and context (covariates + time), computed with one sparse product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._ondisk import is_on_disk, row_blocks

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ._registry import Registry

__all__ = ["CONTROL", "Pseudobulk", "context_of", "group_means", "pseudobulk"]

CONTROL = "control"


@dataclass(frozen=True)
class Pseudobulk:
    """Per-(condition, context) mean profiles.

    Attributes
    ----------
    groups
        One row per group: ``condition`` (canonical key, ``"control"`` for controls),
        ``components`` and ``doses`` (tuples), ``context`` (tuple of covariate values, then time),
        ``n_cells``.
    means
        ``(n_groups, n_vars)`` mean profiles, rows aligned with ``groups``.
    """

    groups: pd.DataFrame
    means: np.ndarray

    def control_means(self) -> dict[tuple, np.ndarray]:
        """Context → mean control profile."""
        rows = self.groups.index[self.groups["condition"] == CONTROL]
        return {self.groups.at[i, "context"]: self.means[i] for i in rows}


def context_of(frame: pd.DataFrame, registry: Registry) -> list[tuple]:
    """The context of each row: its covariate values (as str), then its time if registered."""
    cols = list(registry.covariate_keys)
    parts = [frame[c].astype(str).to_numpy() for c in cols]
    if registry.time_key is not None:
        parts.append(pd.to_numeric(frame[registry.time_key]).to_numpy(dtype=float))
    if not parts:
        return [()] * len(frame)
    return list(zip(*parts, strict=True))


def group_means(x: object, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean rows of ``x`` per integer label ``0..L-1``; returns (means, counts).

    Rows labelled ``-1`` belong to no group. ``x`` may be on disk
    (:func:`phenocast.data.read`): it is then read once, block by block.
    """
    labels = np.asarray(labels)
    n_groups = int(labels.max()) + 1 if labels.size else 0
    keep = np.flatnonzero(labels >= 0)
    ind = sp.csr_matrix((np.ones(keep.size), (labels[keep], keep)), shape=(n_groups, labels.size))
    counts = np.asarray(ind.sum(1)).ravel()
    if is_on_disk(x):  # one sequential pass, a block at a time
        sums = np.zeros((n_groups, int(x.shape[1])))  # type: ignore[attr-defined]
        for start, stop, block in row_blocks(x, dense=False):
            part = ind[:, start:stop] @ block
            sums += part.toarray() if sp.issparse(part) else np.asarray(part)
        return sums / counts[:, None], counts
    sums = ind @ x
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    return sums / counts[:, None], counts


def pseudobulk(adata: AnnData, registry: Registry, *, rows: np.ndarray | None = None) -> Pseudobulk:
    """Average the registered matrix of ``adata`` per condition and context; with ``rows`` (a
    boolean mask), of those cells only (the matrix is still read in one pass, so a subset of
    an on-disk AnnData needs no copy)."""
    conds = registry.parse_frame(adata.obs)
    ctx = context_of(adata.obs, registry)
    keys = [(c.key, k) for c, k in zip(conds, ctx, strict=True)]
    series = pd.Series(keys, dtype=object)
    if rows is not None:  # the other cells get code -1 (factorize's code for a missing value)
        series = series.where(np.asarray(rows, dtype=bool))
    codes, uniques = pd.factorize(series)
    first: dict[int, int] = {}
    for i, code in enumerate(codes):
        if code >= 0:
            first.setdefault(int(code), i)
    means, counts = group_means(registry.matrix(adata), codes)
    rows = []
    for g in range(len(uniques)):
        c = conds[first[g]]
        rows.append(
            {
                "condition": c.key,
                "components": c.components,
                "doses": c.doses,
                "context": ctx[first[g]],
                "n_cells": int(counts[g]),
            }
        )
    return Pseudobulk(pd.DataFrame(rows), means.astype(np.float64))
