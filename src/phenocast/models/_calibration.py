"""Post-hoc recalibration of predictive variances, fitted on validation truths.

What is being calibrated
------------------------
A :class:`~phenocast.models.Prediction` of a perturbation model is per condition × gene. The
*truth* it is scored against is the observed **mean profile** of the condition: per gene, the
average over the condition's measured cells. Its predictive variance therefore has two parts:

* epistemic — the model's uncertainty about the condition's expected profile (members' or
  dropout masks' spread);
* aleatoric — the sampling noise of an average of ``n`` cells, i.e. the decoder's per-cell
  variance divided by ``n``. :func:`condition_mean_noise` makes that conversion; a
  :class:`Prediction` straight from :class:`~phenocast.models.Ensemble` or
  :class:`~phenocast.models.MCDropout` carries the *per-cell* variance.

Recalibration rescales the variance, ``v' = a · epistemic + b · aleatoric``, with the scales
chosen to minimise the Gaussian negative log-likelihood of validation truths (conditions held
out of the model's training, never the test conditions). ``mode="total"`` uses one scale
``a = b = s`` and has the closed form ``s = mean((truth − mean)² / v)``; ``mode="separate"``
fits ``a`` and ``b`` (profile likelihood: for a mixing weight ``w``, ``a = s w`` and
``b = s (1 − w)`` with ``s`` in closed form; ``w`` by grid and bounded search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._ensemble import Prediction

__all__ = ["VarianceCalibration", "condition_mean_noise", "fit_variance_calibration"]

_MODES = ("total", "separate")


def _nll(residual2: np.ndarray, variance: np.ndarray) -> float:
    return float(np.mean(0.5 * (np.log(2 * np.pi * variance) + residual2 / variance)))


@dataclass(frozen=True, kw_only=True)
class VarianceCalibration:
    """Scales fitted by :func:`fit_variance_calibration`; :meth:`apply` rescales a prediction.

    Attributes
    ----------
    epistemic_scale, aleatoric_scale
        Multipliers of the epistemic and aleatoric variance (equal for ``mode="total"``).
    mode
        ``"total"`` (one scale) or ``"separate"``.
    n_values
        Validation values (condition × gene) the scales were fitted on.
    nll_before, nll_after
        Mean Gaussian NLL of those values before and after rescaling.
    """

    epistemic_scale: float
    aleatoric_scale: float
    mode: Literal["total", "separate"]
    n_values: int
    nll_before: float
    nll_after: float

    def __post_init__(self) -> None:
        for name in ("epistemic_scale", "aleatoric_scale"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}.")
        if self.epistemic_scale + self.aleatoric_scale <= 0:
            raise ValueError("epistemic_scale and aleatoric_scale cannot both be 0.")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}.")

    def apply(self, prediction: Prediction) -> Prediction:
        """The same mean with rescaled epistemic and aleatoric variances."""
        if not isinstance(prediction, Prediction):
            raise TypeError(f"apply needs a Prediction, got {type(prediction).__name__}.")
        return Prediction(
            prediction.mean,
            self.epistemic_scale * np.asarray(prediction.epistemic, dtype=np.float64),
            self.aleatoric_scale * np.asarray(prediction.aleatoric, dtype=np.float64),
        )


def condition_mean_noise(prediction: Prediction, n_cells: Sequence[int] | np.ndarray) -> Prediction:
    """Turn per-cell aleatoric variance into the noise of a condition's mean over its cells.

    Parameters
    ----------
    prediction
        Rows are conditions; ``aleatoric`` holds a per-cell variance.
    n_cells
        Cells averaged into each condition's truth, one per row (≥ 1).

    Returns
    -------
    Prediction
        ``aleatoric / n_cells`` per row; mean and epistemic unchanged.
    """
    n = np.asarray(n_cells, dtype=np.float64).ravel()
    rows = np.shape(prediction.aleatoric)[0] if np.ndim(prediction.aleatoric) else 0
    if n.size != rows:
        raise ValueError(f"n_cells needs one value per condition ({rows}), got {n.size}.")
    if not np.isfinite(n).all() or (n < 1).any():
        raise ValueError(f"n_cells must be counts >= 1, got {n[(n < 1) | ~np.isfinite(n)][:5]}.")
    aleatoric = np.asarray(prediction.aleatoric, dtype=np.float64)
    shape = (-1,) + (1,) * (aleatoric.ndim - 1)
    return Prediction(prediction.mean, prediction.epistemic, aleatoric / n.reshape(shape))


def _stack(
    predictions: Prediction | Sequence[Prediction],
    truths: np.ndarray | Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened squared residuals, epistemic and aleatoric variance, validated."""
    if isinstance(predictions, Prediction):
        predictions, truths = [predictions], [np.asarray(truths)]
    predictions, truths = list(predictions), list(truths)
    if not predictions:
        raise ValueError("fit_variance_calibration needs at least one validation Prediction.")
    if len(predictions) != len(truths):
        raise ValueError(
            f"Got {len(predictions)} predictions but {len(truths)} truth arrays; give one each."
        )
    r2, epi, ale = [], [], []
    for i, (pred, truth) in enumerate(zip(predictions, truths, strict=True)):
        if not isinstance(pred, Prediction):
            raise TypeError(f"predictions[{i}] must be a Prediction, got {type(pred).__name__}.")
        t = np.asarray(truth, dtype=np.float64)
        parts = [
            np.asarray(a, dtype=np.float64) for a in (pred.mean, pred.epistemic, pred.aleatoric)
        ]
        if any(p.shape != t.shape for p in parts):
            raise ValueError(
                f"predictions[{i}] has shape {parts[0].shape} (mean), {parts[1].shape} "
                f"(epistemic), {parts[2].shape} (aleatoric) but its truth has {t.shape}."
            )
        if not all(np.isfinite(a).all() for a in (t, *parts)):
            raise ValueError(f"predictions[{i}] or its truth contains NaN or infinite values.")
        if (parts[1] < 0).any() or (parts[2] < 0).any():
            raise ValueError(f"predictions[{i}] has negative variances.")
        r2.append(((t - parts[0]) ** 2).ravel())
        epi.append(parts[1].ravel())
        ale.append(parts[2].ravel())
    return np.concatenate(r2), np.concatenate(epi), np.concatenate(ale)


