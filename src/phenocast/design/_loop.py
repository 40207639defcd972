"""The active-learning loop, replayed against a measured screen.

Each cycle fits the surrogate on everything measured so far, asks the acquisition for a batch,
and reveals the batch's values from the oracle. What was chosen (and why), the hits found and
the model's error on the unmeasured pool are recorded per cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._acquisition import Acquisition, AcquisitionContext, make_acquisition
from ._surrogates import Surrogate, make_surrogate

if TYPE_CHECKING:  # pragma: no cover
    from ..featurize import GeneFeatures
    from ..knowledge import GeneGraph

__all__ = ["ActiveLoop", "LoopResult", "ReplayOracle"]


class ReplayOracle:
    """Reveals measured values of a real screen; hits are its top ``hit_fraction``.

    Parameters
    ----------
    values
        Readout per gene (index = gene symbol); larger is a stronger hit.
    hit_fraction
        Share of the *pool* that counts as hits (set when the loop restricts it to the pool).
    """

    def __init__(self, values: pd.Series, *, hit_fraction: float = 0.01) -> None:
        if not 0 < hit_fraction < 1:
            raise ValueError(f"hit_fraction must be in (0, 1), got {hit_fraction}.")
        vals = pd.to_numeric(values, errors="coerce")
        bad = vals.index[vals.isna()].tolist()
        if bad:
            raise ValueError(f"The oracle has no numeric value for {bad[:10]}.")
        if vals.index.duplicated().any():
            dup = vals.index[vals.index.duplicated()].tolist()
            raise ValueError(f"The oracle lists genes more than once: {dup[:10]}.")
        self.values = vals.astype(float)
        self.hit_fraction = hit_fraction
        self.queries = 0

    def restrict(self, names: Sequence[str]) -> ReplayOracle:
        missing = [n for n in names if n not in self.values.index]
        if missing:
            raise KeyError(f"The oracle has no measurement of {missing[:10]}.")
        return ReplayOracle(self.values.loc[list(names)], hit_fraction=self.hit_fraction)

    def hits(self) -> set[str]:
        n = max(1, round(self.hit_fraction * len(self.values)))
        return set(self.values.sort_values(ascending=False, kind="stable").index[:n])

    def query(self, names: Sequence[str]) -> np.ndarray:
        self.queries += len(names)
        return self.values.loc[list(names)].to_numpy()


@dataclass
class LoopResult:
    """Per cycle: picks, hits found, hit ratio and the model's error on the unmeasured pool."""

    strategy: str
    seed: int
    cycles: pd.DataFrame
    picks: pd.DataFrame
    n_hits: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def hit_ratio(self, cycle: int) -> float:
        row = self.cycles.loc[self.cycles["cycle"] == cycle]
        if row.empty:
            raise KeyError(f"No cycle {cycle}; the loop ran {self.cycles['cycle'].max()}.")
        return float(row["hit_ratio"].iloc[0])


