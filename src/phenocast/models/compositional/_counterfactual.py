"""How the compositional model answers a conditions table: encoding the conditions (with
the components its features can embed) and decoding every start cell under each of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...data import RegistrationError, dense_rows
from ._checks import check_start_cells
from ._model import UntrainedComponentError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from ...data import Registry
    from ._model import Compositional
    from ._module import Batch

__all__ = [
    "check_cell_covariates",
    "condition_batch",
    "counterfactuals",
    "prediction_vocabulary",
]


def condition_batch(model: Compositional, conditions: pd.DataFrame) -> Batch:
    """Encode a conditions table, with clear errors for unknown values."""
    reg = model.registry
    missing = [c for c in [reg.perturbation_key] if c not in conditions.columns]
    if missing:
        raise RegistrationError(
            f"conditions lacks the column {missing[0]!r}; it needs the registry's columns "
            f"{reg.condition_columns}."
        )
    if len(conditions) == 0:
        raise RegistrationError("conditions has no rows; give one row per condition to predict.")
    frame = conditions.copy()
    for key in reg.covariate_keys:
        if key not in frame.columns:
            frame[key] = reg.covariate_categories[key][0]  # replaced by the cells' own below
    if reg.time_key is not None and reg.time_key not in frame.columns:
        frame[reg.time_key] = 0.0
    x = np.zeros((len(frame), reg.n_vars), dtype=np.float32)
    vocab = prediction_vocabulary(model, frame)
    batch = model._batch(x, frame, registry=dataclasses.replace(reg, components=vocab))
    trained = set(model.trained_components_)
    if model.features_ is not None:
        covered = set(reg.components) - set(model.featureless_components_)
        trained |= covered  # untrained but featured: predicted from the prior
    untrained = sorted(
        {vocab[j] for j in batch.components.unique().tolist() if 0 <= j < len(reg.components)}
        - trained
    )
    if untrained:
        raise UntrainedComponentError(
            f"Perturbation component(s) {untrained} are in the registry but absent from the "
            "data the model was fitted on, so their embeddings are untrained. Fit on data "
            f"that contains them; trained components: {sorted(trained)[:20]}."
        )
    return batch


def prediction_vocabulary(model: Compositional, frame: pd.DataFrame) -> tuple[str, ...]:
    """The registry's components plus the unseen ones in ``frame`` the features cover;
    appends their feature rows to the module's (only the new names are featurised)."""
    import torch

    reg = model.registry
    if model.features_ is None:
        return tuple(reg.components)
    known = set(reg.components)
    extra = sorted({c for cond in reg.parse_frame(frame) for c in cond.components} - known)
    missing = model.features_.missing(extra)
    if missing:
        raise UntrainedComponentError(
            f"Perturbation component(s) {missing[:20]} (column {reg.perturbation_key!r}) "
            f"were not in the training data and the featuriser {model.features_.name!r} has "
            "no features for them, so the model cannot embed them."
        )
    module = model._require_fitted()
    n = max(len(reg.components), 1)
    base = module.component_features[:n]  # the registry's rows, set in fit / load
    if extra or module.component_features.shape[0] != n:
        rows = [base, model._vocabulary_features(extra)] if extra else [base]
        module.set_component_features(torch.cat(rows))
    return (*reg.components, *extra)


def counterfactuals(
    model: Compositional, controls: AnnData | None, conditions: pd.DataFrame
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (condition row, mean, variance): every start cell under each condition.

    Without ``controls``, the start is the mean basal latent of the condition's context.
    """
    import torch

    module = model._require_fitted()
    reg = model.registry
    cond = condition_batch(model, conditions)
    given_cov = [k in conditions.columns for k in reg.covariate_keys]
    given_time = reg.time_key is not None and reg.time_key in conditions.columns
    cells = None
    if controls is not None:
        reg.check_genes(controls)
        x = dense_rows(reg.matrix(controls))
        check_start_cells(reg, x, controls.obs)
        cells = model._batch(x, controls.obs, allow_unseen=True)
        z_cells = model._encode(cells)
    with torch.no_grad():
        for i in range(len(conditions)):
            if cells is None:
                ctx = tuple(cond.covariates[i].tolist())
                z0 = model._basal["contexts"].get(ctx, model._basal["all"])[None, :]
                cov = cond.covariates[i : i + 1]
                time = None if cond.time is None else cond.time[i : i + 1]
                library = None
            else:
                z0, cov = z_cells, cells.covariates.clone()
                for k, given in enumerate(given_cov):
                    if given:
                        cov[:, k] = cond.covariates[i, k]
                check_cell_covariates(reg, cov)
                time = cells.time
                if cond.time is not None and (given_time or time is None):
                    time = cond.time[i].expand(z0.shape[0])
                library = cells.library
            n = z0.shape[0]
            e = module.perturbation_effect(
                cond.components[i : i + 1].expand(n, -1),
                cond.doses[i : i + 1].expand(n, -1),
                time,
            )
            h = z0 + module.covariate_effect(cov) if len(module.covariate_embeddings) else z0
            mean, var = module.decode(h, e, library)
            yield i, mean, var


def check_cell_covariates(registry: Registry, cov: torch.Tensor) -> None:
    reg = registry
    bad = [reg.covariate_keys[k] for k in range(cov.shape[1]) if (cov[:, k] < 0).any()]
    if bad:
        known = {k: list(reg.covariate_categories[k])[:20] for k in bad}
        raise RegistrationError(
            f"The start cells have values of {bad} that the model never saw; give these "
            f"covariates in the conditions table. Known values: {known}."
        )
