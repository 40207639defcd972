"""Checking and conversion of the numpy inputs of the multimodal model's array-level core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["check_perturbations", "check_views"]


def _as_matrix(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"View {name!r} must be a 2-D (samples, features) array, got {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"View {name!r} must hold real numbers, got dtype {arr.dtype}.")
    return arr.astype(np.float64, copy=False)


def _row_mask(name: str, x: np.ndarray, given: Any | None) -> np.ndarray:
    """Which rows of ``x`` were measured: ``given``, or the rows without NaN."""
    finite = np.isfinite(x).all(1)
    if given is None:
        partial = ~finite & ~np.isnan(x).all(1)
        if partial.any():
            rows = np.flatnonzero(partial)[:5].tolist()
            raise ValueError(
                f"View {name!r} has rows with some missing (or infinite) values (e.g. rows "
                f"{rows}); a row is either measured or all NaN, or pass masks."
            )
        return finite
    mask = np.asarray(given)
    if mask.dtype != bool or mask.shape != (x.shape[0],):
        raise ValueError(
            f"masks[{name!r}] must be a boolean array of shape ({x.shape[0]},), got "
            f"{mask.dtype} {mask.shape}."
        )
    bad = mask & ~finite
    if bad.any():
        raise ValueError(
            f"View {name!r} has non-finite values in rows marked observed (e.g. rows "
            f"{np.flatnonzero(bad)[:5].tolist()})."
        )
    return mask


def check_views(
    views: dict[str, np.ndarray],
    masks: dict[str, np.ndarray] | None,
    *,
    dims: Mapping[str, int] | None,
    needed: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Validate views and masks: float64 arrays and per-view row masks.

    ``dims`` is ``None`` in ``fit`` (every sample then needs one observed view), else the
    fitted model's modality → feature count, which the views must match.
    """
    if not isinstance(views, dict) or not views:
        raise ValueError("views must be a non-empty dict of modality name -> 2-D array.")
    masks = dict(masks or {})
    for m in (*views, *masks):
        if not isinstance(m, str) or not m or "." in m:
            raise ValueError(f"Modality names must be non-empty strings without '.', got {m!r}.")
    if unknown := sorted(set(masks) - set(views)):
        raise ValueError(f"masks name modalities without a view: {unknown}.")
    if dims is not None:
        if unknown := sorted(set(views) - set(dims)):
            raise ValueError(f"Unknown modalities {unknown}; the model knows {list(dims)}.")
        if absent := [m for m in needed if m not in views]:
            raise ValueError(f"views lacks the modalities {absent}.")
    arrays = {m: _as_matrix(m, x) for m, x in views.items()}
    sizes = {m: a.shape[0] for m, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"Every view must have the same number of rows, got {sizes}.")
    if dims is not None:
        for m, a in arrays.items():
            if a.shape[1] != dims[m]:
                raise ValueError(
                    f"View {m!r} has {a.shape[1]} features; the model was fitted on {dims[m]}."
                )
    obs = {m: _row_mask(m, a, masks.get(m)) for m, a in arrays.items()}
    if dims is None:
        none = ~np.any(np.stack(list(obs.values())), axis=0)
        if none.any():
            raise ValueError(
                f"{int(none.sum())} sample(s) have no observed modality (e.g. rows "
                f"{np.flatnonzero(none)[:5].tolist()}); every sample needs at least one."
            )
    return arrays, obs


def check_perturbations(
    n: int,
    components: np.ndarray | None,
    doses: np.ndarray | None,
    features: np.ndarray | None,
    *,
    fitted: tuple[bool, int] | None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Validate component indices, doses and component features.

    ``fitted`` is ``None`` in ``fit``, else ``(use_doses, n_features)`` of the fitted model.
    """
    comps = None
    if components is not None:
        comps = np.asarray(components)
        if comps.ndim == 1:
            comps = comps[:, None]
        if comps.ndim != 2 or comps.shape[0] != n or not np.issubdtype(comps.dtype, np.integer):
            raise ValueError(
                f"components must be an integer (n={n}, K) array, got {comps.dtype} {comps.shape}."
            )
        if (comps < -1).any():
            raise ValueError("components hold indices >= 0, or -1 for padding.")
        comps = comps.astype(np.int64)
    dose_arr = None
    if doses is not None:
        if comps is None:
            raise ValueError("doses need components.")
        dose_arr = np.asarray(doses, dtype=np.float64)
        if dose_arr.ndim == 1:
            dose_arr = dose_arr[:, None]
        if dose_arr.shape != comps.shape or not np.isfinite(dose_arr).all():
            raise ValueError(
                f"doses must be finite and shaped like components {comps.shape}, got "
                f"{dose_arr.shape}."
            )
        if (dose_arr < 0).any():
            raise ValueError("doses must be >= 0.")
        if fitted is not None and not fitted[0]:
            raise ValueError("The model was fitted without doses; pass doses=None.")
    feats = None
    if features is not None:
        if fitted is None and comps is None:
            raise ValueError("component_features need components.")
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2 or not np.isfinite(feats).all():
            raise ValueError(
                f"component_features must be a finite 2-D (components, features) array, got "
                f"shape {feats.shape}."
            )
        if fitted is not None and feats.shape[1] != fitted[1]:
            raise ValueError(
                f"features must have {fitted[1]} columns (as in fit), got {feats.shape[1]}."
            )
    return comps, dose_arr, feats
