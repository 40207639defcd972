"""Combination screens: a pool of gene pairs, featurised from their members, so that every
surrogate, acquisition and the replay loop work on pairs as they do on genes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ..featurize import GeneFeatures

__all__ = ["pair_features"]


def pair_features(
    features: GeneFeatures,
    pairs: Sequence[str] | Sequence[tuple[str, str]],
    *,
    singles: pd.Series | None = None,
    sep: str = "+",
) -> GeneFeatures:
    """Features of gene pairs from those of their members, one row per pair named ``A+B``.

    Each row is ``[x_A + x_B, x_A ⊙ x_B, s_A + s_B, s_A s_B, m_A + m_B]``: the sum carries what
    the members do alone, the elementwise product lets a linear surrogate weigh *interactions*
    between the members' annotations (a bilinear form on a diagonal), ``s`` is a member's
    single-gene result (0 where it was not measured) and ``m`` whether it was. All are
    symmetric, so ``A+B`` and ``B+A`` get the same row. The result is a
    :class:`~phenocast.featurize.GeneFeatures` keyed by pair name, which
    :class:`~phenocast.design.ActiveLoop` and :func:`~phenocast.design.propose` take as is.

    Parameters
    ----------
    features
        Gene features of the members.
    pairs
        ``"A+B"`` names (split on ``sep``) or ``(A, B)`` tuples; a pair listed twice, a gene
        paired with itself and members without features are refused by name.
    singles
        Single-gene results (index = gene), e.g. the screen's single knockouts.
    """
    from ..featurize import GeneFeatures

    members = [tuple(p.split(sep)) if isinstance(p, str) else tuple(p) for p in pairs]
    bad = [p for p in members if len(p) != 2 or p[0] == p[1]]
    if bad:
        raise ValueError(
            f"Each pair needs two different genes (as 'A{sep}B' or (A, B)); got {bad[:5]}."
        )
    names = [f"{a}{sep}{b}" for a, b in members]
    canon = [frozenset(p) for p in members]
    seen: set[frozenset[str]] = set()
    dup = []
    for name, c in zip(names, canon, strict=True):
        if c in seen:
            dup.append(name)
        seen.add(c)
    if dup:
        raise ValueError(f"Pairs listed more than once (in either order): {dup[:10]}.")
    genes = sorted({g for p in members for g in p})
    missing = features.missing(genes)
    if missing:
        raise ValueError(
            f"{len(missing)} pair member(s) have no features ({features.method}): "
            f"{missing[:20]}. Drop their pairs or give features that cover them."
        )
    x = features.rows(genes).astype(np.float64)
    pos = {g: i for i, g in enumerate(genes)}
    a = np.array([pos[p[0]] for p in members])
    b = np.array([pos[p[1]] for p in members])
    s = pd.Series(0.0, index=genes)
    m = pd.Series(0.0, index=genes)
    if singles is not None:
        known = pd.to_numeric(singles, errors="coerce").dropna()
        known = known[known.index.isin(genes)]
        s.loc[known.index] = known.to_numpy()
        m.loc[known.index] = 1.0
    sv, mv = s.to_numpy(), m.to_numpy()
    matrix = np.column_stack(
        [x[a] + x[b], x[a] * x[b], sv[a] + sv[b], sv[a] * sv[b], mv[a] + mv[b]]
    )
    return GeneFeatures(
        tuple(names),
        matrix.astype(np.float32),
        source=features.source,
        method=f"pairs of {features.method}: sum, product, singles",
    )
