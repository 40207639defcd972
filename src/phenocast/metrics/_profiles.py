"""Pure metric functions, exactly as ``BENCHMARKS.md`` defines them.

Profile metrics take 1-D gene vectors of one condition: ``pred`` (predicted mean profile),
``true`` (observed mean profile) and, where a Δ is involved, ``ctrl`` (the mean control profile
of the same cell type / line). Population metrics take two cell × gene matrices. Nothing here
does I/O or touches AnnData.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "energy_distance",
    "gaussian_nll",
    "interval_coverage",
    "l2",
    "mmd",
    "mse",
    "mse_topk_deg",
    "pearson",
    "pearson_delta",
    "pearson_rows",
    "r2",
    "r2_delta",
    "rmse",
    "top_deg_indices",
    "uncertainty_spearman",
]


def _vec(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {a.shape}.")
    return a


def _pair(pred: object, true: object) -> tuple[np.ndarray, np.ndarray]:
    p, t = _vec(pred, "pred"), _vec(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred and true differ in length: {p.shape[0]} vs {t.shape[0]}.")
    if p.size == 0:
        raise ValueError("pred and true are empty.")
    return p, t


def r2(pred: object, true: object) -> float:
    """Coefficient of determination ``1 − Σ(true−pred)² / Σ(true−mean(true))²``, not clipped.

    Returns NaN when ``true`` is constant.
    """
    p, t = _pair(pred, true)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot


def pearson(pred: object, true: object) -> float:
    """Pearson correlation; NaN when either vector is constant."""
    p, t = _pair(pred, true)
    pc, tc = p - p.mean(), t - t.mean()
    denom = float(np.sqrt(np.sum(pc**2) * np.sum(tc**2)))
    if denom == 0.0:
        return float("nan")
    return float(np.sum(pc * tc) / denom)


def pearson_rows(pred: object, true: object) -> np.ndarray:
    """Pearson correlation of every row of ``pred`` with the same row of ``true``.

    Row-wise over 2-D arrays of one shape: with samples in rows it is the correlation across
    features per sample, with the arrays transposed the correlation across samples per
    feature. A row that is constant in either array (sum of squares below 1e-12) gets NaN.
    The arrays keep their dtype.

    Examples
    --------
    >>> import numpy as np
    >>> pred = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    >>> true = np.array([[2.0, 4.0, 7.0], [0.0, 1.0, 2.0]])
    >>> pearson_rows(pred, true)
    array([0.99339927,        nan])
    """
    a, b = np.asarray(pred), np.asarray(true)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"pred and true must be 2-D arrays of one shape, got {a.shape} and {b.shape}."
        )
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a**2).sum(1) * (b**2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (a * b).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def pearson_delta(pred: object, true: object, *, ctrl: object) -> float:
    """Pearson correlation of ``pred − ctrl`` with ``true − ctrl``."""
    p, t = _pair(pred, true)
    c = _vec(ctrl, "ctrl")
    return pearson(p - c, t - c)


def r2_delta(pred: object, true: object, *, ctrl: object) -> float:
    """``r2(pred − ctrl, true − ctrl)``."""
    p, t = _pair(pred, true)
    c = _vec(ctrl, "ctrl")
    return r2(p - c, t - c)


def top_deg_indices(true: object, ctrl: object, k: int) -> np.ndarray:
    """Indices of the ``k`` genes with the largest ``|true − ctrl|`` (ties by gene order)."""
    t, c = _pair(true, ctrl)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    k = min(k, t.size)
    return np.argsort(-np.abs(t - c), kind="stable")[:k]


def mse(pred: object, true: object) -> float:
    """Mean squared error."""
    p, t = _pair(pred, true)
    return float(np.mean((p - t) ** 2))


def rmse(pred: object, true: object) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(pred, true)))


def mse_topk_deg(pred: object, true: object, *, ctrl: object, k: int = 20) -> float:
    """MSE over the ``k`` genes with the largest ``|true − ctrl|``."""
    p, t = _pair(pred, true)
    idx = top_deg_indices(t, ctrl, k)
    return float(np.mean((p[idx] - t[idx]) ** 2))


def l2(pred: object, true: object) -> float:
    """Euclidean distance ``‖pred − true‖₂`` over all genes."""
    p, t = _pair(pred, true)
    return float(np.linalg.norm(p - t))


# ------------------------------------------------------------------ population metrics


def _cells(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty cells × genes matrix, got shape {a.shape}.")
    return a


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def energy_distance(x: object, y: object) -> float:
    """Energy distance ``2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖`` between two cell populations.

    Zero for identical populations, symmetric, and positive when the distributions differ
    (V-statistic estimate: within-population averages include the zero diagonal).
    """
    a, b = _cells(x, "x"), _cells(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y differ in genes: {a.shape[1]} vs {b.shape[1]}.")
    xy = np.sqrt(_sq_dists(a, b)).mean()
    xx = np.sqrt(_sq_dists(a, a)).mean()
    yy = np.sqrt(_sq_dists(b, b)).mean()
    return float(2.0 * xy - xx - yy)


def mmd(x: object, y: object, *, bandwidth: float | None = None) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel (biased V-statistic).

    ``bandwidth`` defaults to the median pairwise distance of the pooled cells.
    """
    a, b = _cells(x, "x"), _cells(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y differ in genes: {a.shape[1]} vs {b.shape[1]}.")
    if bandwidth is None:
        pooled = np.vstack([a, b])
        d = np.sqrt(_sq_dists(pooled, pooled))
        off = d[np.triu_indices_from(d, k=1)]
        bandwidth = float(np.median(off)) if off.size and np.median(off) > 0 else 1.0
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}.")
    g = 1.0 / (2.0 * bandwidth**2)
    kxx = np.exp(-g * _sq_dists(a, a)).mean()
    kyy = np.exp(-g * _sq_dists(b, b)).mean()
    kxy = np.exp(-g * _sq_dists(a, b)).mean()
    return float(kxx + kyy - 2.0 * kxy)


