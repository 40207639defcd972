"""Acquisition functions: which candidates to measure next, and why.

Each acquisition implements ``select(ctx, batch_size) -> Selection`` and is registered by name in
:data:`ACQUISITIONS`. Costs are given for ``m`` candidates, batch size ``b``, feature dimension
``d`` and a fitted surrogate; all are higher-is-better on the readout (hits are large values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..registries import NameRegistry
from ._surrogates import Prediction, Surrogate

if TYPE_CHECKING:  # pragma: no cover
    from ..knowledge import GeneGraph
    from ._pairs import PairPool

__all__ = [
    "ACQUISITIONS",
    "Acquisition",
    "AcquisitionContext",
    "Selection",
    "make_acquisition",
    "register_acquisition",
]


@dataclass
class AcquisitionContext:
    """What an acquisition may look at: the pool, what was measured, the fitted surrogate."""

    names: np.ndarray  # (n,) every pool member
    x: np.ndarray  # (n, d) features
    labelled: np.ndarray  # indices measured so far
    y: np.ndarray  # their measured values
    candidates: np.ndarray  # indices not yet measured
    surrogate: Surrogate | None
    rng: np.random.Generator
    graph: GeneGraph | None = None
    essential: frozenset[str] = frozenset()
    pairs: PairPool | None = None  # the pool's members and singles, in a combination screen
    _prediction: Prediction | None = field(default=None, repr=False)

    @property
    def prediction(self) -> Prediction:
        """The surrogate's prediction for the candidates (computed once)."""
        if self._prediction is None:
            if self.surrogate is None:
                raise ValueError("This acquisition needs a fitted surrogate model.")
            self._prediction = self.surrogate.predict(self.x[self.candidates])
        return self._prediction


@dataclass(frozen=True)
class Selection:
    """Chosen pool indices, best first, with the criterion's value and a reason for each."""

    indices: np.ndarray
    scores: np.ndarray
    reasons: list[str]


class Acquisition(Protocol):
    name: str
    needs_model: bool

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection: ...


ACQUISITIONS: NameRegistry[Callable[..., Acquisition]] = NameRegistry(
    "acquisition", name_attr="name"
)


def register_acquisition(name: str) -> Callable[[Any], Any]:
    """Class decorator adding an acquisition to :data:`ACQUISITIONS` under ``name`` (sets
    ``cls.name``; a name taken by another class is refused)."""
    return ACQUISITIONS.register(name)


def make_acquisition(name: str, **options: Any) -> Acquisition:
    """The acquisition registered as ``name``, built with ``options``."""
    return ACQUISITIONS[name](**options)


def _top(ctx: AcquisitionContext, score: np.ndarray, b: int, what: str) -> Selection:
    """The ``b`` candidates of highest score (ties: pool order)."""
    order = np.lexsort((ctx.candidates, -score))[:b]
    return Selection(
        ctx.candidates[order], score[order], [f"{what} = {score[i]:.3g}" for i in order]
    )


@register_acquisition("random")
class RandomAcquisition:
    """Uniformly at random. Cost O(m)."""

    needs_model = False

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        pick = ctx.rng.choice(len(ctx.candidates), batch_size, replace=False)
        return Selection(ctx.candidates[pick], np.zeros(len(pick)), ["random"] * len(pick))


@register_acquisition("greedy")
class Greedy:
    """Exploit: the highest predicted mean. Cost O(m d) for a linear surrogate."""

    needs_model = True

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        return _top(ctx, ctx.prediction.mean, batch_size, "predicted value")


@register_acquisition("ucb")
class UCB:
    """Upper confidence bound: mean + ``beta`` × epistemic standard deviation. Cost O(m d)."""

    needs_model = True

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        p = ctx.prediction
        return _top(ctx, p.mean + self.beta * np.sqrt(p.epistemic), batch_size, "UCB")


@register_acquisition("max-variance")
class MaxVariance:
    """Explore: the largest epistemic variance. Cost O(m d²)."""

    needs_model = True

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        return _top(ctx, ctx.prediction.epistemic, batch_size, "epistemic variance")


