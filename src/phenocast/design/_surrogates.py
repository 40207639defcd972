"""Surrogate models for experiment design: features → a scalar readout, with uncertainty.

Every surrogate returns a :class:`Prediction` holding the predictive mean and its epistemic
(model) and aleatoric (noise) variances, and can give the epistemic covariance between
candidates through :meth:`Surrogate.covariance_columns`, which the joint batch criterion needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..models import Prediction
from ..registries import NameRegistry

__all__ = [
    "SURROGATES",
    "BayesianRidge",
    "BootstrapEnsemble",
    "Prediction",
    "Surrogate",
    "make_surrogate",
]


class Surrogate(Protocol):
    """``fit(X, y)``, then ``predict(X)`` and the epistemic covariance with chosen rows."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> Surrogate: ...

    def predict(self, x: np.ndarray) -> Prediction: ...

    def covariance_columns(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``(n, len(rows))`` epistemic covariance between every row of ``x`` and ``x[rows]``."""
        ...


class BayesianRidge:
    """Bayesian linear regression with an intercept: Gaussian prior of precision ``alpha`` on
    the weights, Gaussian noise of precision ``beta``, both set by evidence maximisation
    (MacKay's fixed-point updates) unless given.

    Cost: fit O(n d² + d³); predict O(m d²) for m candidates; a covariance column O(m d).
    """

    def __init__(
        self, *, alpha: float | None = None, beta: float | None = None, n_iter: int = 30
    ) -> None:
        self.alpha, self.beta, self.n_iter = alpha, beta, n_iter
        self.coef_: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> BayesianRidge:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"fit needs X (n, d) and y (n,); got {x.shape} and {y.shape}.")
        if x.shape[0] < 2:
            raise ValueError("BayesianRidge needs at least two observations.")
        self.x_mean_, self.y_mean_ = x.mean(0), y.mean()
        xc, yc = x - self.x_mean_, y - self.y_mean_
        n = xc.shape[0]
        gram, xty = xc.T @ xc, xc.T @ yc
        # one eigendecomposition serves every evidence update: in the eigenbasis of the Gram
        # matrix, (αI + βG)⁻¹ is diagonal, so an update costs O(d²) instead of a solve
        eig, vec = np.linalg.eigh(gram)
        eig = np.clip(eig, 0, None)
        proj = vec.T @ xty
        alpha = self.alpha if self.alpha is not None else 1.0
        beta = self.beta if self.beta is not None else 1.0 / max(yc.var(), 1e-12)
        for _ in range(self.n_iter if (self.alpha is None or self.beta is None) else 1):
            w = vec @ (beta * proj / (alpha + beta * eig))
            gamma = float(np.sum(beta * eig / (alpha + beta * eig)))
            resid = float(np.sum((yc - xc @ w) ** 2))
            if self.alpha is None:
                alpha = max(gamma, 1e-6) / max(float(w @ w), 1e-12)
            if self.beta is None:
                beta = max(n - gamma, 1e-6) / max(resid, 1e-12)
        self.cov_ = (vec / (alpha + beta * eig)) @ vec.T
        self.cov_ = (self.cov_ + self.cov_.T) / 2
        self.coef_ = beta * self.cov_ @ xty
        self.alpha_, self.beta_ = float(alpha), float(beta)
        return self

    def _centered(self, x: np.ndarray) -> np.ndarray:
        if self.coef_ is None:
            raise RuntimeError("BayesianRidge is not fitted; call fit(X, y) first.")
        return np.asarray(x, dtype=np.float64) - self.x_mean_

    def predict(self, x: np.ndarray) -> Prediction:
        xc = self._centered(x)
        mean = xc @ self.coef_ + self.y_mean_
        epistemic = ((xc @ self.cov_) * xc).sum(1)
        return Prediction(mean, np.maximum(epistemic, 0.0), np.full(len(xc), 1.0 / self.beta_))

    def covariance_columns(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        xc = self._centered(x)
        return xc @ (self.cov_ @ xc[rows].T)


class BootstrapEnsemble:
    """Members fitted on bootstrap resamples (seeded); epistemic variance = variance of the
    members' means, aleatoric = mean of their noise variances. Wraps any surrogate factory.

    Cost: ``n_members`` × the member's fit and predict; a covariance column O(m × members).
    """

    def __init__(
        self, factory: Callable[[], Surrogate], *, n_members: int = 8, seed: int = 0
    ) -> None:
        if n_members < 2:
            raise ValueError(f"An ensemble needs at least 2 members, got {n_members}.")
        self.factory, self.n_members, self.seed = factory, n_members, seed
        self.members_: list[Surrogate] = []

    def fit(self, x: np.ndarray, y: np.ndarray) -> BootstrapEnsemble:
        rng = np.random.default_rng(self.seed)
        n = len(y)
        self.members_ = []
        for _ in range(self.n_members):
            rows = rng.integers(0, n, n)
            self.members_.append(self.factory().fit(x[rows], y[rows]))
        return self

    def member_means(self, x: np.ndarray) -> np.ndarray:
        """``(n, members)`` predictive means."""
        if not self.members_:
            raise RuntimeError("BootstrapEnsemble is not fitted; call fit(X, y) first.")
        return np.stack([m.predict(x).mean for m in self.members_], 1)

    def predict(self, x: np.ndarray) -> Prediction:
        preds = [m.predict(x) for m in self.members_]
        means = np.stack([p.mean for p in preds], 1)
        return Prediction(
            means.mean(1), means.var(1, ddof=1), np.mean([p.aleatoric for p in preds], 0)
        )

    def covariance_columns(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        means = self.member_means(x)
        dev = means - means.mean(1, keepdims=True)
        return dev @ dev[rows].T / (self.n_members - 1)


#: name → factory(seed) of surrogates usable by the loop and the CLI.
SURROGATES: NameRegistry[Callable[[int], Surrogate]] = NameRegistry("surrogate")
SURROGATES.register("bayesian-ridge", lambda seed: BayesianRidge())
SURROGATES.register(
    "ridge-ensemble", lambda seed: BootstrapEnsemble(BayesianRidge, n_members=8, seed=seed)
)


def make_surrogate(name: str, seed: int = 0) -> Surrogate:
    """A new surrogate registered as ``name`` in :data:`SURROGATES`, seeded with ``seed``."""
    return SURROGATES[name](seed)