class ActiveLoop:
    """Replay active learning on a pool of featurised genes.

    Parameters
    ----------
    model_factory
        ``seed → surrogate`` or a name in :data:`~phenocast.design.SURROGATES`.
    pool
        Gene features; the pool is every gene with features that the oracle measured.
    oracle
        A :class:`ReplayOracle` (or anything with ``restrict``, ``hits`` and ``query``).
    acquisition
        An :class:`Acquisition` or a registered name.
    batch_size, cycles
        Genes per batch and number of cycles after the initial random batch.
    seed
        Seed of the initial batch, the surrogate and random choices.
    initial_size
        Size of the initial random batch (default ``batch_size``).
    graph, essential
        Prior knowledge available to the acquisitions that use it.
    exclude
        Genes removed from the pool (e.g. essential genes, to test a heuristic's reliance).
    """

    def __init__(
        self,
        model_factory: Callable[[int], Surrogate] | str,
        pool: GeneFeatures,
        oracle: ReplayOracle,
        acquisition: Acquisition | str,
        *,
        batch_size: int = 64,
        cycles: int = 20,
        seed: int = 0,
        initial_size: int | None = None,
        graph: GeneGraph | None = None,
        essential: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        if batch_size < 1 or cycles < 0:
            raise ValueError(
                f"batch_size must be >= 1 and cycles >= 0; got {batch_size}, {cycles}."
            )
        self.factory = (
            (lambda s: make_surrogate(model_factory, s))
            if isinstance(model_factory, str)
            else model_factory
        )
        self.acquisition = (
            make_acquisition(acquisition) if isinstance(acquisition, str) else acquisition
        )
        drop = set(exclude)
        names = [g for g in pool.genes if g in oracle.values.index and g not in drop]
        if not names:
            raise ValueError("No gene has both features and a measurement: the pool is empty.")
        self.names = np.array(names, dtype=object)
        self.x = pool.rows(names).astype(np.float64)
        self.oracle = oracle.restrict(names)
        self.batch_size, self.cycles, self.seed = batch_size, cycles, seed
        self.initial_size = batch_size if initial_size is None else initial_size
        needed = self.initial_size + cycles * batch_size
        if needed > len(names):
            raise ValueError(
                f"{cycles} cycles of {batch_size} after {self.initial_size} need {needed} genes; "
                f"the pool has {len(names)}."
            )
        self.graph, self.essential = graph, frozenset(essential)

    def run(self, *, progress: Callable[[int], None] | None = None) -> LoopResult:
        t0 = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        n = len(self.names)
        hits = self.oracle.hits()
        is_hit = np.array([g in hits for g in self.names])
        measured = np.zeros(n, dtype=bool)
        first = rng.choice(n, self.initial_size, replace=False)
        values = np.full(n, np.nan)
        values[first] = self.oracle.query(self.names[first].tolist())
        measured[first] = True
        picks = [
            {
                "cycle": 0,
                "gene": g,
                "value": v,
                "hit": h,
                "score": np.nan,
                "reason": "initial random",
            }
            for g, v, h in zip(self.names[first], values[first], is_hit[first], strict=True)
        ]
        rows = []
        for cycle in range(self.cycles + 1):
            labelled = np.flatnonzero(measured)
            candidates = np.flatnonzero(~measured)
            # the surrogate is fitted every cycle, also for model-free acquisitions, so every
            # strategy reports the model error it leaves on the unmeasured pool
            surrogate = self.factory(self.seed + cycle).fit(self.x[labelled], values[labelled])
            pred = surrogate.predict(self.x[candidates])
            truth = self.oracle.values.to_numpy()[candidates]
            error = float(np.sqrt(np.mean((pred.mean - truth) ** 2)))
            found = int(is_hit[measured].sum())
            rows.append(
                {
                    "cycle": cycle,
                    "measured": int(measured.sum()),
                    "hits_found": found,
                    "hit_ratio": found / max(1, int(is_hit.sum())),
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
                _prediction=pred,
            )
            sel = self.acquisition.select(ctx, self.batch_size)
            chosen = np.asarray(sel.indices)
            if len(set(chosen.tolist())) != len(chosen) or measured[chosen].any():
                raise RuntimeError(
                    f"Acquisition {self.acquisition.name!r} chose a duplicate or measured gene."
                )
            values[chosen] = self.oracle.query(self.names[chosen].tolist())
            measured[chosen] = True
            picks += [
                {"cycle": cycle + 1, "gene": self.names[i], "value": values[i], "hit": is_hit[i],
                 "score": float(s), "reason": r}
                for i, s, r in zip(chosen, sel.scores, sel.reasons, strict=True)
            ]  # fmt: skip
        return LoopResult(
            strategy=self.acquisition.name,
            seed=self.seed,
            cycles=pd.DataFrame(rows),
            picks=pd.DataFrame(picks),
            n_hits=int(is_hit.sum()),
            seconds=time.perf_counter() - t0,
            meta={"pool": n, "batch_size": self.batch_size},
        )