def fit_variance_calibration(
    predictions: Prediction | Sequence[Prediction],
    truths: np.ndarray | Sequence[np.ndarray],
    *,
    mode: Literal["total", "separate"] = "total",
    min_values: int = 10,
) -> VarianceCalibration:
    """Fit variance scales that minimise the Gaussian NLL of validation truths.

    Parameters
    ----------
    predictions
        Predictions of validation conditions (held out of the model's training, never the
        test conditions), one or several (e.g. one per inner fold).
    truths
        Observed values aligned with each prediction's ``mean`` (for perturbation models:
        per-condition mean profiles; see the module docstring for the aleatoric part).
    mode
        ``"total"``: one scale on the total variance; ``"separate"``: one on each part.
    min_values
        Refuse to fit on fewer validation values than this.

    Returns
    -------
    VarianceCalibration
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
    r2, epi, ale = _stack(predictions, truths)
    if r2.size < min_values:
        raise ValueError(
            f"Only {r2.size} validation values; at least min_values={min_values} are needed."
        )
    total = epi + ale
    if (total <= 0).any():
        raise ValueError(
            f"The predicted variance is 0 for {(total <= 0).sum()} of {total.size} validation "
            "values; a scale cannot make them positive (add a noise model or a floor)."
        )
    before = _nll(r2, total)
    if mode == "total":
        s = float(np.mean(r2 / total))
        return VarianceCalibration(
            epistemic_scale=s,
            aleatoric_scale=s,
            mode="total",
            n_values=int(r2.size),
            nll_before=before,
            nll_after=_nll(r2, s * total),
        )
    if not epi.any() or not ale.any():
        part = "epistemic" if not epi.any() else "aleatoric"
        raise ValueError(
            f"mode='separate' needs both variance parts, but the {part} variance is 0 "
            "everywhere; use mode='total'."
        )
    return _fit_separate(r2, epi, ale, before)


def _fit_separate(
    r2: np.ndarray, epi: np.ndarray, ale: np.ndarray, before: float
) -> VarianceCalibration:
    from scipy.optimize import minimize_scalar

    def profile(w: float) -> tuple[float, float]:
        """NLL at mixing weight ``w`` with the scale ``s`` in closed form; and ``s``."""
        v = w * epi + (1.0 - w) * ale
        if (v <= 0).any():  # a part that is zero somewhere cannot carry all the variance
            return np.inf, np.nan
        s = float(np.mean(r2 / v))
        return _nll(r2, s * v), s

    grid = np.linspace(0.0, 1.0, 41)
    values = [profile(w)[0] for w in grid]
    k = int(np.argmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best_w, best = float(grid[k]), float(values[k])
    if hi > lo:
        res = minimize_scalar(
            lambda w: profile(w)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-6}
        )
        if res.fun < best:
            best_w, best = float(res.x), float(res.fun)
    s = profile(best_w)[1]
    return VarianceCalibration(
        epistemic_scale=s * best_w,
        aleatoric_scale=s * (1.0 - best_w),
        mode="separate",
        n_values=int(r2.size),
        nll_before=before,
        nll_after=best,
    )
