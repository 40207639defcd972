"""Deep ensembles for any model behind the protocol: the same model fitted with different seeds;
their disagreement is the epistemic uncertainty of a prediction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import accepted_options

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData

__all__ = ["Ensemble", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    """Predictive mean with its epistemic (model) and aleatoric (noise) variance, same shape:
    per candidate for a surrogate, per condition × gene for an ensemble of perturbation
    models (aleatoric zeros for models without a noise model)."""

    mean: np.ndarray
    epistemic: np.ndarray
    aleatoric: np.ndarray

    @property
    def variance(self) -> np.ndarray:
        return self.epistemic + self.aleatoric

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.variance)


class Ensemble:
    """``n_members`` copies of a model, each built by ``factory(seed)`` and fitted on the same
    data; predictions are the members' mean, and their spread is the epistemic variance.

    Parameters
    ----------
    factory
        ``seed → unfitted model`` (e.g. ``lambda s: Compositional(reg, cfg_with_seed(s))``).
    n_members
        Members (≥ 2); fitting costs ``n_members`` fits.
    seeds
        Seeds of the members (default ``0 … n_members − 1``).
    """

    def __init__(
        self,
        factory: Callable[[int], Any],
        *,
        n_members: int = 5,
        seeds: list[int] | None = None,
    ) -> None:
        if n_members < 2:
            raise ValueError(f"An ensemble needs at least 2 members, got {n_members}.")
        self.seeds = list(range(n_members)) if seeds is None else list(seeds)
        if len(self.seeds) != n_members or len(set(self.seeds)) != n_members:
            raise ValueError(f"seeds must be {n_members} distinct values, got {self.seeds}.")
        self.factory = factory
        self.members: list[Any] = []

    @property
    def registry(self) -> Any:
        if not self.members:
            raise RuntimeError("The ensemble is not fitted; call fit(adata) first.")
        return self.members[0].registry

    def fit(self, adata: AnnData) -> Ensemble:
        self.members = [self.factory(seed).fit(adata) for seed in self.seeds]
        return self

    def _require(self) -> list[Any]:
        if not self.members:
            raise RuntimeError("The ensemble is not fitted; call fit(adata) first.")
        return self.members

    @property
    def trained_doses_(self) -> dict[str, tuple[float, ...]]:
        """The doses the members were fitted on (they share the data); an ``AttributeError``
        when the members record none, as for a model without doses."""
        return self._require()[0].trained_doses_

    def predict_mean(
        self,
        controls: AnnData | None,
        conditions: pd.DataFrame,
        *,
        cross_context: bool = False,
        extrapolate: bool = False,
    ) -> np.ndarray:
        """The members' mean prediction; ``cross_context`` and ``extrapolate`` reach every
        member that takes them (see :meth:`phenocast.models.Compositional.predict`)."""
        return self.predict_uncertainty(
            controls, conditions, cross_context=cross_context, extrapolate=extrapolate
        ).mean

    def predict_uncertainty(
        self,
        controls: AnnData | None,
        conditions: pd.DataFrame,
        *,
        cross_context: bool = False,
        extrapolate: bool = False,
    ) -> Prediction:
        """Mean, epistemic and aleatoric variance of each condition's mean profile."""
        members = self._require()
        options = {"cross_context": cross_context, "extrapolate": extrapolate}
        means = np.stack(
            [
                m.predict_mean(controls, conditions, **accepted_options(m.predict_mean, options))
                for m in members
            ]
        )
        aleatoric = np.zeros_like(means[0])
        if controls is not None and all(hasattr(m, "predict") for m in members):
            # the noise a member predicts for one cell, averaged over start cells and members
            noise = [
                cell_averages(m, controls, conditions, **accepted_options(m.predict, options))[1]
                for m in members
            ]
            aleatoric = np.mean(noise, 0)
        return Prediction(means.mean(0), means.var(0, ddof=1), aleatoric)


def cell_averages(
    model: Any, controls: AnnData, conditions: pd.DataFrame, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Per condition, the average over start cells of ``model.predict``'s per-cell ``mean``
    and ``variance`` layers: two ``(n_conditions, n_genes)`` arrays (``options`` go to
    ``predict``)."""
    cells = model.predict(controls, conditions, **options)
    idx = cells.obs["condition_index"].to_numpy()
    layers = [np.asarray(cells.layers[k], dtype=np.float64) for k in ("mean", "variance")]
    mean, var = (np.stack([a[idx == i].mean(0) for i in range(len(conditions))]) for a in layers)
    return mean, var
