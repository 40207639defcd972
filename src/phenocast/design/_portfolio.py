"""An online portfolio of acquisitions: which strategy pays *in this screen* is learned from the
hits its own picks produced, batch by batch (Thompson sampling over arms)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

import numpy as np

from ._acquisition import AcquisitionContext, Selection, make_acquisition, register_acquisition

__all__ = ["DEFAULT_ARMS", "Portfolio"]

#: The portfolio's arms: a fixed prior (unmeasured essential genes), graph neighbours of hits,
#: a model of hits, a model of the mean, and unbiased exploration.
DEFAULT_ARMS = ("essential", "kg-exploit", "hit-model", "greedy", "random")
_ARM = re.compile(r"^portfolio arm (\S+) \(")


@register_acquisition("portfolio")
class Portfolio:
    """Thompson sampling over acquisition functions ("arms"), credited by the hits of their own
    picks in this screen.

    Each arm keeps a Beta posterior over the rate at which the genes *it* picked turned out to
    be successes — values in the screen's top ``1 − hit_quantile``, the bar estimated every
    cycle from the genes no exploiting arm chose (the initial batch and the random arm's picks,
    an unbiased sample of the screen; all measured genes while fewer than 10 are). Each slot of
    a batch goes to the arm whose posterior draw is largest (a fresh draw per slot), which fills
    it with its best-ranked gene not yet taken; so an arm's share of a batch is the posterior
    probability that it is the best arm: a strategy that keeps producing hits takes over the
    batch, one that stops (an exhausted prior list, a model that has run out of good guesses)
    loses it, and while the arms are indistinguishable — no hits anywhere — the batch stays
    spread over all of them, exploration included. Every pick's reason names its arm and that
    arm's record.

    Parameters
    ----------
    arms
        Acquisitions to choose between: registered names, plus ``"essential"`` (unmeasured
        essential genes only, ranked by the surrogate; the arm retires when they run out).
        An arm that cannot act on a cycle (no graph for ``kg-exploit``, no essential genes,
        a ``hit-model`` with all measured values tied) sits that cycle out.
    hit_quantile
        What counts as a success: at least this quantile of the screen (0.9, the top decile,
        the share ``hit-model`` calls hits). Not the screen's own hit rate (often 1 %): at 64
        genes a batch that would give well under one success per arm per cycle, too little to
        tell arms apart; the top decile gives several, and random picks succeed at 10 % by
        construction, the rate any arm must beat. The bar is fixed by an unbiased sample, not
        by the measured genes, whose top decile rises as they fill with hits and would make
        the arm that finds them look worse.
    prior
        ``(a, b)`` of every arm's Beta prior. Beta(1, 1), uniform: before any evidence every
        arm is equally likely to be the best, so the first batch is split evenly, and one
        batch of evidence (a few dozen picks) outweighs it. Nothing here was tuned on a
        screen.
    seed
        Seed of the draws (default: draws from the loop's random generator).

    Notes
    -----
    The portfolio remembers which arm picked which gene between calls (one instance per
    loop; :meth:`reset` forgets; :meth:`credit` tells it about picks made by an earlier
    instance, as :func:`~phenocast.design.propose` does from the results' ``reason`` column).
    Genes no arm picked — the initial random batch, other results — inform the arms' models
    and the success bar but credit no arm. Cost per cycle: the sum of the arms' costs, plus
    O(b × arms).
    """

    needs_model = True

    def __init__(
        self,
        *,
        arms: Sequence[str] = DEFAULT_ARMS,
        hit_quantile: float = 0.9,
        prior: tuple[float, float] = (1.0, 1.0),
        seed: int | None = None,
    ) -> None:
        arms = tuple(arms)
        if len(arms) < 2 or len(set(arms)) != len(arms):
            raise ValueError(f"arms must name at least two distinct acquisitions, got {arms}.")
        if "portfolio" in arms:
            raise ValueError("A portfolio cannot be one of its own arms; remove 'portfolio'.")
        if not 0 < hit_quantile < 1:
            raise ValueError(f"hit_quantile must be in (0, 1), got {hit_quantile}.")
        if len(prior) != 2 or min(prior) <= 0:
            raise ValueError(f"prior must be two positive numbers (a, b), got {prior}.")
        self.arms = arms
        self.hit_quantile = hit_quantile
        self.prior = (float(prior[0]), float(prior[1]))
        self.seed = seed
        self._acq = {a: make_acquisition(a) for a in arms if a != "essential"}
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forget which arm picked which gene (a new screen)."""
        self._arm_of: dict[str, str] = {}
        self._record: dict[str, tuple[int, int]] = {a: (0, 0) for a in self.arms}
        #: One dict per call: arm → genes it filled in that batch.
        self.allocations: list[dict[str, int]] = []

    def credit(self, picks: Mapping[str, str]) -> None:
        """Credit genes picked earlier — e.g. in the last lab cycle's proposals — to the arms
        that picked them (``gene → arm``), so the next call learns from their results.

        An arm that is not one of :attr:`arms` is refused by name.
        """
        unknown = sorted({a for a in picks.values() if a not in self.arms})
        if unknown:
            raise ValueError(f"Arm(s) {unknown} are not arms of this portfolio {self.arms}.")
        self._arm_of.update({str(g): a for g, a in picks.items()})

    @staticmethod
    def arms_in(reasons: Sequence[str]) -> list[str | None]:
        """The arm named by each reason this portfolio wrote (None for other reasons)."""
        return [m.group(1) if (m := _ARM.match(str(r))) else None for r in reasons]

    def record(self) -> dict[str, tuple[int, int]]:
        """Per arm: (successes, picks measured) as credited at the last call."""
        return dict(self._record)

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        rng = ctx.rng if self._rng is None else self._rng
        names = ctx.names[ctx.labelled]
        # credit: only this portfolio's own picks that have since been measured
        measured = set(names.tolist())
        self._arm_of = {g: a for g, a in self._arm_of.items() if g in measured}
        # the bar is the screen's top decile, estimated from the genes no exploiting arm chose
        # (the initial batch and the random arm's picks: an unbiased sample), so it does not
        # rise as the measurements fill with hits and make the arm that finds them look worse
        unbiased = np.array([self._arm_of.get(g, "random") == "random" for g in names.tolist()])
        ref = ctx.y[unbiased] if unbiased.sum() >= 10 else ctx.y
        threshold = np.quantile(ref, self.hit_quantile)
        success = dict(zip(names.tolist(), (ctx.y >= threshold).tolist(), strict=True))
        self._record = {a: (0, 0) for a in self.arms}
        for gene, arm in self._arm_of.items():
            s, n = self._record[arm]
            self._record[arm] = (s + int(success[gene]), n + 1)
        rankings: dict[str, Selection] = {}
        for arm in self.arms:
            ranked = self._ranking(arm, ctx, batch_size)
            if ranked is not None and len(ranked.indices):
                rankings[arm] = ranked
        live = list(rankings)
        a0, b0 = self.prior
        alpha = np.array([a0 + self._record[a][0] for a in live])
        beta = np.array([b0 + self._record[a][1] - self._record[a][0] for a in live])
        nxt = dict.fromkeys(live, 0)
        taken: set[int] = set()
        picks: list[tuple[int, str, float, str]] = []
        while len(picks) < batch_size and live:
            draw = rng.beta(alpha, beta)
            k = int(np.argmax(draw))
            arm = live[k]
            sel = rankings[arm]
            while nxt[arm] < len(sel.indices) and int(sel.indices[nxt[arm]]) in taken:
                nxt[arm] += 1
            if nxt[arm] == len(sel.indices):  # this arm has nothing left to offer
                live.pop(k)
                alpha, beta = np.delete(alpha, k), np.delete(beta, k)
                continue
            idx = int(sel.indices[nxt[arm]])
            taken.add(idx)
            picks.append((idx, arm, float(draw[k]), sel.reasons[nxt[arm]]))
            nxt[arm] += 1
        if len(picks) < batch_size:  # every arm's list is used up: fill at random
            rest = np.setdiff1d(ctx.candidates, np.fromiter(taken, int, len(taken)))
            for idx in rng.choice(rest, batch_size - len(picks), replace=False):
                picks.append((int(idx), "exhausted", float("nan"), "random (arms exhausted)"))
        counts = {a: sum(p[1] == a for p in picks) for a in self.arms}
        if len(picks) > sum(counts.values()):
            counts["exhausted"] = len(picks) - sum(counts.values())
        self.allocations.append(counts)
        reasons = []
        for _, arm, _, why in picks:
            if arm not in self.arms:
                reasons.append(why)
                continue
            s, n = self._record[arm]
            mean = (a0 + s) / (a0 + b0 + n)
            reasons.append(
                f"portfolio arm {arm} ({s}/{n} of its picks in the screen's top "
                f"{100 * (1 - self.hit_quantile):.0f} %, posterior mean {mean:.2f}; "
                f"{counts[arm]}/{batch_size} of this batch): {why}"
            )
        for idx, arm, _, _ in picks:
            if arm in self.arms:  # a fill-in after every arm ran dry credits none
                self._arm_of[str(ctx.names[idx])] = arm
        return Selection(
            np.array([p[0] for p in picks], dtype=np.int64),
            np.array([p[2] for p in picks]),
            reasons,
        )

    def _ranking(self, arm: str, ctx: AcquisitionContext, b: int) -> Selection | None:
        """The arm's top ``b`` candidates (enough: whatever the other arms take first, an arm
        never needs more than ``b`` of its own list), or None when it cannot act."""
        if arm == "essential":
            keep = np.array([n in ctx.essential for n in ctx.names[ctx.candidates]], dtype=bool)
            if not keep.any():
                return None
            pred = ctx.prediction
            sub = dataclasses.replace(
                ctx,
                candidates=ctx.candidates[keep],
                _prediction=type(pred)(pred.mean[keep], pred.epistemic[keep], pred.aleatoric[keep]),
            )
            top = make_acquisition("greedy").select(sub, min(b, int(keep.sum())))
            return Selection(top.indices, top.scores, [f"essential gene, {r}" for r in top.reasons])
        acq = self._acq[arm]
        if arm == "kg-exploit" and ctx.graph is None:
            return None
        try:
            return acq.select(ctx, min(b, len(ctx.candidates)))
        except ValueError:  # e.g. hit-model with every measured value tied
            return None