@register_acquisition("bald")
class BALD:
    """Mutual information between a candidate's readout and the model, for a Gaussian
    predictive: ½ log(1 + epistemic / aleatoric). Each candidate scored alone. Cost O(m d²)."""

    needs_model = True

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        p = ctx.prediction
        mi = 0.5 * np.log1p(p.epistemic / np.maximum(p.aleatoric, 1e-12))
        return _top(ctx, mi, batch_size, "mutual information (nats)")


@register_acquisition("batchbald")
class BatchBALD:
    """Joint batch information: greedily maximise the log-determinant of the batch's
    predictive covariance (epistemic covariance + noise), i.e. each pick is the candidate of
    largest variance conditional on the picks before it — so a batch is not near-duplicates.
    Cost O(b m c) where c is the cost of one covariance column (d for a linear surrogate)."""

    needs_model = True

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        assert ctx.surrogate is not None
        p = ctx.prediction
        cand_x = ctx.x[ctx.candidates]
        noise = np.maximum(p.aleatoric, 1e-12)
        cond = p.epistemic.copy()  # epistemic variance given the picks so far
        factors = np.zeros((len(cond), batch_size))
        picks: list[int] = []
        gains: list[float] = []
        for t in range(batch_size):
            score = 0.5 * np.log1p(cond / noise)
            score[picks] = -np.inf
            j = int(np.argmax(score))
            picks.append(j)
            gains.append(float(score[j]))
            # rank-one update of the conditional covariance (Cholesky of the batch's
            # observation covariance, observed with noise)
            col = ctx.surrogate.covariance_columns(cand_x, np.array([j]))[:, 0]
            col = col - factors[:, :t] @ factors[j, :t]
            new = col / np.sqrt(cond[j] + noise[j])
            factors[:, t] = new
            cond = np.maximum(cond - new**2, 0.0)
        idx = np.array(picks)
        return Selection(
            ctx.candidates[idx],
            np.array(gains),
            [f"joint information gain = {g:.3g} nats" for g in gains],
        )


@register_acquisition("coreset")
class Coreset:
    """Diversity: k-center greedy in feature space — each pick is the candidate farthest from
    everything measured or picked. Model-free. Cost O(b m d)."""

    needs_model = False

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        cand = ctx.x[ctx.candidates].astype(np.float64)
        dist = np.full(len(cand), np.inf)
        for start in range(0, len(ctx.labelled), 512):
            centres = ctx.x[ctx.labelled[start : start + 512]].astype(np.float64)
            d2 = (cand**2).sum(1)[:, None] - 2 * cand @ centres.T + (centres**2).sum(1)[None, :]
            dist = np.minimum(dist, np.sqrt(np.maximum(d2, 0)).min(1))
        sq = (cand**2).sum(1)
        picks, gaps = [], []
        for _ in range(batch_size):
            j = int(np.argmax(dist))
            picks.append(j)
            gaps.append(float(dist[j]))
            # |a − b|² = |a|² + |b|² − 2 a·b: one matrix-vector product per pick
            d_new = np.sqrt(np.maximum(sq + sq[j] - 2 * cand @ cand[j], 0.0))
            dist = np.minimum(dist, d_new)
        idx = np.array(picks)
        return Selection(
            ctx.candidates[idx], np.array(gaps), [f"distance to measured = {g:.3g}" for g in gaps]
        )


