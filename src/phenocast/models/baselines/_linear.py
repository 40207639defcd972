"""The bilinear linear model of Ahlmann-Eltze, Huber & Anders (2025)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._base import Config as BaseConfig
from .._base import UnsupportedConditionError, register_model
from ._profile import _ProfileModel

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Condition, Registry

__all__ = ["Linear", "LinearConfig"]


def _loo_ridge_penalty(x: np.ndarray, y: np.ndarray, grid: tuple[float, ...]) -> float:
    """The penalty of ``grid`` with the least leave-one-row-out squared error of ridge
    ``y ≈ x B`` (closed form through the hat matrix's diagonal, one SVD)."""
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    uy = u.T @ y
    best, best_err = float(grid[0]), np.inf
    for lam in grid:
        shrink = s**2 / (s**2 + lam) if lam > 0 else (s > s.max() * 1e-10).astype(float)
        fitted = u @ (shrink[:, None] * uy)
        hat = np.einsum("ij,j,ij->i", u, shrink, u)
        resid = (y - fitted) / np.maximum(1.0 - hat, 1e-8)[:, None]
        err = float(np.sum(resid**2))
        if err < best_err:
            best, best_err = float(lam), err
    return best


@dataclass(frozen=True, kw_only=True)
class LinearConfig(BaseConfig):
    """Options of the linear model.

    Attributes
    ----------
    n_components
        PCA dimensions K of the gene side (capped by the data's rank).
    ridge
        Penalty λ on K (Ahlmann-Eltze et al. use 0.1).
    ridge_grid
        If not empty, λ is chosen from these values by leave-one-condition-out error on the
        training conditions (closed form), and stored as ``ridge_``.
    features, feature_options
        A featuriser by name and its options (as in :class:`CompositionalConfig`): the
        perturbation side P becomes the components' unit-normalised prior features instead of
        the PCA of their measured Δ, so components never measured can be predicted.
    intercept
        ``b`` is the mean training Δ over every context (``"all"``, as in the paper), or the
        predicted context's own mean Δ when it has training conditions (``"context"``, e.g.
        per cell line; other contexts fall back to the overall mean).
    """

    n_components: int = 10
    ridge: float = 0.1
    ridge_grid: tuple[float, ...] = ()
    features: str | None = None
    feature_options: dict[str, Any] = field(default_factory=dict)
    intercept: Literal["all", "context"] = "all"

    def __post_init__(self) -> None:
        if self.intercept not in ("all", "context"):
            raise ValueError(f"intercept must be 'all' or 'context', got {self.intercept!r}.")
        if self.n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}.")
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}.")
        if isinstance(self.ridge_grid, list):
            object.__setattr__(self, "ridge_grid", tuple(self.ridge_grid))
        if any(not (v >= 0) for v in self.ridge_grid):
            raise ValueError(f"ridge_grid values must be >= 0, got {self.ridge_grid}.")
        from ...featurize import check_feature_options

        check_feature_options(self.features, self.feature_options)


