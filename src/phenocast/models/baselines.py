"""Baselines as first-class models.

All of them work on per-(condition, context) mean profiles of the training data, where the
context is a cell's covariate values (cell type, cell line ...) and time. A Δ is a mean profile
minus the mean control profile of the same context. Predictions add a predicted Δ to the control
profile of the cells being predicted.

========================  ==============================================================
``no-change``             the control profile itself
``mean-shift``            control + the average Δ over every training (condition, context)
``transfer``              control + the same condition's Δ, averaged over the contexts that
                          measured it (each context weighted equally)
``additive``              control + Σ of each component's single Δ at the same dose
``nearest-dose``          like additive, with each component at its nearest measured dose
                          (log scale; ``tie`` picks the lower or upper dose on a tie)
``dose-interp``           like additive, interpolating each component's Δ linearly in log dose
                          between the neighbouring measured doses (nearest outside the range)
``entity-additive``       least squares ``y ≈ b + Σ a_component + Σ c_covariate``
``entity-ridge``          entity-additive plus component × context terms, ridge penalty
                          chosen by inner cross-validation
``linear``                the bilinear model of Ahlmann-Eltze, Huber & Anders (2025):
                          ``Δ ≈ G K Pᵀ + b``, G and P from PCA of the training data, K by ridge
========================  ==============================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data import CONTROL, context_of, pseudobulk
from ._base import Config as BaseConfig
from ._base import UnsupportedConditionError, register_model

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..data import Condition, Registry

__all__ = [
    "Additive",
    "DoseInterpolation",
    "EntityAdditive",
    "EntityRidge",
    "Linear",
    "MeanShift",
    "MeanShiftConfig",
    "NearestDose",
    "NoChange",
    "Transfer",
]


@dataclass(frozen=True, kw_only=True)
class BaselineConfig(BaseConfig):
    """Baselines have no options."""


class _ProfileModel:
    """Shared fit / predict machinery: training Δs per condition and context."""

    config_class: ClassVar[type[BaseConfig]] = BaselineConfig
    name = "base"

    def __init__(self, registry: Registry, config: BaseConfig | None = None) -> None:
        self.registry = registry
        self.config: Any = config if config is not None else type(self).config_class()
        self._fitted = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    # -------------------------------------------------------------- fit
    def fit(self, adata: AnnData) -> _ProfileModel:
        """Learn from registered training data (controls and perturbed cells)."""
        reg = self.registry
        reg.check_genes(adata)
        pb = pseudobulk(adata, reg)
        self._ctrl = pb.control_means()
        if self._ctrl:
            self._ctrl_global = np.mean(list(self._ctrl.values()), axis=0)
        else:
            self._ctrl_global = np.zeros(reg.n_vars)
        treated = pb.groups["condition"] != CONTROL
        groups = pb.groups[treated].reset_index(drop=True)
        means = pb.means[treated.to_numpy()]
        base = (
            np.stack([self._control_for(ctx) for ctx in groups["context"]])
            if len(groups)
            else means
        )
        self._groups = groups
        self._deltas = means - base if len(groups) else means
        self._index_singles()
        self._fit()
        self._fitted = True
        return self

    def _control_for(self, ctx: tuple) -> np.ndarray:
        if self.registry.control is None:
            return np.zeros(self.registry.n_vars)
        found = self._ctrl.get(ctx)
        return self._ctrl_global if found is None else found

    def _index_singles(self) -> None:
        # component → context → dose → Δ, and component → dose → Δ pooled over contexts
        by_ctx: dict[str, dict[tuple, dict[float, np.ndarray]]] = {}
        for i, row in self._groups.iterrows():
            if len(row["components"]) == 1:
                comp, dose = row["components"][0], row["doses"][0]
                by_ctx.setdefault(comp, {}).setdefault(row["context"], {})[dose] = self._deltas[i]
        pooled: dict[str, dict[float, np.ndarray]] = {}
        for comp, ctxs in by_ctx.items():
            acc: dict[float, list[np.ndarray]] = {}
            for table in ctxs.values():
                for d, v in table.items():
                    acc.setdefault(d, []).append(v)
            pooled[comp] = {d: np.mean(vs, axis=0) for d, vs in acc.items()}
        self._singles, self._singles_pooled = by_ctx, pooled

    def _fit(self) -> None:
        """Model-specific fitting on ``self._groups`` / ``self._deltas``."""

    def _context_means(self) -> dict[tuple, np.ndarray]:
        """Context → mean training Δ over that context's (condition, context) groups."""
        ctx = self._groups["context"].to_numpy()
        return {c: self._deltas[[x == c for x in ctx]].mean(axis=0) for c in dict.fromkeys(ctx)}

    # -------------------------------------------------------------- predict
    def predict_mean(self, controls: AnnData | None, conditions: pd.DataFrame) -> np.ndarray:
        """Mean profile of ``controls`` under each condition (rows of ``conditions``)."""
        if not self._fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(adata) first.")
        reg = self.registry
        conds = reg.parse_frame(conditions)
        ctxs = context_of(conditions, reg) if len(conditions) else []
        if controls is not None:
            reg.check_genes(controls)
            x = reg.matrix(controls)
            shared = np.asarray(x.mean(axis=0)).ravel().astype(np.float64)
        out = np.empty((len(conds), reg.n_vars))
        for i, (cond, ctx) in enumerate(zip(conds, ctxs, strict=True)):
            base = shared if controls is not None else self._control_for(ctx)
            out[i] = base + (0.0 if cond.is_control else self._delta(cond, ctx))
        return out

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        raise NotImplementedError

    # -------------------------------------------------------------- single-effect lookup
    def _single(
        self,
        comp: str,
        dose: float,
        ctx: tuple,
        *,
        how: Literal["exact", "nearest", "interp"],
        tie: Literal["lower", "upper"] = "lower",
    ) -> np.ndarray:
        if comp not in self._singles:
            raise UnsupportedConditionError(
                f"{self.name}: component {comp!r} was never measured alone in training."
            )
        table = self._singles[comp].get(ctx) or self._singles_pooled[comp]
        doses = np.array(sorted(table))
        exact = np.isclose(doses, dose, rtol=1e-6, atol=0.0)
        if exact.any():
            return table[float(doses[exact][0])]
        if how == "exact":
            raise UnsupportedConditionError(
                f"{self.name}: {comp!r} was never measured alone at dose {dose:g} "
                f"(measured: {[f'{d:g}' for d in doses]})."
            )
        if dose <= 0 or (doses <= 0).any():
            raise UnsupportedConditionError(
                f"{self.name}: dose matching works in log dose; dose {dose:g} of {comp!r} or a "
                "measured dose is not positive."
            )
        ld, lq = np.log(doses), math.log(dose)
        below, above = doses[ld < lq], doses[ld > lq]
        if how == "interp" and below.size and above.size:
            lo, hi = below.max(), above.min()
            w = (lq - math.log(lo)) / (math.log(hi) - math.log(lo))
            return (1 - w) * table[float(lo)] + w * table[float(hi)]
        # nearest (also interp outside the measured range)
        dist = np.abs(ld - lq)
        order = np.argsort(dist, kind="stable")
        best = order[0]
        if order.size > 1 and below.size and above.size:
            second = order[1]
            if abs(dist[second] - dist[best]) <= 0.1 * max(dist[best], dist[second]):
                pair = sorted((doses[best], doses[second]))
                return table[float(pair[0] if tie == "lower" else pair[1])]
        return table[float(doses[best])]


