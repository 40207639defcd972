"""How the compositional model answers a conditions table: encoding the conditions (with
the components its features can embed) and decoding every start cell under each of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...data import RegistrationError, dense_rows
from ._checks import at_least_zero, check_start_cells, finite, nonnegative_cells
from ._model import UnseenContextError, UntrainedComponentError
from ._zero import corrects_drift, drift_multipliers

if TYPE_CHECKING:  # pragma: no cover
    import os

    import torch
    from anndata import AnnData

    from ...data import Registry
    from ._model import Compositional
    from ._module import Batch

__all__ = [
    "cell_obs",
    "check_cell_covariates",
    "check_context_match",
    "check_doses",
    "condition_batch",
    "context_keys",
    "counterfactuals",
    "given_covariates",
    "predict_cells",
    "prediction_vocabulary",
    "start_residuals",
]


def predict_cells(
    model: Compositional,
    controls: AnnData,
    conditions: pd.DataFrame,
    *,
    out: str | os.PathLike[str] | None,
    overwrite: bool,
    cross_context: bool,
    extrapolate: bool,
    residual: bool,
) -> AnnData:
    """:meth:`Compositional.predict`: the dose rule and the context match checked, then each
    condition's start cells decoded under it (shifted towards the anchor's baseline), in
    memory or block by block into ``out``; with ``residual``, ``X`` each mean plus its start
    cell's own centred residual (for a readout that cannot be negative, clipped at 0 and
    rescaled gene by gene to the condition's mean clipped at 0, :func:`nonnegative_cells`:
    they average to :meth:`Compositional.predict_mean`'s answer)."""
    import anndata as ad

    from ._anchor import cell_shift

    if controls is None:
        raise ValueError("predict needs control cells; use predict_mean(None, ...) for means.")
    if residual and out is not None:
        raise ValueError(
            "predict(residual=True) holds the start cells' residuals in memory, so it does "
            "not write to out=; predict in memory (no out) or without residual."
        )
    flags = check_doses(model, conditions, extrapolate=extrapolate)
    check_context_match(model, controls.obs, conditions, cross_context=cross_context)
    if out is not None:
        from ._large import predict_to_file

        return predict_to_file(
            model, controls, conditions, out, overwrite=overwrite,
            cross_context=cross_context, extrapolated=flags,
        )  # fmt: skip
    means, cells, variances, obs = [], [], [], []
    residuals: list[np.ndarray] | None = [] if residual else None
    shift = cell_shift(model, controls, conditions, cross_context=cross_context)
    for i, mean, var, rows in counterfactuals(
        model, controls, conditions, cross_context=cross_context, residuals=residuals
    ):
        assert rows is not None  # start cells are given
        res = residuals[0] if residuals else None
        moved = finite(mean.numpy() + (0.0 if shift is None else shift[i]))
        means.append(at_least_zero(model.registry, moved))
        if res is not None:
            own = res[rows]
            drawn = moved + (own - own.mean(axis=0) if len(rows) else own)
            if model.registry.x_kind != "continuous" and len(rows):
                # back to the condition's mean, predict_mean's answer (the mean of the
                # per-cell means each clipped at 0 sits higher on genes near 0)
                drawn = nonnegative_cells(drawn, np.maximum(moved.mean(axis=0), 0.0))
            cells.append(drawn)
        variances.append(finite(var.numpy()))
        obs.append(cell_obs(model, controls, conditions, i, rows, flags))
    frame = pd.concat(obs, ignore_index=True)
    frame.index = [
        f"{c}-{i}" for c, i in zip(frame["control_cell"], frame["condition_index"], strict=True)
    ]
    mean = np.concatenate(means)
    x = np.concatenate(cells).astype(mean.dtype) if residual else mean
    adata = ad.AnnData(x, obs=frame, var=pd.DataFrame(index=list(model.registry.var_names)))
    adata.layers["mean"] = mean
    adata.layers["variance"] = np.concatenate(variances)
    return adata


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
        if key in frame.columns:
            unseen = sorted(set(frame[key].astype(str)) - set(reg.covariate_categories[key]))
            if unseen:
                raise UnseenContextError(
                    f"conditions column {key!r} has value(s) {unseen[:5]} the model was never "
                    f"fitted on, so it has no embedding for them; known: "
                    f"{list(reg.covariate_categories[key])[:10]}. Fit on data that contains "
                    "them (with their control cells), or predict in a known context."
                )
        else:
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


def given_covariates(model: Compositional, conditions: pd.DataFrame) -> list[str]:
    """The registry's covariates the conditions table gives (the contexts it asks for)."""
    return [k for k in model.registry.covariate_keys if k in conditions.columns]