# ------------------------------------------------------------------ calibration
def _calibration_arrays(
    mean: object, variance: object, truth: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = np.asarray(mean, dtype=np.float64).ravel()
    v = np.asarray(variance, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if not m.shape == v.shape == t.shape:
        raise ValueError(
            f"mean, variance and truth must have one shape; got {m.shape}, {v.shape}, "
            f"{t.shape} (flattened)."
        )
    if m.size == 0:
        raise ValueError("calibration metrics need at least one value.")
    if (v <= 0).any() or not np.isfinite(v).all():
        raise ValueError("variance must be positive and finite everywhere.")
    return m, v, t


def gaussian_nll(mean: object, variance: object, truth: object) -> float:
    """Mean negative log-likelihood of ``truth`` under N(mean, variance) (nats, with the
    ½ log 2π constant). Lower is better; rewards both accuracy and honest variances."""
    m, v, t = _calibration_arrays(mean, variance, truth)
    return float(np.mean(0.5 * (np.log(2 * np.pi * v) + (t - m) ** 2 / v)))


def interval_coverage(mean: object, variance: object, truth: object, *, level: float) -> float:
    """Share of ``truth`` inside the central ``level`` interval of N(mean, variance); a
    calibrated model covers ``level`` of them."""
    from statistics import NormalDist

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    m, v, t = _calibration_arrays(mean, variance, truth)
    half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(v)
    return float(np.mean(np.abs(t - m) <= half))


def uncertainty_spearman(mean: object, variance: object, truth: object) -> float:
    """Spearman correlation of the predicted standard deviation with the absolute error: does
    the model know where it is wrong? NaN when either is constant."""
    m, v, t = _calibration_arrays(mean, variance, truth)

    def ranks(a: np.ndarray) -> np.ndarray:
        order = np.argsort(a, kind="stable")
        r = np.empty(a.size)
        r[order] = np.arange(a.size)
        # average ranks of ties
        _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return sums[inv] / counts[inv]

    a, b = ranks(np.sqrt(v)), ranks(np.abs(t - m))
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _top(metric: Callable[..., float], k: int) -> Callable[..., float]:
    def scored(pred: object, true: object, *, ctrl: object) -> float:
        idx = top_deg_indices(true, ctrl, k)
        p, t, c = (np.asarray(v, dtype=np.float64)[idx] for v in (pred, true, ctrl))
        return metric(p, t) if metric is r2 else metric(p, t, ctrl=c)

    scored.__name__ = f"{metric.__name__}_top{k}"
    scored.__doc__ = f"{metric.__name__} restricted to the top-{k} genes by |true − ctrl|."
    return scored


#: Profile metrics by benchmark name; each is ``f(pred, true, *, ctrl) -> float``.
METRICS: dict[str, Callable[..., float]] = {
    "r2": lambda pred, true, *, ctrl: r2(pred, true),
    "pearson_delta": pearson_delta,
    "r2_delta": r2_delta,
    "r2_top100": _top(r2, 100),
    "pearson_delta_top100": _top(pearson_delta, 100),
    "mse_top20_deg": lambda pred, true, *, ctrl: mse_topk_deg(pred, true, ctrl=ctrl, k=20),
    "l2": lambda pred, true, *, ctrl: l2(pred, true),
}

#: Whether a larger value of the metric is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "r2": True,
    "pearson_delta": True,
    "r2_delta": True,
    "r2_top100": True,
    "pearson_delta_top100": True,
    "mse_top20_deg": False,
    "l2": False,
    "pearson": True,
    "rmse": False,
    "gaussian_nll": False,
    "uncertainty_spearman": True,
}
