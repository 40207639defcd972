"""Entity models: least squares over component, covariate and component × context terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._base import Config as BaseConfig
from .._base import UnsupportedConditionError, register_model
from ._profile import _ProfileModel

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Condition

__all__ = ["EntityAdditive", "EntityRidge", "EntityRidgeConfig"]


def _entity_design(
    groups: pd.DataFrame,
    rows: list[tuple[tuple[str, ...], tuple]],
    *,
    components: list[str],
    contexts: list[list[str]],
    interactions: bool,
) -> np.ndarray:
    """Design matrix: intercept, component counts, covariate one-hots, component × context."""
    n_comp = len(components)
    cidx = {c: i for i, c in enumerate(components)}
    offsets, col = [], 1 + n_comp
    for cats in contexts:
        offsets.append(col)
        col += len(cats)
    inter_offset = col
    n_ctx0 = len(contexts[0]) if contexts else 0
    if interactions:
        col += n_comp * n_ctx0
    x = np.zeros((len(rows), col))
    x[:, 0] = 1.0
    cat_index = [{c: i for i, c in enumerate(cats)} for cats in contexts]
    for r, (comps, ctx) in enumerate(rows):
        for c in comps:
            j = cidx.get(c)
            if j is None:
                raise UnsupportedConditionError(f"component {c!r} never seen in training.")
            x[r, 1 + j] += 1.0
            if interactions and n_ctx0:
                q = cat_index[0].get(str(ctx[0]))
                if q is not None:
                    x[r, inter_offset + j * n_ctx0 + q] += 1.0
        for level, index in enumerate(cat_index):
            q = index.get(str(ctx[level]))
            if q is not None:  # an unseen category contributes nothing
                x[r, offsets[level] + q] = 1.0
    return x


@register_model("entity-additive")
class EntityAdditive(_ProfileModel):
    """Least squares ``y ≈ b + Σ_components a_c + Σ_covariates c_v`` (doses ignored).

    ``y`` is the Δ when the data have controls, else the value itself (e.g. a synergy score).
    A component has one effect wherever it appears in a combination.
    """

    interactions = False

    def _rows(self, frame_conds: list[Condition], ctxs: list[tuple]) -> list[tuple]:
        return [(c.components, ctx) for c, ctx in zip(frame_conds, ctxs, strict=True)]

    def _fit(self) -> None:
        g = self._groups
        self._components = sorted({c for comps in g["components"] for c in comps})
        n_cov = len(self.registry.covariate_keys)
        self._contexts = [sorted({str(ctx[i]) for ctx in g["context"]}) for i in range(n_cov)]
        rows = list(zip(g["components"], g["context"], strict=True))
        x = self._design(rows)
        self._coef = self._solve(x, self._deltas, rows)

    def _design(self, rows: list[tuple]) -> np.ndarray:
        return _entity_design(
            self._groups,
            rows,
            components=self._components,
            contexts=self._contexts,
            interactions=self.interactions,
        )

    def _solve(self, x: np.ndarray, y: np.ndarray, rows: list[tuple]) -> np.ndarray:
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        return coef

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        return (self._design([(cond.components, ctx)]) @ self._coef)[0]


@dataclass(frozen=True, kw_only=True)
class EntityRidgeConfig(BaseConfig):
    """``penalties``: the ridge penalties tried by inner cross-validation; ``inner_folds``:
    folds of the inner CV, grouped by condition so a held-out condition is never seen."""

    penalties: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
    inner_folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.penalties or any(p <= 0 for p in self.penalties):
            raise ValueError("penalties must be a non-empty tuple of positive numbers.")
        if self.inner_folds < 2:
            raise ValueError(f"inner_folds must be >= 2, got {self.inner_folds}.")


@register_model("entity-ridge")
class EntityRidge(EntityAdditive):
    """Entity-additive plus a term per component × first covariate (e.g. drug × cell line),
    fitted by ridge with the penalty chosen by inner cross-validation on the training data."""

    config_class = EntityRidgeConfig
    interactions = True

    def _solve(self, x: np.ndarray, y: np.ndarray, rows: list[tuple]) -> np.ndarray:
        cfg = self.config
        keys = pd.factorize(self._groups["condition"])[0]
        rng = np.random.default_rng(cfg.seed)
        fold_of_key = rng.permutation(keys.max() + 1) % cfg.inner_folds
        fold = fold_of_key[keys]
        # Normal equations per inner fold, computed once: training = total − held-out part.
        # The design is one-hot (a few non-zeros per row): sparse products keep this fast.
        xs = sp.csr_matrix(x)
        xtx_all, xty_all = (xs.T @ xs).toarray(), xs.T @ y
        parts = []
        for f in range(cfg.inner_folds):
            te = fold == f
            if te.any() and not te.all():
                xt = xs[te]
                parts.append((te, (xt.T @ xt).toarray(), xt.T @ y[te]))
        errors = []
        for lam in cfg.penalties:
            pen = np.diag(np.r_[0.0, np.full(x.shape[1] - 1, lam)])
            err = 0.0
            for te, xtx_te, xty_te in parts:
                coef = np.linalg.solve(xtx_all - xtx_te + pen, xty_all - xty_te)
                err += float(np.sum((xs[te] @ coef - y[te]) ** 2))
            errors.append(err)
        self.penalty_ = float(cfg.penalties[int(np.argmin(errors))])
        pen = np.diag(np.r_[0.0, np.full(x.shape[1] - 1, self.penalty_)])
        return np.linalg.solve(xtx_all + pen, xty_all)