def context_keys(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """One string per row of ``frame``: its values of the covariates ``keys``."""
    values = frame[keys].astype(str).to_numpy()
    return np.array(["\x1f".join(r) for r in values.tolist()], dtype=object)


def check_context_match(
    model: Compositional, obs: pd.DataFrame, conditions: pd.DataFrame, *, cross_context: bool
) -> None:
    """Refuse a condition whose context (the covariates the table gives) no start cell shares,
    unless ``cross_context``: it would be predicted from cells of other contexts."""
    keys = given_covariates(model, conditions)
    if cross_context or not keys or not len(obs):  # no start cells: check_start_cells says so
        return
    if any(k not in obs.columns for k in keys):  # encoding the start cells names the column
        return
    reg = model.registry
    have = {tuple(r) for r in obs[keys].astype(str).to_numpy().tolist()}
    for i, row in enumerate(conditions[keys].astype(str).to_numpy().tolist()):
        ctx = tuple(row)
        if ctx in have:
            continue
        known = all(v in reg.covariate_categories[k] for k, v in zip(keys, ctx, strict=True))
        if not known:
            continue  # an unknown value: encoding the conditions names it
        asked = ", ".join(f"{k}={v!r}" for k, v in zip(keys, ctx, strict=True))
        shown = sorted(have, key=str)[:10]
        contexts = [dict(zip(keys, c, strict=True)) for c in shown]
        raise RegistrationError(
            f"Condition row {i} asks for {asked}, but none of the {len(obs)} start cells has "
            f"that {'context' if len(keys) > 1 else 'value'} (column(s) {keys}); the start "
            f"cells' contexts are {contexts}{' ...' if len(have) > 10 else ''}. Pass start "
            f"cells of that context (e.g. controls[controls.obs[{keys[0]!r}] == "
            f"{ctx[0]!r}]), or cross_context=True (CLI: --cross-context) to predict it from "
            "cells of other contexts."
        )


def counterfactuals(
    model: Compositional,
    controls: AnnData | None,
    conditions: pd.DataFrame,
    *,
    cross_context: bool = False,
    residuals: list[np.ndarray] | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, np.ndarray | None]]:
    """Yield (condition row, mean, variance, start cells): the start cells under each condition.

    A condition ``K`` is the start cells plus each component's change from them plus the
    model's interaction term: ``model(K) + (Σ_{k∈K} q_k − 1) · b``, where ``b`` is the mean
    over the condition's start cells of the model's zero-perturbation reconstruction minus
    their values (the opposite of :func:`start_residuals`) and ``q_k`` the share of that
    drift component ``k``'s learned effect carries (:mod:`._zero`: 1 for one trained alone). The
    model learns its zero state and the effects together, and only the control cells tell
    them apart, so its zero state can sit ``b`` away from the controls while every effect
    trained alone carries ``−b``: singles fit, and a combination of ``k`` of them counts
    ``−b`` ``k`` times. This form does not depend on that split: a trained single or
    combination is the model's own fit, no components give the start cells' own mean. It
    applies where start cells are given and the likelihood is Gaussian (the NB likelihood
    composes on the log scale).

    With a ``residuals`` list, the start cells' residuals (:func:`start_residuals`, from the
    cells already read and encoded here) are appended to it before the first condition.

    A condition that gives a covariate starts only from the cells of that value (none in a
    block of cells without one: the caller checks a match exists, see
    :func:`check_context_match`); with ``cross_context``, from every cell, its covariate
    replaced by the condition's. Start cells are positions in ``controls``; without
    ``controls`` (``None``) the start is the mean basal latent of the condition's context.
    """
    import torch

    module = model._require_fitted()
    reg = model.registry
    cond = condition_batch(model, conditions)
    given_cov = [k in conditions.columns for k in reg.covariate_keys]
    match = [k for k, given in enumerate(given_cov) if given and not cross_context]
    given_time = reg.time_key is not None and reg.time_key in conditions.columns
    cells = bias = times = None
    if controls is not None:
        reg.check_genes(controls)
        x = dense_rows(reg.matrix(controls))
        check_start_cells(reg, x, controls.obs)
        cells = model._batch(x, controls.obs, allow_unseen=True)
        z_cells = model._encode(cells)
        if corrects_drift(model):
            times = drift_multipliers(model, cond.components.numpy())  # Σ charges − 1
        drift = times is not None and bool(np.any(times != 0))
        if residuals is not None or drift:
            res = start_residuals(model, x, cells, z_cells)
            if residuals is not None:
                residuals.append(res)
            if drift:  # the drift b: reconstruction minus values, the residual's opposite
                bias = torch.from_numpy(-res.astype(np.float32))
    drift_of: dict[bytes, torch.Tensor] = {}  # b averaged over each distinct set of start cells
    with torch.no_grad():
        for i in range(len(conditions)):
            rows = None
            if cells is None:
                ctx = tuple(cond.covariates[i].tolist())
                z0 = model._basal["contexts"].get(ctx, model._basal["all"])[None, :]
                cov = cond.covariates[i : i + 1]
                time = None if cond.time is None else cond.time[i : i + 1]
                library = None
            else:
                rows = np.arange(z_cells.shape[0])
                z0, cov, time, library = z_cells, cells.covariates, cells.time, cells.library
                if match:
                    same = (cells.covariates[:, match] == cond.covariates[i, match]).all(1)
                    rows = np.flatnonzero(same.numpy())
                    if not rows.size:  # no start cell of this context here
                        empty = torch.zeros(0, reg.n_vars)
                        yield i, empty, empty, rows
                        continue
                    if rows.size < z_cells.shape[0]:  # only then a copy of the cells' rows
                        take = torch.from_numpy(rows)
                        z0, cov = z_cells[take], cov[take]
                        time = None if time is None else time[take]
                        library = None if library is None else library[take]
                cov = cov.clone()
                for k, given in enumerate(given_cov):
                    if given:
                        cov[:, k] = cond.covariates[i, k]
                check_cell_covariates(reg, cov)
                if cond.time is not None and (given_time or time is None):
                    time = cond.time[i].expand(z0.shape[0])
            n = z0.shape[0]
            e = module.perturbation_effect(
                cond.components[i : i + 1].expand(n, -1),
                cond.doses[i : i + 1].expand(n, -1),
                time,
            )
            h = z0 + module.covariate_effect(cov) if len(module.covariate_embeddings) else z0
            mean, var = module.decode(h, e, library)
            if bias is not None and times[i] != 0 and rows is not None and rows.size:
                key = rows.tobytes() if rows.size < len(bias) else b""
                if key not in drift_of:
                    drift_of[key] = bias[torch.from_numpy(rows)].mean(0) if key else bias.mean(0)
                mean = mean + float(times[i]) * drift_of[key]
            yield i, mean, var, rows


