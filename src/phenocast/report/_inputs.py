"""Checks of :func:`write_report`'s inputs: every input is checked before anything is drawn,
and each message names its argument and what was expected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data import RegistrationError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..models import Compositional

__all__: list[str] = []


def _numeric(value: Any, what: str, *, ndim: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a numeric array, not {type(value).__name__}.") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{what} must be {ndim}-D, got shape {arr.shape}.")
    return arr


def _expect(ok: bool, arg: str, expected: str, value: Any) -> None:
    if not ok:
        raise TypeError(f"{arg} must be {expected}, not {type(value).__name__}.")


def _check_model(model: Any) -> Compositional:
    from ..models import Compositional

    _expect(isinstance(model, Compositional), "model", "a fitted Compositional model", model)
    if model.module is None:
        raise ValueError("model is not fitted; call model.fit(adata) before writing a report.")
    return model


def _check_adata(adata: Any, model: Compositional | None) -> AnnData:
    from anndata import AnnData

    _expect(isinstance(adata, AnnData), "adata", "an AnnData", adata)
    if model is None:
        raise ValueError("adata was given without model: the latent map of cells needs a model.")
    try:
        model.registry.check_genes(adata)
    except RegistrationError as err:
        raise ValueError(f"adata does not match model.registry: {err}") from None
    return adata


def _check_heldout(heldout: Any) -> list[tuple[str, np.ndarray, dict[str, np.ndarray]]]:
    expected = "a list of (label, observed_delta, {model_name: predicted_delta}) tuples"
    ok = isinstance(heldout, Sequence) and not isinstance(heldout, str | bytes)
    _expect(ok, "heldout", expected, heldout)
    if not heldout:
        raise ValueError(f"heldout is empty; pass {expected} or None.")
    out = []
    for i, panel in enumerate(heldout):
        if not isinstance(panel, tuple | list) or len(panel) != 3:
            raise TypeError(f"heldout[{i}] must be a (label, observed_delta, predictions) tuple.")
        label, obs, preds = panel
        obs = _numeric(obs, f"heldout[{i}] observed_delta", ndim=1)
        ok = isinstance(preds, Mapping) and bool(preds)
        _expect(ok, f"heldout[{i}] predictions", "a non-empty dict model -> predicted Δ", preds)
        arrays = {str(k): _numeric(v, f"heldout[{i}][{k!r}]", ndim=1) for k, v in preds.items()}
        for name, arr in arrays.items():
            if arr.shape != obs.shape:
                raise ValueError(
                    f"heldout[{i}][{name!r}] has shape {arr.shape}; the observed Δ has {obs.shape}."
                )
        out.append((str(label), obs, arrays))
    return out


def _check_dose_response(names: Any, model: Compositional | None) -> list[str]:
    ok = isinstance(names, Sequence) and not isinstance(names, str)
    _expect(ok, "dose_response", "a list of perturbation names", names)
    if not names:
        raise ValueError("dose_response is empty; name at least one perturbation, or pass None.")
    if model is None:
        raise ValueError("dose_response was given without model: the curves need a model.")
    reg, trained = model.registry, set(model.trained_components_)
    if reg.dose_key is None:
        raise ValueError("dose_response was given but the model's registry has no dose column.")
    for name in names:
        try:
            comps = reg.parse(name).components
        except RegistrationError as err:
            raise ValueError(f"dose_response: {err}") from None
        if not comps:
            raise ValueError(f"dose_response: {name!r} is the control, which has no dose.")
        if unknown := [c for c in comps if c not in trained]:
            raise ValueError(
                f"dose_response: {name!r} names {unknown}, which the model was not trained on; "
                f"trained perturbations: {sorted(trained)[:20]}."
            )
    return [str(n) for n in names]


def _check_benchmark(benchmark: Any) -> Mapping[str, Any]:
    ok = isinstance(benchmark, Mapping) and isinstance(benchmark.get("tasks"), Mapping)
    _expect(ok, "benchmark", "the dict of a run_benchmark JSON file (with 'tasks')", benchmark)
    for name, task in benchmark["tasks"].items():
        models = task.get("models") if isinstance(task, Mapping) else None
        if not isinstance(models, Mapping) or not all(
            isinstance(e, Mapping) for e in models.values()
        ):
            raise ValueError(
                f"benchmark['tasks'][{name!r}] needs a 'models' mapping of model name -> "
                "{'status', 'note', 'metrics'} as run_benchmark writes it."
            )
    return benchmark


def _check_screen(screen: Any) -> pd.DataFrame:
    _expect(isinstance(screen, pd.DataFrame), "screen", "a pandas DataFrame of hits", screen)
    if missing := [c for c in ("rank", "perturbation", "score") if c not in screen.columns]:
        raise ValueError(
            f"screen lacks the column(s) {missing}; it needs at least rank, perturbation and "
            f"score (has {list(screen.columns)[:12]})."
        )
    for col in ("rank", "score", "uncertainty"):
        if col in screen.columns and not pd.api.types.is_numeric_dtype(screen[col]):
            raise ValueError(f"screen column {col!r} must be numeric, not {screen[col].dtype}.")
    return screen


def _check_calibration(calibration: Any) -> dict[str, np.ndarray]:
    keys = ("mean", "variance", "truth")
    _expect(
        isinstance(calibration, Mapping), "calibration", f"a dict of arrays {keys}", calibration
    )
    if missing := [k for k in keys if k not in calibration]:
        raise ValueError(f"calibration lacks {missing}; it needs arrays {keys}.")
    arrays = {k: _numeric(calibration[k], f"calibration[{k!r}]") for k in keys}
    shapes = {k: a.shape for k, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"calibration arrays must have the same shape, got {shapes}.")
    ok = (
        np.isfinite(arrays["mean"]) & np.isfinite(arrays["variance"]) & np.isfinite(arrays["truth"])
    )
    if not ok.any():
        raise ValueError("calibration arrays have no entry where all three are finite.")
    if (arrays["variance"][ok] < 0).any():
        raise ValueError("calibration['variance'] has negative values.")
    return arrays


def _check_design(design: Any) -> dict[str, np.ndarray]:
    ok = isinstance(design, Mapping) and bool(design)
    _expect(ok, "design", "a non-empty dict strategy -> cumulative hits per cycle", design)
    out = {}
    for name, hits in design.items():
        arr = _numeric(hits, f"design[{name!r}]", ndim=1)
        if arr.size == 0 or not np.isfinite(arr).all():
            raise ValueError(f"design[{name!r}] must be a non-empty sequence of finite counts.")
        if (np.diff(arr) < 0).any():
            raise ValueError(
                f"design[{name!r}] decreases; pass the cumulative number of hits after each "
                "cycle, not the hits of each cycle."
            )
        out[str(name)] = arr
    return out
