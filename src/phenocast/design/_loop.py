"""The active-learning loop, replayed against a measured screen.

Each cycle fits the surrogate on everything measured so far, asks the acquisition for a batch,
and reveals the batch's values from the oracle. What was chosen (and why), the hits found (as
precision and as recall over the whole screen) and the model's error on the unmeasured pool are
recorded per cycle. The oracle replays any screen: one- or two-sided, hits by threshold or by
its published list, genes listed twice merged; genes without features stay in the pool.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._acquisition import Acquisition, AcquisitionContext, make_acquisition
from ._pairs import PairPool
from ._surrogates import Surrogate, make_surrogate

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..featurize import GeneFeatures
    from ..knowledge import GeneGraph

__all__ = ["ActiveLoop", "LoopResult", "ReplayOracle"]


class ReplayOracle:
    """Reveals the measured values of a real screen, and knows which genes are its hits.

    Parameters
    ----------
    values
        Readout per gene (index = gene symbol). A gene listed more than once (real screens do:
        several guides, donors or an Excel-mangled symbol) is merged by the mean of its values,
        with a warning naming it.
    direction
        Which end of the readout is a hit: ``"up"`` (larger is stronger), ``"down"`` (smaller
        is stronger) or ``"both"`` (a two-sided screen: larger ``|value|`` is stronger). The
        loop learns and maximises the oriented score (``value``, ``-value`` or ``|value|``).
    hit_fraction
        Share of the screen's genes that count as hits: the top of the oriented score
        (default 0.01). Not with ``hits``.
    hits
        The screen's own hit list (gene names), used instead of a threshold. Listed genes the
        screen did not measure cannot be revealed; they are dropped with a warning.

    Attributes
    ----------
    raw
        The merged readout as the screen reports it.
    values
        The oriented score the loop learns (larger is a stronger hit).
    """

    def __init__(
        self,
        values: pd.Series,
        *,
        direction: Literal["up", "down", "both"] = "up",
        hit_fraction: float | None = None,
        hits: Iterable[str] | None = None,
    ) -> None:
        if direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}.")
        if hits is not None and hit_fraction is not None:
            raise ValueError(
                "Give either hit_fraction (hits = the top of the screen) or hits (the screen's "
                "own hit list), not both."
            )
        if hit_fraction is not None and not 0 < hit_fraction < 1:
            raise ValueError(f"hit_fraction must be in (0, 1), got {hit_fraction}.")
        vals = pd.to_numeric(values, errors="coerce")
        bad = vals.index[vals.isna()].tolist()
        if bad:
            raise ValueError(f"The oracle has no numeric value for {bad[:10]}.")
        vals = vals.astype(float)
        vals.index = vals.index.astype(str)
        if vals.index.duplicated().any():
            dup = sorted(set(vals.index[vals.index.duplicated()]))
            warnings.warn(
                f"The screen lists {len(dup)} gene(s) more than once: {dup[:10]}"
                f"{' ...' if len(dup) > 10 else ''}; each is merged by the mean of its values.",
                UserWarning,
                stacklevel=2,
            )
            vals = vals.groupby(level=0, sort=False).mean()
        self.raw = vals
        self.direction = direction
        oriented = {"up": vals, "down": -vals, "both": vals.abs()}[direction]
        self.values = oriented
        self.hit_fraction = 0.01 if hit_fraction is None and hits is None else hit_fraction
        self._hits: frozenset[str] | None = None
        if hits is not None:
            listed = {str(h) for h in hits}
            self._hits = frozenset(listed & set(vals.index))
            if not self._hits:
                raise ValueError(
                    f"None of the {len(listed)} genes of the hit list was measured in the "
                    "screen; check that both use the same gene symbols."
                )
            unmeasured = sorted(listed - self._hits)
            if unmeasured:
                warnings.warn(
                    f"{len(unmeasured)} gene(s) of the hit list were not measured in the screen "
                    f"and cannot be found by replay: {unmeasured[:10]}"
                    f"{' ...' if len(unmeasured) > 10 else ''}.",
                    UserWarning,
                    stacklevel=2,
                )
        self.queries = 0

    @classmethod
    def from_screen(cls, screen: AnnData, **options: Any) -> ReplayOracle:
        """The oracle of a screen as an AnnData of one value per gene: genes in
        ``obs_names``, the value the single column of ``X`` (as
        :func:`phenocast.data.load_genedisco_screen` gives); ``options`` as for the
        constructor."""
        x = np.asarray(screen.X.toarray() if hasattr(screen.X, "toarray") else screen.X)
        if x.ndim != 2 or x.shape[1] != 1:
            raise ValueError(
                f"A screen has one value per gene: X of shape (n_genes, 1), got {x.shape}. Pick "
                "the readout column, e.g. screen[:, 'target'], or build the oracle from a "
                "pandas Series (ReplayOracle(values))."
            )
        return cls(pd.Series(x[:, 0], index=screen.obs_names.astype(str)), **options)

    def restrict(self, names: Sequence[str]) -> ReplayOracle:
        """The oracle over ``names`` only, keeping the *screen's* hits among them."""
        missing = [n for n in names if n not in self.values.index]
        if missing:
            raise KeyError(f"The oracle has no measurement of {missing[:10]}.")
        out = copy.copy(self)
        out.raw = self.raw.loc[list(names)]
        out.values = self.values.loc[list(names)]
        out._hits = frozenset(self.hits() & set(names))
        out.queries = 0
        return out

    def hits(self) -> set[str]:
        """The screen's hits: its hit list, or the top ``hit_fraction`` of the oriented score."""
        if self._hits is not None:
            return set(self._hits)
        assert self.hit_fraction is not None
        n = max(1, round(self.hit_fraction * len(self.values)))
        return set(self.values.sort_values(ascending=False, kind="stable").index[:n])

    def query(self, names: Sequence[str]) -> np.ndarray:
        """The oriented scores of ``names`` (counted as measured)."""
        self.queries += len(names)
        return self.values.loc[list(names)].to_numpy()