def start_residuals(
    model: Compositional, x: np.ndarray, cells: Batch, z: torch.Tensor
) -> np.ndarray:
    """Each start cell's residual, ``(n_cells, n_genes)``: its values ``x`` minus the model's
    reconstruction of it (its basal latent ``z`` and own covariates decoded with no
    perturbation)."""
    import torch

    module = model._require_fitted()
    check_cell_covariates(model.registry, cells.covariates)
    with torch.no_grad():
        h = z + module.covariate_effect(cells.covariates) if len(module.covariate_embeddings) else z
        recon, _ = module.decode(h, torch.zeros_like(z), cells.library)
    return np.asarray(x, dtype=np.float64) - recon.numpy().astype(np.float64)


def check_cell_covariates(registry: Registry, cov: torch.Tensor) -> None:
    reg = registry
    bad = [reg.covariate_keys[k] for k in range(cov.shape[1]) if (cov[:, k] < 0).any()]
    if bad:
        known = {k: list(reg.covariate_categories[k])[:20] for k in bad}
        raise UnseenContextError(
            f"The start cells have values of {bad} that the model never saw; give these "
            f"covariates in the conditions table. Known values: {known}."
        )


def check_doses(model: Compositional, conditions: pd.DataFrame, *, extrapolate: bool) -> np.ndarray:
    """Per condition, whether it asks for a dose outside the trained range
    (:func:`phenocast.models.check_dose_range`); refuses a table without the dose column of a
    model trained with one."""
    from .._doses import check_dose_range, dose_requests

    reg = model.registry
    if reg.dose_key is None:
        return np.zeros(len(conditions), dtype=bool)
    if reg.dose_key not in conditions.columns:
        raise RegistrationError(
            f"conditions lacks the dose column {reg.dose_key!r}: the model was trained with "
            f"doses, so a condition must give its dose (it no longer means dose 1). Add a "
            f"{reg.dose_key!r} column: one dose per component, e.g. '1' or '1+0.5' for a pair "
            f"(the table has {list(conditions.columns)})."
        )
    requests = dose_requests(reg.parse_frame(conditions), set(model.trained_components_))
    return check_dose_range(requests, model.trained_doses_ or None, extrapolate=extrapolate)


def cell_obs(
    model: Compositional,
    controls: AnnData,
    conditions: pd.DataFrame,
    i: int,
    rows: np.ndarray,
    extrapolated: np.ndarray,
) -> pd.DataFrame:
    """``obs`` of the start cells ``rows`` of ``controls`` under condition ``i``: the
    condition's columns, ``condition_index``, ``control_cell``, ``source_<covariate>`` (the
    start cell's own value) and, with a dose column, ``extrapolated``."""
    reg, n = model.registry, len(rows)
    frame = pd.DataFrame({c: [conditions.iloc[i][c]] * n for c in conditions.columns})
    frame["condition_index"] = i
    frame["control_cell"] = controls.obs_names.to_numpy()[rows]
    for k in reg.covariate_keys:
        if k in controls.obs.columns:
            frame[f"source_{k}"] = controls.obs[k].astype(str).to_numpy()[rows]
    if reg.dose_key is not None:
        frame["extrapolated"] = bool(extrapolated[i])
    return frame