@register_model("no-change")
class NoChange(_ProfileModel):
    """Predict the control profile: the floor every model must clear."""

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        return np.zeros(self.registry.n_vars)


@dataclass(frozen=True, kw_only=True)
class MeanShiftConfig(BaseConfig):
    """``pool``: average the Δ of every training (condition, context) (``"all"``), or only
    those of the predicted context when it has any (``"context"``; e.g. the mean knockdown
    effect in the same cell line), else of all."""

    pool: Literal["all", "context"] = "all"

    def __post_init__(self) -> None:
        if self.pool not in ("all", "context"):
            raise ValueError(f"pool must be 'all' or 'context', got {self.pool!r}.")


@register_model("mean-shift")
class MeanShift(_ProfileModel):
    """Control + the average training Δ, each (condition, context) weighted equally.

    With one perturbation (Kang: IFN-β) this is the mean Δ over the other cell types. With
    ``pool="context"`` the average is over the predicted context's training conditions.
    """

    config_class = MeanShiftConfig

    def _fit(self) -> None:
        if not len(self._deltas):
            raise UnsupportedConditionError("mean-shift: no perturbed cells in training.")
        self._mean = self._deltas.mean(axis=0)
        self._by_context = self._context_means() if self.config.pool == "context" else {}

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        return self._by_context.get(ctx, self._mean)


@register_model("transfer")
class Transfer(_ProfileModel):
    """Control + the same condition's Δ from the contexts where it was measured.

    The query's own context is used when it measured the condition; otherwise the Δs of the
    other contexts are averaged with equal weight (e.g. a knockdown moved to a new cell line).
    """

    def _fit(self) -> None:
        table: dict[str, dict[tuple, np.ndarray]] = {}
        for i, row in self._groups.iterrows():
            table.setdefault(row["condition"], {})[row["context"]] = self._deltas[i]
        self._table = table

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        by_ctx = self._table.get(cond.key)
        if not by_ctx:
            raise UnsupportedConditionError(
                f"transfer: condition {cond.key!r} was never measured in training."
            )
        if ctx in by_ctx:
            return by_ctx[ctx]
        return np.mean(list(by_ctx.values()), axis=0)


@register_model("additive")
class Additive(_ProfileModel):
    """Control + Σ over components of the component's single Δ at the same dose."""

    how: Literal["exact", "nearest", "interp"] = "exact"

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        tie: Literal["lower", "upper"] = getattr(self.config, "tie", "lower")
        return np.sum(
            [
                self._single(c, d, ctx, how=self.how, tie=tie)
                for c, d in zip(cond.components, cond.doses, strict=True)
            ],
            axis=0,
        )


@dataclass(frozen=True, kw_only=True)
class NearestDoseConfig(BaseConfig):
    """``tie``: on a tie between two nearest doses (equal log distance within 10 %), use the
    ``"lower"`` or the ``"upper"`` one."""

    tie: Literal["lower", "upper"] = "lower"

    def __post_init__(self) -> None:
        if self.tie not in ("lower", "upper"):
            raise ValueError(f"tie must be 'lower' or 'upper', not {self.tie!r}.")


@register_model("nearest-dose")
class NearestDose(Additive):
    """Each component's Δ at its closest measured dose (log scale)."""

    config_class = NearestDoseConfig
    how = "nearest"
    #: The benchmark reports both readings of a tie.
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "lower": {"tie": "lower"},
        "upper": {"tie": "upper"},
    }


@register_model("dose-interp")
class DoseInterpolation(Additive):
    """Each component's Δ interpolated linearly in log dose between neighbouring doses."""

    how = "interp"


# ------------------------------------------------------------------ entity models


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


# ------------------------------------------------------------------ linear


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
        from ..featurize import check_feature_options

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
        from ..featurize import ComponentFeatures, resolve_featuriser

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