@dataclass
class LoopResult:
    """What a replay found, cycle by cycle.

    ``cycles`` has one row per cycle: ``measured`` (genes revealed so far), ``hits_found``,
    ``precision`` (hits found / genes measured), ``recall`` (hits found / hits of the whole
    screen, which counts the hits the pool cannot reach), ``recall_in_pool`` (hits found /
    hits in the pool), ``featureless_measured`` (genes without features among those measured)
    and ``pool_rmse`` (the surrogate's error on the unmeasured pool). ``hit_ratio`` is the
    old name of ``recall_in_pool``, kept for old readers and deprecated.

    ``n_hits`` counts the hits in the pool and ``n_screen_hits`` those of the whole screen.
    """

    strategy: str
    seed: int
    cycles: pd.DataFrame
    picks: pd.DataFrame
    n_hits: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)
    n_screen_hits: int = 0

    def _at(self, cycle: int, column: str) -> float:
        row = self.cycles.loc[self.cycles["cycle"] == cycle]
        if row.empty:
            raise KeyError(f"No cycle {cycle}; the loop ran {self.cycles['cycle'].max()}.")
        return float(row[column].iloc[0])

    def precision(self, cycle: int) -> float:
        """Hits found / genes measured, after ``cycle``."""
        return self._at(cycle, "precision")

    def recall(self, cycle: int) -> float:
        """Hits found / hits of the whole screen, after ``cycle``."""
        return self._at(cycle, "recall")

    def recall_in_pool(self, cycle: int) -> float:
        """Hits found / hits in the pool (the screen's hits the loop could reach)."""
        return self._at(cycle, "recall_in_pool")

    def hit_ratio(self, cycle: int) -> float:
        """Deprecated: the recall over the hits in the pool; use :meth:`recall_in_pool`,
        :meth:`recall` (over the whole screen) or :meth:`precision`."""
        warnings.warn(
            "LoopResult.hit_ratio is deprecated: it is recall_in_pool (hits found / hits in the "
            "pool); use recall_in_pool, recall (over the whole screen) or precision.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._at(cycle, "recall_in_pool")


class ActiveLoop:
    """Replay active learning on the genes a screen measured.

    Parameters
    ----------
    model_factory
        ``seed → surrogate`` or a name in :data:`~phenocast.design.SURROGATES`.
    pool
        Gene features, or a :class:`PairPool` for a combination screen (then the "genes" are
        its pairs, the oracle is keyed by its pair names — build it with
        :meth:`PairPool.oracle` — and pairs with a member without features count as
        featureless). The pool is every gene the oracle measured (minus ``exclude``); genes
        without features stay in it unless ``featureless="drop"``.
    oracle
        A :class:`ReplayOracle` (or anything with ``values``, ``restrict``, ``hits`` and
        ``query``).
    acquisition
        An :class:`Acquisition` or a registered name.
    batch_size
        Genes per cycle: one size for every cycle, or one per cycle (the screen's own design,
        e.g. ``[96, 96, 384]``), which also sets the number of cycles.
    cycles
        Number of cycles after the initial random batch (default 20, or the length of a
        per-cycle ``batch_size``).
    seed
        Seed of the initial batch, the surrogate and random choices.
    initial_size
        Size of the initial random batch (default: the first cycle's batch size).
    graph, essential
        Prior knowledge available to the acquisitions that use it.
    exclude
        Genes removed from the pool (e.g. essential genes, to test a heuristic's reliance).
    featureless
        ``"keep"``: genes the features do not cover stay in the pool, at the features' mean
        plus a "no features" indicator column, so the surrogate gives them one learned mean
        with its uncertainty; priors (essential genes) and exploration can still reach them.
        ``"drop"``: leave them out (their hits still count in ``recall``).
    """

    def __init__(
        self,
        model_factory: Callable[[int], Surrogate] | str,
        pool: GeneFeatures | PairPool,
        oracle: ReplayOracle,
        acquisition: Acquisition | str,
        *,
        batch_size: int | Sequence[int] = 64,
        cycles: int | None = None,
        seed: int = 0,
        initial_size: int | None = None,
        graph: GeneGraph | None = None,
        essential: Sequence[str] = (),
        exclude: Sequence[str] = (),
        featureless: Literal["keep", "drop"] = "keep",
    ) -> None:
        self.batch_sizes = _batch_sizes(batch_size, cycles)
        if featureless not in ("keep", "drop"):
            raise ValueError(f"featureless must be 'keep' or 'drop', got {featureless!r}.")
        self.factory = (
            (lambda s: make_surrogate(model_factory, s))
            if isinstance(model_factory, str)
            else model_factory
        )
        self.acquisition = (
            make_acquisition(acquisition) if isinstance(acquisition, str) else acquisition
        )
        self.pairs = pool if isinstance(pool, PairPool) else None
        if self.pairs is not None:
            self.pairs.check_names(oracle.values.index)
            pool = self.pairs.features
        drop = set(exclude)
        measured = oracle.values.index
        covered = set(pool.genes)
        with_features = [g for g in pool.genes if g in measured and g not in drop]
        without = [g for g in measured if g not in covered and g not in drop]
        if not with_features:
            raise ValueError(
                f"No gene has both features and a measurement ({len(measured)} measured, "
                f"{len(pool.genes)} with features): the pool is empty. Check that the screen "
                "and the features use the same gene symbols."
            )
        names = with_features + (without if featureless == "keep" else [])
        self.names = np.array(names, dtype=object)
        x = pool.rows(with_features).astype(np.float64)
        if featureless == "keep" and without:
            # the featureless sit at the features' mean; the indicator lets the surrogate learn
            # their own mean, with the uncertainty of one coefficient
            fill = np.repeat(x.mean(0, keepdims=True), len(without), axis=0)
            flag = np.r_[np.zeros(len(with_features)), np.ones(len(without))]
            x = np.column_stack([np.vstack([x, fill]), flag])
        self.x = x
        self.featureless = np.r_[
            np.zeros(len(with_features), dtype=bool), np.ones(len(names) - len(with_features), bool)
        ]
        if self.pairs is not None:  # a pair with a member the gene features lack
            partial = set(self.pairs.pairs_without_features)
            self.featureless |= np.array([n in partial for n in names], dtype=bool)
            without = [*without, *(n for n in with_features if n in partial)]
        #: Genes (pairs) of the screen without features (in the pool only with
        #: ``featureless="keep"``; pairs with a member without features always are).
        self.featureless_genes: tuple[str, ...] = tuple(without)
        self.screen_hits = frozenset(oracle.hits())
        self.oracle = oracle.restrict(names)
        self.batch_size = batch_size if isinstance(batch_size, int) else self.batch_sizes[0]
        self.cycles, self.seed = len(self.batch_sizes), seed
        self.initial_size = self.batch_size if initial_size is None else initial_size
        needed = self.initial_size + sum(self.batch_sizes)
        if needed > len(names):
            raise ValueError(
                f"{self.cycles} cycles of {_describe(self.batch_sizes)} after "
                f"{self.initial_size} need {needed} genes; the pool has {len(names)}."
            )
        self.graph, self.essential = graph, frozenset(essential)

    def run(self, *, progress: Callable[[int], None] | None = None) -> LoopResult:
        t0 = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        n = len(self.names)
        hits = self.oracle.hits()
        is_hit = np.array([g in hits for g in self.names])
        n_screen = max(1, len(self.screen_hits))
        raw = getattr(self.oracle, "raw", self.oracle.values).to_numpy()
        measured = np.zeros(n, dtype=bool)
        first = rng.choice(n, self.initial_size, replace=False)
        values = np.full(n, np.nan)
        values[first] = self.oracle.query(self.names[first].tolist())
        measured[first] = True
        picks = [
            {"cycle": 0, "gene": self.names[i], "value": raw[i], "hit": is_hit[i],
             "featureless": self.featureless[i], "score": np.nan, "reason": "initial random"}
            for i in first
        ]  # fmt: skip
        rows = []
        for cycle in range(self.cycles + 1):
            labelled = np.flatnonzero(measured)
            candidates = np.flatnonzero(~measured)
            # the surrogate is fitted every cycle, also for model-free acquisitions, so every
            # strategy reports the model error it leaves on the unmeasured pool
            surrogate = self.factory(self.seed + cycle).fit(self.x[labelled], values[labelled])
            pred = surrogate.predict(self.x[candidates])
            truth = self.oracle.values.to_numpy()[candidates]
            error = float(np.sqrt(np.mean((pred.mean - truth) ** 2))) if len(truth) else np.nan
            found = int(is_hit[measured].sum())
            rows.append(
                {
                    "cycle": cycle,
                    "measured": int(measured.sum()),
                    "hits_found": found,
                    "precision": found / int(measured.sum()),
                    "recall": found / n_screen,
                    "recall_in_pool": found / max(1, int(is_hit.sum())),
                    "hit_ratio": found / max(1, int(is_hit.sum())),  # deprecated name
                    "featureless_measured": int((measured & self.featureless).sum()),
                    "pool_rmse": error,
                }
            )
            if progress is not None:
                progress(cycle)
            if cycle == self.cycles:
                break
            ctx = AcquisitionContext(
                names=self.names,
                x=self.x,
                labelled=labelled,
                y=values[labelled],
                candidates=candidates,
                surrogate=surrogate,
                rng=rng,
                graph=self.graph,
                essential=self.essential,
                pairs=self.pairs,
                _prediction=pred,
            )
            sel = self.acquisition.select(ctx, self.batch_sizes[cycle])
            chosen = np.asarray(sel.indices)
            if len(set(chosen.tolist())) != len(chosen) or measured[chosen].any():
                raise RuntimeError(
                    f"Acquisition {self.acquisition.name!r} chose a duplicate or measured gene."
                )
            values[chosen] = self.oracle.query(self.names[chosen].tolist())
            measured[chosen] = True
            picks += [
                {"cycle": cycle + 1, "gene": self.names[i], "value": raw[i], "hit": is_hit[i],
                 "featureless": self.featureless[i], "score": float(s), "reason": r}
                for i, s, r in zip(chosen, sel.scores, sel.reasons, strict=True)
            ]  # fmt: skip
        return LoopResult(
            strategy=self.acquisition.name,
            seed=self.seed,
            cycles=pd.DataFrame(rows),
            picks=pd.DataFrame(picks),
            n_hits=int(is_hit.sum()),
            seconds=time.perf_counter() - t0,
            meta={
                "pool": n,
                "batch_size": self.batch_size,
                "batch_sizes": list(self.batch_sizes),
                "featureless": int(self.featureless.sum()),
                "featureless_picked": int((measured & self.featureless).sum()),
                "featureless_screen": len(self.featureless_genes),
                "screen_hits": len(self.screen_hits),
            },
            n_screen_hits=len(self.screen_hits),
        )


def _batch_sizes(batch_size: int | Sequence[int], cycles: int | None) -> tuple[int, ...]:
    """One batch size per cycle, from one size and a count or from a per-cycle list."""
    if isinstance(batch_size, int | np.integer):
        n = 20 if cycles is None else cycles
        if batch_size < 1 or n < 0:
            raise ValueError(f"batch_size must be >= 1 and cycles >= 0; got {batch_size}, {n}.")
        return (int(batch_size),) * n
    sizes = tuple(int(b) for b in batch_size)
    if not sizes or min(sizes) < 1:
        raise ValueError(
            f"A per-cycle batch_size must list one size >= 1 per cycle, got {list(sizes)}."
        )
    if cycles is not None and cycles != len(sizes):
        raise ValueError(
            f"batch_size lists {len(sizes)} cycles but cycles={cycles}; leave cycles out (the "
            "list sets it) or make them agree."
        )
    return sizes


def _describe(sizes: tuple[int, ...]) -> str:
    return str(sizes[0]) if len(set(sizes)) <= 1 and sizes else str(list(sizes))
