"""Acquisitions for combination screens: priors that only make sense over pairs — members that
are strong alone, members that already formed hit pairs — and a portfolio that has them as arms.

They read the pool's members and single results from :attr:`AcquisitionContext.pairs` (set by
:class:`~phenocast.design.ActiveLoop` and :func:`~phenocast.design.propose` when given a
:class:`~phenocast.design.PairPool`) and refuse to run without one.
"""

from __future__ import annotations

import numpy as np

from ._acquisition import AcquisitionContext, Selection, register_acquisition
from ._pairs import PairPool
from ._portfolio import Portfolio

__all__ = ["PAIR_ARMS", "PairNeighbours", "PairPortfolio", "StrongSingles"]

#: The pair portfolio's arms: both pair priors, a model of hits, a model of the mean, random.
PAIR_ARMS = ("strong-singles", "pair-neighbours", "hit-model", "greedy", "random")


def _pool(ctx: AcquisitionContext, name: str) -> PairPool:
    if not isinstance(ctx.pairs, PairPool):
        raise ValueError(
            f"{name} ranks pairs by their members: give the loop (or propose) a PairPool as "
            "its pool."
        )
    return ctx.pairs


def _rank(ctx: AcquisitionContext, keys: tuple[np.ndarray, ...], b: int) -> np.ndarray:
    """Positions among the candidates of the ``b`` best by ``keys`` (each higher-is-better,
    the first most important; remaining ties: pool order)."""
    return np.lexsort((ctx.candidates, *(-k for k in reversed(keys))))[:b]


@register_acquisition("strong-singles")
class StrongSingles:
    """Prior: pairs whose members are both strong alone, ranked by ``|s_A| · |s_B|`` (the
    members' single results). Strong single effects leave room for strong interactions, in
    either direction. Pairs with a member whose single was not measured come after every
    pair whose singles both were, ranked by the measured member's ``|s|``. Model-free.
    Cost O(m).
    """

    needs_model = False

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        pool = _pool(ctx, "strong-singles")
        names = ctx.names[ctx.candidates]
        ab = pool.members(names)
        s = np.r_[np.abs(pool.singles.to_numpy(dtype=float)), np.nan]  # -1 (unknown) → NaN
        sa, sb = s[ab[:, 0]], s[ab[:, 1]]
        both = np.nan_to_num(sa * sb, nan=-1.0)
        one = np.fmax(np.nan_to_num(sa, nan=-1.0), np.nan_to_num(sb, nan=-1.0))
        order = _rank(ctx, (both, one), batch_size)
        reasons = [
            f"strong singles: |{pool.genes[ab[k, 0]]}| {_fmt(sa[k])}, "
            f"|{pool.genes[ab[k, 1]]}| {_fmt(sb[k])}"
            if ab[k, 0] >= 0
            else "not a pair of the pool"
            for k in order
        ]
        return Selection(ctx.candidates[order], both[order], reasons)


@register_acquisition("pair-neighbours")
class PairNeighbours:
    """Exploit the pair graph (pairs are neighbours when they share a member): rank candidates
    by how often their members' measured pairs were hits.

    A measured pair is a hit when its value reaches the hit bar: the ``hit_quantile`` quantile
    of the values measured at the first call (in a replay, the initial random batch — an
    unbiased sample of the screen), kept for later calls: the quantile of *all* measured
    values rises as they fill with hits, and would stop counting a hub's later hits (a new
    screen needs :meth:`reset` or a new instance). Each gene's hit rate over the ``n``
    measured pairs it is a member of is shrunk towards the base rate ``p0`` (the share of
    measured pairs that are hits): ``(hits + k0 p0) / (n + k0)``, so one lucky pair does not
    make a hub. Candidates are ranked by the higher of their two members' rates, then the
    lower, then the surrogate's predicted value. The higher rate, not the sum: a hit pair
    makes both its members look like hubs, and two such partners of one hub would otherwise
    outrank the hub's own unmeasured pairs. Interaction maps have hub genes that interact
    with many partners; this finds the rest of a hub's partners. Cost O(n + m) plus the
    surrogate's prediction.
    """

    needs_model = True

    def __init__(self, *, hit_quantile: float = 0.9, k0: float = 4.0) -> None:
        if not 0 < hit_quantile < 1:
            raise ValueError(f"hit_quantile must be in (0, 1), got {hit_quantile}.")
        if k0 <= 0:
            raise ValueError(f"k0 must be > 0, got {k0}.")
        self.hit_quantile, self.k0 = hit_quantile, k0
        self.reset()

    def reset(self) -> None:
        """Forget the hit bar (a new screen)."""
        #: The value a measured pair must reach to count as a hit (set at the first call).
        self.bar: float | None = None

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        pool = _pool(ctx, "pair-neighbours")
        if self.bar is None:
            self.bar = float(np.quantile(ctx.y, self.hit_quantile))
        hit = ctx.y >= self.bar
        measured = pool.members(ctx.names[ctx.labelled])
        known = (measured >= 0).all(1)
        n_genes = len(pool.genes)
        # one slot past the genes for pairs outside the pool (member -1): no evidence
        count = np.bincount(measured[known].ravel(), minlength=n_genes + 1)[: n_genes + 1]
        hits = np.bincount(measured[known & hit].ravel(), minlength=n_genes + 1)[: n_genes + 1]
        p0 = float(hit[known].mean()) if known.any() else 0.0
        rate = (hits + self.k0 * p0) / (count + self.k0)
        ab = pool.members(ctx.names[ctx.candidates])
        ra, rb = rate[ab[:, 0]], rate[ab[:, 1]]
        high, low = np.maximum(ra, rb), np.minimum(ra, rb)
        mean = ctx.prediction.mean
        order = _rank(ctx, (high, low, mean), batch_size)
        reasons = []
        for k in order:
            if high[k] > p0 and ab[k, 0] >= 0:
                g = ab[k, 0] if ra[k] >= rb[k] else ab[k, 1]
                reasons.append(
                    f"shares a member with hit pairs: {pool.genes[g]} in {hits[g]} of its "
                    f"{count[g]} measured pairs ≥ {self.bar:.3g} (shrunk rate {high[k]:.2f}, "
                    f"base {p0:.2f}; predicted {mean[k]:.3g})"
                )
            else:
                reasons.append(f"no hit neighbour; predicted value = {mean[k]:.3g}")
        return Selection(ctx.candidates[order], high[order], reasons)


@register_acquisition("pair-portfolio")
class PairPortfolio(Portfolio):
    """The :class:`~phenocast.design.Portfolio` with the pair arms :data:`PAIR_ARMS`
    (``strong-singles``, ``pair-neighbours``, ``hit-model``, ``greedy``, ``random``): each
    arm's share of a batch follows the hits of its own earlier picks in this screen."""

    def __init__(
        self,
        *,
        arms: tuple[str, ...] = PAIR_ARMS,
        hit_quantile: float = 0.9,
        prior: tuple[float, float] = (1.0, 1.0),
        seed: int | None = None,
    ) -> None:
        super().__init__(arms=arms, hit_quantile=hit_quantile, prior=prior, seed=seed)


def _fmt(v: float) -> str:
    return "not measured" if np.isnan(v) else f"{v:.3g}"
