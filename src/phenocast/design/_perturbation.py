"""Perturbation-level active learning: which perturbations to measure next so that the profiles
of the rest are predicted best, replayed against a measured Perturb-seq experiment.

The pool is a set of perturbation conditions (one or more perturbed genes, in one cell line),
each with its measured mean Δ profile against the control of the same line. The model,
:class:`ProfileGP`, is a multi-output Gaussian process on prior knowledge of the perturbed genes
(gene features such as GO annotations): every output gene shares one kernel over conditions and
has its own scale, so the posterior covariance between conditions is shared by all genes. The
registry's scalar acquisitions see it through a thin view (predicted effect size, uncertainty
as the per-gene mean of the predictive variance, i.e. the trace over genes / G) and the pool is
presented to them as the rows of a kernel embedding, so ``coreset`` is a kernel core-set in
prior-knowledge space as in IterPert (Huang et al. 2024).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..metrics import mse, pearson_delta
from ._acquisition import Acquisition, AcquisitionContext, make_acquisition
from ._surrogates import Prediction

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..featurize import GeneFeatures

__all__ = ["PerturbationLoop", "PerturbationPool", "PerturbationResult", "ProfileGP"]

Composition = Literal["additive", "sum-features"]


@dataclass(frozen=True, eq=False)
class PerturbationPool:
    """Perturbation conditions with their measured mean Δ profiles (vs the line's control).

    Attributes
    ----------
    names
        One label per condition (``"A+B"``, with ``" | line"`` appended when lines differ).
    components, lines
        The perturbed genes and the cell line of each condition.
    delta, ctrl
        ``(n, n_vars)`` mean Δ profiles and the control mean of each condition's line.
    """

    names: tuple[str, ...]
    components: tuple[tuple[str, ...], ...]
    lines: tuple[str, ...]
    delta: np.ndarray
    ctrl: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0:
            raise ValueError("The pool has no perturbation conditions.")
        if len(set(self.names)) != n:
            raise ValueError("The pool lists a condition more than once.")
        if len(self.components) != n or len(self.lines) != n:
            raise ValueError("names, components and lines must have one entry per condition.")
        if self.delta.shape != self.ctrl.shape or self.delta.shape[0] != n:
            raise ValueError(
                f"delta and ctrl need shape ({n}, n_vars); got {self.delta.shape} and "
                f"{self.ctrl.shape}."
            )
        if any(len(c) == 0 for c in self.components):
            raise ValueError("Every condition needs at least one perturbed gene.")

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_anndata(
        cls,
        adata: AnnData,
        *,
        perturbation_key: str = "perturbation",
        line_key: str | None = "cell_line",
        control: str = "control",
    ) -> PerturbationPool:
        """Mean Δ profile of every non-control condition per line, from ``adata.X``.

        Combinations are parsed as the registry parses them (``"A+B"``, checked by
        :func:`phenocast.data.parse_condition`), so ``"B+A"`` and ``"A+B"`` are one condition.
        """
        from ..data import group_means, parse_condition

        obs = adata.obs
        for key in (perturbation_key, line_key):
            if key is not None and key not in obs.columns:
                raise KeyError(f"adata.obs has no column {key!r}.")
        raw = obs[perturbation_key].astype(str)
        parsed = {
            v: parse_condition(v, control=control, perturbation_column=perturbation_key)
            for v in raw.unique()
        }
        pert = raw.map(lambda v: parsed[v].perturbation or control).to_numpy()
        line = obs[line_key].astype(str).to_numpy() if line_key else np.full(len(obs), "")
        codes, keys = pd.factorize(pd.Series(list(zip(pert, line, strict=True)), dtype=object))
        means, _ = group_means(adata.X, codes)
        by_key = dict(zip(keys, means, strict=True))
        lines_all = sorted(set(line))
        no_ctrl = [ln for ln in lines_all if (control, ln) not in by_key]
        if no_ctrl:
            raise ValueError(f"No {control!r} cells in line(s) {no_ctrl}: Δ needs a control.")
        comp = {k: tuple(k[0].split("+")) for k in keys if k[0] != control}
        conds = sorted(comp, key=lambda k: (len(comp[k]), k[0], k[1]))
        if not conds:
            raise ValueError("The pool has no perturbation conditions (only controls).")
        multi = len(lines_all) > 1
        return cls(
            names=tuple(f"{k[0]} | {k[1]}" if multi else k[0] for k in conds),
            components=tuple(comp[k] for k in conds),
            lines=tuple(ln for _, ln in conds),
            delta=np.stack([by_key[k] - by_key[(control, k[1])] for k in conds]),
            ctrl=np.stack([by_key[(control, k[1])] for k in conds]),
        )

    def unfeaturised(self, features: GeneFeatures) -> list[str]:
        """Conditions with a perturbed gene that has no features (in pool order)."""
        return [n for n, c in zip(self.names, self.components, strict=True) if features.missing(c)]

    def subset(self, names: Sequence[str]) -> PerturbationPool:
        pos = {n: i for i, n in enumerate(self.names)}
        unknown = [n for n in names if n not in pos]
        if unknown:
            raise KeyError(f"Unknown condition(s) {unknown[:10]}; the pool has {len(self)}.")
        idx = [pos[n] for n in names]
        return PerturbationPool(
            tuple(self.names[i] for i in idx), tuple(self.components[i] for i in idx),
            tuple(self.lines[i] for i in idx), self.delta[idx], self.ctrl[idx],
        )  # fmt: skip


class ProfileGP:
    """Multi-output GP regression of Δ profiles on perturbed-gene features.

    Gene kernel ``k(a, b) = exp(−‖â − b̂‖² / 2ℓ²)`` on unit-normalised features. With
    ``composition="additive"`` a condition's latent profile is the sum of its genes' (a double
    predicted from two measured singles ≈ ΔA + ΔB; prior mean ``n_genes × μ``); with
    ``"sum-features"`` a condition is one point with the summed features (prior mean ``μ``).
    Across lines the kernel is multiplied by ``ρ + (1 − ρ)[same line]`` and a shared per-line
    offset of variance ``τ`` is added. ``ℓ``, the nugget ``ν`` (noise plus condition-specific
    deviation), ``ρ`` and ``τ`` are chosen on a grid by the marginal likelihood summed over
    genes, each gene's scale profiled out. Cost per fit O(grid × (n³ + n² G)).
    """

    def __init__(
        self,
        pool: PerturbationPool,
        features: GeneFeatures,
        *,
        composition: Composition = "additive",
        lengthscales: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
        nuggets: Sequence[float] = (0.01, 0.05, 0.2, 1.0),
        line_correlations: Sequence[float] = (0.3, 0.7, 0.95),
        line_offsets: Sequence[float] = (0.0, 0.3),
    ) -> None:
        if composition not in ("additive", "sum-features"):
            raise ValueError(f"composition must be additive or sum-features, not {composition!r}.")
        bad = pool.unfeaturised(features)
        if bad:
            genes = sorted({g for c in pool.components for g in features.missing(c)})
            raise KeyError(
                f"Perturbed gene(s) {genes[:20]} have no features ({features.method}); drop the "
                f"conditions {bad[:10]} first (PerturbationPool.unfeaturised / subset)."
            )
        self.pool, self.composition = pool, composition
        self.n_genes = np.array([len(c) for c in pool.components], dtype=float)
        if composition == "additive":
            units = sorted({g for c in pool.components for g in c})
            pos = {g: i for i, g in enumerate(units)}
            self._incidence = np.zeros((len(pool), len(units)))
            for i, comp in enumerate(pool.components):
                self._incidence[i, [pos[g] for g in comp]] = 1.0
            phi = features.rows(units).astype(np.float64)
        else:
            self._incidence = np.eye(len(pool))
            phi = np.stack(
                [features.rows(list(c)).astype(np.float64).sum(0) for c in pool.components]
            )
        phi /= np.maximum(np.linalg.norm(phi, axis=1, keepdims=True), 1e-12)
        self._sqdist = np.maximum(2.0 - 2.0 * phi @ phi.T, 0.0)
        lines = np.array(pool.lines)
        self._same_line = (lines[:, None] == lines[None, :]).astype(float)
        multi = len(set(pool.lines)) > 1
        self._grid = list(
            itertools.product(
                lengthscales, nuggets, line_correlations if multi else (1.0,),
                line_offsets if multi else (0.0,),
            )
        )  # fmt: skip
        self.params_: dict[str, float] | None = None

    def kernel(self, lengthscale: float, rho: float = 1.0, tau: float = 0.0) -> np.ndarray:
        """``(n, n)`` prior covariance of the conditions' latent profiles (per output gene)."""
        kg = np.exp(-self._sqdist / (2.0 * lengthscale**2))
        base = self._incidence @ kg @ self._incidence.T
        k = base * (rho + (1.0 - rho) * self._same_line)
        return k + tau * self._same_line * np.outer(self.n_genes, self.n_genes)

    def _prior_mean(self, labelled: np.ndarray) -> np.ndarray:
        """Per line, the least-squares fit ``y_c ≈ n_c μ`` (additive) or the mean ``μ``
        (sum-features) of the measured conditions; lines with none measured use all lines."""
        w = self.n_genes if self.composition == "additive" else np.ones(len(self.pool))
        lines = np.array(self.pool.lines)
        out = np.empty_like(self.pool.delta)

        def fit_mu(rows: np.ndarray) -> np.ndarray:
            return (w[rows, None] * self.pool.delta[rows]).sum(0) / float(w[rows] @ w[rows])

        pooled = fit_mu(labelled)
        for line in set(self.pool.lines):
            rows = labelled[lines[labelled] == line]
            mu = fit_mu(rows) if len(rows) else pooled
            out[lines == line] = np.outer(w[lines == line], mu)
        return out

    def fit(self, labelled: Sequence[int] | np.ndarray) -> ProfileGP:
        lab = np.asarray(labelled, dtype=int)
        if len(lab) < 1:
            raise ValueError("ProfileGP needs at least one measured condition.")
        self._labelled = lab
        self._mean = self._prior_mean(lab)
        resid = self.pool.delta[lab] - self._mean[lab]
        n, n_out = resid.shape
        best = (-np.inf, None)
        cache: dict[tuple[float, float, float], np.ndarray] = {}
        for ell, nu, rho, tau in self._grid:
            key = (ell, rho, tau)
            if key not in cache:
                cache[key] = self.kernel(ell, rho, tau)
            k_ll = cache[key][np.ix_(lab, lab)]
            chol = np.linalg.cholesky(k_ll + nu * np.eye(n))
            q = np.linalg.solve(chol, resid)
            scale = np.maximum((q**2).sum(0) / n, 1e-12)
            ll = -0.5 * (n * np.log(scale).sum() + 2 * n_out * np.log(np.diag(chol)).sum())
            if ll > best[0]:
                best = (ll, (ell, nu, rho, tau, scale))
        assert best[1] is not None
        ell, nu, rho, tau, scale = best[1]
        self._k = cache[(ell, rho, tau)]
        self._nu, self._scale = float(nu), float(scale.mean())
        a_mat = self._k[np.ix_(lab, lab)] + nu * np.eye(n)
        self._a_inv = np.linalg.inv(a_mat)
        self._alpha = self._a_inv @ resid
        names = ("lengthscale", "nugget", "line_correlation", "line_offset")
        self.params_ = dict(zip(names, (ell, nu, rho, tau), strict=True))
        return self

    def _check(self) -> None:
        if self.params_ is None:
            raise RuntimeError("ProfileGP is not fitted; call fit(labelled) first.")

    def predict(self, idx: Sequence[int] | np.ndarray) -> Prediction:
        """Mean Δ profiles ``(m, n_vars)``; epistemic and aleatoric variance per condition,
        averaged over output genes (the trace of the predictive covariance / n_vars)."""
        self._check()
        idx = np.asarray(idx, dtype=int)
        k_x = self._k[np.ix_(idx, self._labelled)]
        mean = self._mean[idx] + k_x @ self._alpha
        var = np.diag(self._k)[idx] - np.einsum("ij,jk,ik->i", k_x, self._a_inv, k_x)
        return Prediction(
            mean, self._scale * np.maximum(var, 0.0), np.full(len(idx), self._scale * self._nu)
        )

    def covariance(self, idx: np.ndarray, jdx: np.ndarray) -> np.ndarray:
        """Posterior covariance of the latent profiles, per output gene on average."""
        self._check()
        k_i = self._k[np.ix_(idx, self._labelled)]
        k_j = self._k[np.ix_(jdx, self._labelled)]
        return self._scale * (self._k[np.ix_(idx, jdx)] - k_i @ self._a_inv @ k_j.T)

    def embedding(self) -> np.ndarray:
        """Rows ``E`` with ``E Eᵀ = K + εI``: Euclidean distance between rows is the kernel
        distance between conditions, and rows are distinct."""
        self._check()
        k = self._k + 1e-6 * float(np.mean(np.diag(self._k))) * np.eye(len(self._k))
        val, vec = np.linalg.eigh(k)
        return vec * np.sqrt(np.maximum(val, 0.0))


class _ScalarView:
    """The registry's surrogate protocol over a fitted :class:`ProfileGP`: a candidate's
    "value" is its predicted effect size (root mean square of the predicted Δ), its variance
    the mean over genes of the predictive variance. Rows of the embedding name conditions."""

    def __init__(self, model: ProfileGP, x: np.ndarray) -> None:
        self.model = model
        self._row = {np.ascontiguousarray(r).tobytes(): i for i, r in enumerate(x)}

    def _locate(self, x: np.ndarray) -> np.ndarray:
        try:
            return np.array([self._row[np.ascontiguousarray(r).tobytes()] for r in x], dtype=int)
        except KeyError:
            raise KeyError("The profile surrogate only predicts rows of the pool.") from None

    def fit(self, x: np.ndarray, y: np.ndarray) -> _ScalarView:
        raise NotImplementedError("Fit the ProfileGP itself; this view is read-only.")

    def predict(self, x: np.ndarray) -> Prediction:
        p = self.model.predict(self._locate(x))
        return Prediction(np.sqrt(np.mean(p.mean**2, 1)), p.epistemic, p.aleatoric)

    def covariance_columns(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        idx = self._locate(x)
        return self.model.covariance(idx, idx[np.asarray(rows)])


@dataclass
class PerturbationResult:
    """Per round: what was measured, scores on the unmeasured pool and the held-out set."""

    strategy: str
    seed: int
    rounds: pd.DataFrame
    picks: pd.DataFrame
    per_condition: pd.DataFrame
    seconds: float


def _score(
    pool: PerturbationPool, idx: np.ndarray, pred: np.ndarray, mean_pred: np.ndarray
) -> list[dict[str, Any]]:
    """Per condition: the model's and the mean baseline's Pearson Δ and MSE, no-change MSE
    (no-change has no Pearson Δ: its Δ is constant)."""
    rows = []
    for k, i in enumerate(idx):
        true, ctrl = pool.ctrl[i] + pool.delta[i], pool.ctrl[i]
        rows.append({
            "condition": pool.names[i],
            "pearson": pearson_delta(ctrl + pred[k], true, ctrl=ctrl),
            "pearson_mean": pearson_delta(ctrl + mean_pred[k], true, ctrl=ctrl),
            "mse": mse(ctrl + pred[k], true), "mse_mean": mse(ctrl + mean_pred[k], true),
            "mse_nochange": mse(ctrl, true),
        })  # fmt: skip
    return rows


class PerturbationLoop:
    """Replay perturbation-level active learning on a measured pool.

    Parameters
    ----------
    pool
        The measured conditions (the oracle reveals a condition's Δ profile when acquired).
    features
        Prior-knowledge features of every perturbed gene.
    acquisition
        An :class:`~phenocast.design.Acquisition` or a registered name (``random``,
        ``greedy``, ``max-variance``, ``bald``, ``batchbald``, ``coreset``, ...).
    batch_size, rounds
        Conditions acquired per round, and rounds after the initial random set.
    initial_size
        Conditions measured at random before the first round.
    holdout
        Conditions never acquired and scored every round (the same set for every strategy).
    seed
        Seed of the initial set and of the acquisitions' random choices.
    composition
        How :class:`ProfileGP` composes a multi-gene condition.
    """

    def __init__(
        self,
        pool: PerturbationPool,
        features: GeneFeatures,
        acquisition: Acquisition | str,
        *,
        batch_size: int = 3,
        rounds: int = 5,
        initial_size: int = 4,
        holdout: Sequence[str] = (),
        seed: int = 0,
        composition: Composition = "additive",
    ) -> None:
        if batch_size < 1 or rounds < 0 or initial_size < 1:
            raise ValueError(
                "batch_size and initial_size must be >= 1 and rounds >= 0; got "
                f"{batch_size}, {initial_size}, {rounds}."
            )
        self.acquisition = (
            make_acquisition(acquisition) if isinstance(acquisition, str) else acquisition
        )
        self.model = ProfileGP(pool, features, composition=composition)
        self.pool = pool
        pos = {n: i for i, n in enumerate(pool.names)}
        unknown = [h for h in holdout if h not in pos]
        if unknown:
            raise KeyError(f"Held-out condition(s) not in the pool: {unknown[:10]}.")
        self.holdout = np.array(sorted(pos[h] for h in set(holdout)), dtype=int)
        self.acquirable = np.setdiff1d(np.arange(len(pool)), self.holdout)
        if len(self.acquirable) == 0:
            raise ValueError("Every condition is held out: the pool to acquire from is empty.")
        need = initial_size + rounds * batch_size
        if need >= len(self.acquirable):
            raise ValueError(
                f"{initial_size} initial + {rounds} rounds × {batch_size} = {need} conditions "
                f"would leave none of the {len(self.acquirable)} acquirable ones unmeasured; "
                "use a smaller batch, fewer rounds or a smaller holdout."
            )
        self.batch_size, self.rounds, self.initial_size = batch_size, rounds, initial_size
        self.seed = seed

    def _mean_baseline(self, measured: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Mean measured Δ of the same line (of every line when none of it is measured)."""
        lines = np.array(self.pool.lines)
        out = np.empty((len(idx), self.pool.delta.shape[1]))
        for k, i in enumerate(idx):
            same = measured[lines[measured] == lines[i]]
            out[k] = self.pool.delta[same if len(same) else measured].mean(0)
        return out

    def run(self) -> PerturbationResult:
        t0 = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        n = len(self.pool)
        measured = np.zeros(n, dtype=bool)
        first = rng.choice(self.acquirable, self.initial_size, replace=False)
        measured[first] = True
        names = np.array(self.pool.names, dtype=object)
        picks = [{"round": 0, "condition": names[i], "score": np.nan, "reason": "initial random"}
                 for i in first]  # fmt: skip
        rows, per_cond = [], []
        acq_mask = np.zeros(n, dtype=bool)
        acq_mask[self.acquirable] = True
        for rnd in range(self.rounds + 1):
            labelled = np.flatnonzero(measured)
            unmeasured = np.flatnonzero(acq_mask & ~measured)
            model = self.model.fit(labelled)
            row: dict[str, Any] = {"round": rnd, "measured": len(labelled), **model.params_}
            row["chosen"] = ", ".join(p["condition"] for p in picks if p["round"] == rnd)
            for part, idx in (("pool", unmeasured), ("test", self.holdout)):
                if len(idx) == 0:
                    continue
                scored = _score(
                    self.pool, idx, model.predict(idx).mean, self._mean_baseline(labelled, idx)
                )
                frame = pd.DataFrame(scored)
                for col in ("pearson", "pearson_mean", "mse", "mse_mean", "mse_nochange"):
                    row[f"{part}_{col}"] = float(frame[col].mean())
                row[f"{part}_n"] = len(idx)
                per_cond += [{"round": rnd, "set": part, **s} for s in scored]
            rows.append(row)
            if rnd == self.rounds:
                break
            x = model.embedding()
            effect = np.sqrt(np.mean(self.pool.delta[labelled] ** 2, 1))
            ctx = AcquisitionContext(
                names=names, x=x, labelled=labelled, y=effect, candidates=unmeasured,
                surrogate=_ScalarView(model, x), rng=rng,
            )  # fmt: skip
            sel = self.acquisition.select(ctx, self.batch_size)
            chosen = np.asarray(sel.indices, dtype=int)
            if len(set(chosen.tolist())) < len(chosen) or (measured | ~acq_mask)[chosen].any():
                raise RuntimeError(
                    f"Acquisition {self.acquisition.name!r} chose a duplicate, measured or "
                    "held-out condition."
                )
            measured[chosen] = True
            picks += [
                {"round": rnd + 1, "condition": names[i], "score": float(s), "reason": r}
                for i, s, r in zip(chosen, sel.scores, sel.reasons, strict=True)
            ]
        return PerturbationResult(
            strategy=self.acquisition.name, seed=self.seed, rounds=pd.DataFrame(rows),
            picks=pd.DataFrame(picks), per_condition=pd.DataFrame(per_cond),
            seconds=time.perf_counter() - t0,
        )  # fmt: skip
