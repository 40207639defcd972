"""The machinery every profile baseline shares: training Δs per (condition, context), the
control profile of a context, and a component's single Δ looked up at a dose."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from ...data import CONTROL, context_of, pseudobulk
from .._base import Config as BaseConfig
from .._base import UnsupportedConditionError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ...data import Condition, Registry

__all__ = ["BaselineConfig"]


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