@register_acquisition("kg-exploit")
class GraphExploit:
    """Exploit the knowledge graph: rank candidates by the model's standardised prediction plus
    ``graph_weight`` × the share of their measured graph neighbours that are confirmed hits
    (the top ``top_fraction`` of measured values; edge-weighted, shrunk by ``k0`` so one
    weak edge counts little). Cost O(edges of the candidates + m d)."""

    needs_model = True

    def __init__(
        self, top_fraction: float = 0.05, graph_weight: float = 1.0, k0: float = 0.5
    ) -> None:
        if not 0 < top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}.")
        self.top_fraction, self.graph_weight, self.k0 = top_fraction, graph_weight, k0

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        if ctx.graph is None:
            raise ValueError("kg-exploit needs a gene graph (graph=...).")
        p = ctx.prediction
        n_hits = max(1, int(np.ceil(self.top_fraction * len(ctx.y))))
        order = np.argsort(-ctx.y, kind="stable")
        hit = np.zeros(len(ctx.y), dtype=bool)
        hit[order[:n_hits]] = True
        is_hit = dict(zip(ctx.names[ctx.labelled].tolist(), hit.tolist(), strict=True))
        evidence = np.zeros(len(ctx.candidates))
        source = [""] * len(ctx.candidates)
        for i, name in enumerate(ctx.names[ctx.candidates]):
            total = to_hits = best = 0.0
            for nb, w in ctx.graph.neighbours(name):
                flag = is_hit.get(nb)
                if flag is None:
                    continue
                total += w
                if flag:
                    to_hits += w
                    if w > best:
                        best, source[i] = w, nb
            evidence[i] = to_hits / (total + self.k0)
        z = (p.mean - p.mean.mean()) / max(float(p.mean.std()), 1e-12)
        sel = _top(ctx, z + self.graph_weight * evidence, batch_size, "score")
        pos = {c: k for k, c in enumerate(ctx.candidates)}
        reasons = []
        for idx in sel.indices:
            k = pos[idx]
            if evidence[k] > 0:
                reasons.append(
                    f"graph neighbour of hit {source[k]} (hit evidence {evidence[k]:.2f}, "
                    f"predicted z {z[k]:.2f})"
                )
            else:
                reasons.append(f"predicted value z = {z[k]:.2f} (no measured hit neighbour)")
        return Selection(sel.indices, sel.scores, reasons)


@register_acquisition("hit-model")
class HitModel:
    """Exploit with a model of *hits*, not of the mean: Bayesian ridge on the gene features
    plus an essential-gene indicator, fitted to whether a measured gene is in the top
    ``1 − hit_quantile`` of the values measured so far (a linear probability model), and the
    candidates of highest predicted hit probability are chosen. Screens are judged by their
    tail, and a regression of every value spends its fit on the bulk; the essential indicator
    is prior knowledge whose weight — positive, negative or none — is learned from the
    measurements. Cost O(n d² + d³) for n measured genes, then O(m d).
    """

    needs_model = False  # fits its own model on the augmented features

    def __init__(self, *, hit_quantile: float = 0.9, use_essential: bool = True) -> None:
        if not 0 < hit_quantile < 1:
            raise ValueError(f"hit_quantile must be in (0, 1), got {hit_quantile}.")
        self.hit_quantile, self.use_essential = hit_quantile, use_essential

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        from ._surrogates import BayesianRidge

        threshold = np.quantile(ctx.y, self.hit_quantile)
        label = (ctx.y >= threshold).astype(np.float64)
        if label.min() == label.max():
            raise ValueError(
                "hit-model needs measured genes on both sides of the hit threshold "
                f"({threshold:.3g}); all {len(ctx.y)} measured values are tied there."
            )
        ess = np.array([n in ctx.essential for n in ctx.names], dtype=np.float64)
        x = np.column_stack([ctx.x, ess]) if self.use_essential and ess.any() else ctx.x
        model = BayesianRidge().fit(x[ctx.labelled], label)
        prob = model.predict(x[ctx.candidates]).mean
        order = np.lexsort((ctx.candidates, -prob))[:batch_size]
        cand_ess = ess[ctx.candidates]
        shown = np.clip(prob, 0.0, 1.0)  # a linear probability model can step outside [0, 1]
        reasons = [
            f"predicted hit probability {shown[i]:.2f} (top {100 * (1 - self.hit_quantile):.0f} "
            f"% of measured ≥ {threshold:.3g})" + ("; essential gene" if cand_ess[i] else "")
            for i in order
        ]
        return Selection(ctx.candidates[order], prob[order], reasons)


@register_acquisition("essential-first")
class EssentialFirst:
    """The published heuristic: unmeasured essential genes first (ranked by the model when one
    is fitted, else at random), then the highest predicted values. Cost O(m)."""

    needs_model = True

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        mean = (
            ctx.prediction.mean
            if ctx.surrogate is not None
            else ctx.rng.random(len(ctx.candidates))
        )
        ess = np.array([n in ctx.essential for n in ctx.names[ctx.candidates]])
        order = np.lexsort((ctx.candidates, -mean, ~ess))[:batch_size]
        reasons = [
            "essential gene" if ess[i] else f"predicted value = {mean[i]:.3g}" for i in order
        ]
        return Selection(ctx.candidates[order], mean[order], reasons)