@register_model("linear")
class Linear(_ProfileModel):
    """The bilinear linear model of Ahlmann-Eltze, Huber & Anders (Nature Methods 2025).

    ``Δ ≈ G K xᵀ + b``: ``b`` is the mean training Δ, ``G`` (genes × K) the top principal axes of
    the centred training Δs, and a condition's embedding ``x`` sums, over its components, the
    component's embedding ``P_c = Gᵀ(mean single Δ_c − b)`` and ``P_c · ℓ`` with ``ℓ`` its
    centred log10 dose (so a dose series spans a line in PCA space). ``K`` is fitted by ridge.
    Components never measured alone have no embedding: those conditions are unsupported.

    With perturbation features (``config.features`` or ``featuriser=``), ``P_c`` is the
    component's unit-normalised prior feature vector, as in the paper's variant with external
    embeddings: any component the prior covers has one, measured or not.
    """

    config_class = LinearConfig

    def __init__(
        self, registry: Registry, config: BaseConfig | None = None, *, featuriser: Any = None
    ) -> None:
        super().__init__(registry, config)
        self._given_featuriser = featuriser
        self.features_: Any = None

    def _fit(self) -> None:
        cfg = self.config
        y = self._deltas
        if y.shape[0] < 2 or y.shape[1] < 2:
            raise UnsupportedConditionError(
                "linear: needs at least 2 training conditions and 2 genes."
            )
        self._b = y.mean(axis=0)
        self._b_context = self._context_means() if cfg.intercept == "context" else {}
        yc = y - np.stack([self._b_context.get(c, self._b) for c in self._groups["context"]])
        _, s, vt = np.linalg.svd(yc, full_matrices=False)
        k = max(1, min(cfg.n_components, int(np.sum(s > s[0] * 1e-10))))
        self._g = vt[:k].T
        self._emb: dict[str, np.ndarray] = {}
        self._logdose_mean: dict[str, float] = {}
        self._resolve_features()
        for comp, table in self._singles_pooled.items():
            if self.features_ is None:
                self._emb[comp] = self._g.T @ (self._single_mean(comp) - self._b)
            pos = [math.log10(d) for d in table if d > 0]
            self._logdose_mean[comp] = float(np.mean(pos)) if pos else 0.0
        # an unmeasured component's doses are centred on the average measured log dose
        self._logdose_default = (
            float(np.mean(list(self._logdose_mean.values()))) if self._logdose_mean else 0.0
        )
        rows, targets = [], []
        for i, row in self._groups.iterrows():
            try:
                rows.append(self._features(row["components"], row["doses"]))
            except UnsupportedConditionError:
                continue
            targets.append(yc[i] @ self._g)
        if not rows:
            raise UnsupportedConditionError("linear: no component was measured alone.")
        x, t = np.array(rows), np.array(targets)
        self.ridge_ = (
            _loo_ridge_penalty(x, t, cfg.ridge_grid) if cfg.ridge_grid else float(cfg.ridge)
        )
        a = x.T @ x + self.ridge_ * np.eye(x.shape[1])
        self._k = np.linalg.solve(a, x.T @ t).T  # (K, 2 dim P)

    def _single_mean(self, comp: str) -> np.ndarray:
        """The component's mean single Δ, re-centred on the overall intercept: with
        ``intercept="context"`` each context's Δ first loses that context's mean, so the
        embedding lives in the same centred space as the PCA."""
        mean = np.mean(list(self._singles_pooled[comp].values()), axis=0)
        if not self._b_context:
            return mean
        shifts = [self._b_context.get(c, self._b) - self._b for c in self._singles[comp]]
        return mean - np.mean(shifts, axis=0)

    def _resolve_features(self) -> None:
        from ...featurize import ComponentFeatures, resolve_featuriser

        cfg = self.config
        featuriser = resolve_featuriser(cfg.features, cfg.feature_options, self._given_featuriser)
        comps = list(self.registry.components)
        self.features_ = None if featuriser is None else ComponentFeatures(featuriser.fit(comps))
        if self.features_ is not None:
            rows, has = self.features_.rows(comps)
            if comps and not has.any():
                raise UnsupportedConditionError(
                    f"linear: the featuriser {self.features_.name!r} has features for none of "
                    f"the {len(comps)} components (e.g. {comps[:5]})."
                )
            rows64 = rows.astype(np.float64)
            self._emb = {c: r for c, r, h in zip(comps, rows64, has, strict=True) if h}

    def _embedding(self, comp: str) -> np.ndarray:
        found = self._emb.get(comp)
        if found is not None:
            return found
        if self.features_ is None:
            raise UnsupportedConditionError(
                f"linear: component {comp!r} was never measured alone, so it has no embedding."
            )
        rows, has = self.features_.rows([comp])
        if not has[0]:
            raise UnsupportedConditionError(
                f"linear: component {comp!r} has no features in {self.features_.name!r}, so it "
                "has no embedding."
            )
        self._emb[comp] = rows[0].astype(np.float64)
        return self._emb[comp]

    def _features(self, comps: tuple[str, ...], doses: tuple[float, ...]) -> np.ndarray:
        dim = self._g.shape[1] if self.features_ is None else self.features_.dim
        x = np.zeros(2 * dim)
        for c, d in zip(comps, doses, strict=True):
            emb = self._embedding(c)
            center = self._logdose_mean.get(c, self._logdose_default)
            ell = math.log10(d) - center if d > 0 else 0.0
            x[:dim] += emb
            x[dim:] += emb * ell
        return x

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        x = self._features(cond.components, cond.doses)
        return self._g @ (self._k @ x) + self._b_context.get(ctx, self._b)
