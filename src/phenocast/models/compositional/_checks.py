"""What the compositional model refuses, by name, rather than give a wrong answer: data it
cannot train on, start cells it cannot start from, predictions that are not finite; and the
values a readout can hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...data import RegistrationError
from .._checks import check_training_data

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ...data import Registry
    from ._model import Compositional

__all__ = [
    "at_least_zero",
    "check_start_cells",
    "check_trainable",
    "finite",
    "nonnegative_cells",
    "readout_values",
]


def check_trainable(model: Compositional, adata: AnnData) -> None:
    """Refuse data and settings that cannot train a model, before any work is done."""
    reg = model.registry
    check_training_data(
        n_samples=adata.n_obs,
        n_features=min(reg.n_vars, adata.n_vars),
        n_perturbations=len(reg.components),
    )
    if model.config.likelihood == "nb" and reg.x_kind != "counts":
        raise RegistrationError(
            f"likelihood='nb' models raw counts, but the registered values are "
            f"{reg.x_kind!r}. Use likelihood='auto' (it picks Gaussian for these values), "
            "or register the raw-count layer (register(..., layer='counts'))."
        )


def check_start_cells(registry: Registry, x: np.ndarray, obs: pd.DataFrame) -> None:
    """Refuse start cells that cannot give a counterfactual: none at all, non-finite values,
    or cells the registry's perturbation column marks as perturbed."""
    where = f"adata.layers[{registry.layer!r}]" if registry.layer is not None else "adata.X"
    if x.shape[0] == 0:
        raise RegistrationError(
            "The start cells (controls) are 0 cells; pass at least one control cell, or "
            "controls=None to start from the model's stored basal state."
        )
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise RegistrationError(
            f"The start cells' {where} holds {int(bad.sum())} NaN or infinite value(s) in "
            f"{rows.size} cell(s) (e.g. {list(obs.index[rows[:3]])}); drop or fix those cells."
        )
    key, control = registry.perturbation_key, registry.control
    if control is not None and key in obs.columns:
        labels = obs[key].astype(str).to_numpy()
        perturbed = labels != str(control)
        if perturbed.any():
            seen = sorted(set(labels[perturbed]))
            raise RegistrationError(
                f"{int(perturbed.sum())} of the {len(labels)} start cells are perturbed "
                f"(column {key!r}: {seen[:5]}), not controls ({control!r}). Pass control cells "
                f"only, e.g. adata[adata.obs[{key!r}] == {str(control)!r}]."
            )


def finite(values: np.ndarray) -> np.ndarray:
    """``values``, or a named error if any prediction is NaN or infinite (never returned)."""
    if not np.isfinite(values).all():
        raise RuntimeError(
            f"{int((~np.isfinite(values)).sum())} predicted value(s) are NaN or infinite: the "
            "model's weights or the start cells' values overflow. Refit (lower lr) or check the "
            "start cells; nothing was returned."
        )
    return values


def readout_values(registry: Registry, values: np.ndarray) -> np.ndarray:
    """Predicted means as the readout can hold them: a named error for NaN or infinite values
    (:func:`finite`), and clipped at 0 unless the readout is continuous. Counts and
    log-normalised expression are never negative, but a decoder's linear read-out (and the
    anchor's shift) can go below 0 on genes near 0."""
    return at_least_zero(registry, finite(values))


def at_least_zero(registry: Registry, values: np.ndarray) -> np.ndarray:
    """``values`` clipped at 0 unless the readout is continuous (NaN stays NaN)."""
    return values if registry.x_kind == "continuous" else np.maximum(values, 0.0)


def nonnegative_cells(cells: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``cells`` of a condition clipped at 0 and rescaled gene by gene to ``mean`` again
    (clipping raises a gene's mean; ``cells`` average to ``mean`` ≥ 0 before it): the cells'
    zeros and relative spread kept, the condition's mean unchanged."""
    clipped = np.maximum(cells, 0.0)
    have = clipped.mean(axis=0)
    scale = np.divide(mean, have, out=np.zeros_like(have), where=have > 0)
    return clipped * scale
