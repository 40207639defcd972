"""Mutual information between two readouts of the same samples, with uncertainty.

Two estimators, both returning an :class:`MIEstimate` in nats:

* :func:`gaussian_mi` fits a Gaussian (canonical-correlation) model to PCA-reduced,
  whitened views, with optional shrinkage, and scores it on held-out samples
  (cross-fitting), with a bootstrap and an optional permutation test.
* :func:`predictive_mi` turns per-sample held-out log densities from any model,
  ``log q(x_b | x_a)`` and ``log q(x_b)``, into an estimate with a bootstrap.

:func:`gaussian_mi_from_covariance` is the closed form for a known joint covariance.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import digamma, erfinv

__all__ = ["MIEstimate", "gaussian_mi", "gaussian_mi_from_covariance", "predictive_mi"]

# candidate PCA sizes per view when n_components is None (each capped by the view's rank)
_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# a canonical correlation within this of 1 is a linear dependence, not a measurement
_COLLINEAR = 1e-9


@dataclass(frozen=True, slots=True)
class MIEstimate:
    """An estimate of I(X_a; X_b) in nats.

    Attributes
    ----------
    value
        The point estimate (it can be slightly negative on held-out data: see the estimator).
    se
        Standard error (bootstrap standard deviation of the estimate).
    ci_low, ci_high
        Percentile bootstrap confidence interval.
    n
        Number of paired samples.
    estimator
        ``"gaussian"`` or ``"predictive"``.
    details
        Estimator-specific diagnostics (documented by each estimator).
    """

    value: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    estimator: str
    details: Mapping[str, Any] = field(default_factory=dict)


def gaussian_mi_from_covariance(cov: np.ndarray, dim_a: int) -> float:
    """Mutual information (nats) of a Gaussian vector split into its first ``dim_a`` coordinates
    and the rest: ``0.5 * (log det S_aa + log det S_bb - log det S)``.

    Examples
    --------
    >>> rho = 0.6
    >>> round(gaussian_mi_from_covariance(np.array([[1, rho], [rho, 1]]), 1), 6)
    0.223144
    >>> round(-0.5 * math.log(1 - rho**2), 6)
    0.223144
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square matrix; got shape {cov.shape}.")
    if not 0 < dim_a < cov.shape[0]:
        raise ValueError(f"dim_a must be in [1, {cov.shape[0] - 1}]; got {dim_a}.")
    parts = []
    for block in (cov, cov[:dim_a, :dim_a], cov[dim_a:, dim_a:]):
        sign, logdet = np.linalg.slogdet(block)
        if sign <= 0:
            raise ValueError("cov is not positive definite; add noise variance to its diagonal.")
        parts.append(logdet)
    return float(0.5 * (parts[1] + parts[2] - parts[0]))


# ----------------------------------------------------------------------- helpers
def _as_views(xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, x in (("xa", xa), ("xb", xb)):
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ValueError(f"{name} must be a (n_samples, n_features) array; got {arr.shape}.")
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{name} has {int(bad.sum())} non-finite value(s) in "
                f"{int(bad.any(axis=1).sum())} row(s); keep only samples observed in both "
                "views (e.g. MultiModalData.mask(a) & mask(b))."
            )
        const = np.flatnonzero((arr == arr[:1]).all(axis=0))  # every column when no rows
        if 0 < const.size < arr.shape[1]:  # a wholly constant view is refused later
            shown = ", ".join(map(str, const[:8])) + (", …" if const.size > 8 else "")
            warnings.warn(
                f"{name} has {const.size} constant feature(s) (columns {shown}); they carry no "
                "information and are ignored.",
                UserWarning,
                stacklevel=3,
            )
        out.append(arr)
    if out[0].shape[0] != out[1].shape[0]:
        raise ValueError(
            f"xa has {out[0].shape[0]} rows but xb has {out[1].shape[0]}; rows must be the "
            "same samples in the same order."
        )
    return out[0], out[1]


def _check_not_collinear(xa: np.ndarray, xb: np.ndarray, plugin: Mapping[str, Any]) -> None:
    """Refuse views one of which is a linear function of the other (or the same matrix): their
    Gaussian MI is infinite, and the estimate only a number set by its numerical clip."""
    rho = plugin.get("canonical_correlations", ())
    if rho and max(rho) > 1 - _COLLINEAR:
        same = xa.shape == xb.shape and np.array_equal(xa, xb)
        raise ValueError(
            ("xa and xb are the same matrix (a readout against itself?)" if same else
             f"xb is a linear function of xa (canonical correlation {max(rho):.12f} on "
             f"{xa.shape[0]} samples)")
            + ": their joint covariance is singular and the Gaussian mutual information is "
            "infinite, which no finite estimate represents. Compare two different readouts, "
            "or drop the features one readout copies from the other."
        )  # fmt: skip


def _interval(
    value: float,
    boot: np.ndarray,
    se_fallback: float,
    confidence: float,
    *,
    recentre: bool = False,
) -> tuple[float, float, float]:
    boot = boot[np.isfinite(boot)]
    if boot.size >= 2:
        tail = 100 * (1 - confidence) / 2
        low, high = np.percentile(boot, [tail, 100 - tail])
        shift = value - float(boot.mean()) if recentre else 0.0
        return float(np.std(boot, ddof=1)), float(low) + shift, float(high) + shift
    z = math.sqrt(2) * float(erfinv(confidence))
    return se_fallback, value - z * se_fallback, value + z * se_fallback


def _check_common(n_boot: int, confidence: float) -> None:
    if int(n_boot) < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")


def _scores(x: np.ndarray, k: int) -> np.ndarray:
    """The top-k' principal component scores of ``x``, each scaled to unit variance."""
    xc = x - x.mean(axis=0)
    n, d = xc.shape
    # eigh of the smaller Gram matrix: much cheaper than an SVD when n >> d or d >> n
    if d <= n:
        evals, evecs = np.linalg.eigh(xc.T @ xc)
        evals, scores = evals[::-1], xc @ evecs[:, ::-1]
    else:
        evals, u = np.linalg.eigh(xc @ xc.T)
        evals, scores = evals[::-1], u[:, ::-1] * np.sqrt(np.clip(evals[::-1], 0.0, None))
    top = evals[0] if evals.size else 0.0
    rank = int((evals > top * 1e-10).sum()) if top > 0 else 0
    if rank == 0:
        raise ValueError("a view is constant over the samples; it carries no signal.")
    k = min(k, rank, max(n - 1, 1))
    return scores[:, :k] / np.sqrt(evals[:k] / max(n - 1, 1))


def _cross_alpha(a: np.ndarray, b: np.ndarray) -> float:
    """Ledoit–Wolf-type intensity for shrinking the cross-covariance of centred, whitened
    blocks towards 0: the summed estimated variance of its entries over their summed squares
    (the Schafer & Strimmer 2005 form). Only the cross block is scored: the whitened diagonal
    blocks are fixed at the identity, and counting their sampling noise (as a whole-matrix
    Ledoit–Wolf would) shrinks every real dependence away at these sample sizes."""
    n = a.shape[0]
    w = a[:, :, None] * b[:, None, :]
    c = w.mean(axis=0)
    var = n / (n - 1) ** 3 * ((w - c) ** 2).sum(axis=0)
    denom = float((c * c).sum() * (n / (n - 1)) ** 2)
    return 1.0 if denom <= 0 else float(np.clip(var.sum() / denom, 0.0, 1.0))


def _inv_sqrt(s: np.ndarray) -> np.ndarray:
    evals, evecs = np.linalg.eigh(s)
    if evals[0] <= 1e-10 * max(evals[-1], 1e-300):
        raise np.linalg.LinAlgError("singular covariance")
    return (evecs / np.sqrt(evals)) @ evecs.T


Shrink = float | Literal["ledoit-wolf"]
Model = tuple[int, int, Shrink]


def _canonical(
    a: np.ndarray, b: np.ndarray, shrink: Shrink
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Canonical correlations (raw and shrunk) and directions of two blocks of scores.

    Shrinking the whitened joint covariance towards the identity with intensity ``alpha``
    multiplies every canonical correlation by ``1 - alpha``.
    """
    n = a.shape[0]
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    wa, wb = _inv_sqrt(a.T @ a / (n - 1)), _inv_sqrt(b.T @ b / (n - 1))
    u, rho, vt = np.linalg.svd(wa @ (a.T @ b / (n - 1)) @ wb, full_matrices=False)
    rho = np.clip(rho, 0.0, 1.0)
    alpha = _cross_alpha(a @ wa, b @ wb) if shrink == "ledoit-wolf" else float(shrink)
    return rho, np.minimum((1 - alpha) * rho, 1 - 1e-12), u, vt.T, alpha


def _log_ratio(
    za: np.ndarray, zb: np.ndarray, rho: np.ndarray, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Per-row log q(a, b) - log q(a) - log q(b) for q with N(0, I) marginals and canonical
    correlations ``rho`` along directions ``u`` (of a) and ``v`` (of b)."""
    p, q = za @ u, zb @ v
    r2 = rho**2
    quad = (r2 * (p * p + q * q) - 2 * rho * p * q) / (2 * (1 - r2))
    return (-0.5 * np.log1p(-r2) - quad).sum(axis=1)


def _group_codes(groups: np.ndarray | None, n: int, n_folds: int | None = None) -> np.ndarray:
    """``(n,)`` integer codes ``0..G-1`` of the samples' groups (each its own without groups)."""
    if groups is None:
        return np.arange(n)
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(
            f"groups must have one label per sample, shape ({n},); got {labels.shape}."
        )
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError("groups has non-finite labels; give every sample a group.")
    if labels.dtype == object and any(g is None for g in labels):
        raise ValueError("groups has None labels; give every sample a group.")
    codes = np.unique(labels, return_inverse=True)[1].ravel()
    if n_folds is not None and codes.max() + 1 < n_folds:
        raise ValueError(
            f"groups has {codes.max() + 1} distinct label(s), fewer than n_folds={n_folds}; "
            "cross-fitting needs a group in every fold."
        )
    return codes


def _resample(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A cluster bootstrap: whole groups drawn with replacement.

    Returns the rows drawn and, per row, which drawn copy of a group it belongs to (copies of
    one group are distinct groups of the resample; rows of one copy share a fold).
    """
    n_groups = int(codes.max()) + 1
    if n_groups == codes.size:  # one sample per group: the ordinary bootstrap
        idx = np.asarray(rng.integers(0, codes.size, size=codes.size))
        return idx, idx
    members = np.split(np.argsort(codes, kind="stable"), np.cumsum(np.bincount(codes))[:-1])
    picks = rng.integers(0, n_groups, size=n_groups)
    idx = np.concatenate([members[g] for g in picks])
    copy = np.repeat(np.arange(n_groups), [members[g].size for g in picks])
    return idx, copy


def _fold_of(groups: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    uniq, inverse = np.unique(groups, return_inverse=True)
    order = rng.permutation(len(uniq))
    fold_of_group = np.empty(len(uniq), dtype=np.int64)
    fold_of_group[order] = np.arange(len(uniq)) % n_folds
    return fold_of_group[inverse]


def _crossfit(xa: np.ndarray, xb: np.ndarray, fold: np.ndarray, models: list[Model]) -> np.ndarray:
    """(len(models), n) held-out log ratios.

    Each view is reduced and whitened on all rows: that uses one view at a time, never the
    pairing, so it cannot leak dependence, and it makes the model's marginals fit. Only the
    canonical correlations and directions, which carry the dependence, are fitted on the
    other folds. A model that cannot be fitted (singular training covariance) scores -inf.
    """
    za = _scores(xa, max(m[0] for m in models))
    zb = _scores(xb, max(m[1] for m in models))
    out = np.empty((len(models), xa.shape[0]))
    for f in np.unique(fold):
        test, train = fold == f, fold != f
        for i, (ka, kb, shrink) in enumerate(models):
            ka, kb = min(ka, za.shape[1]), min(kb, zb.shape[1])
            try:
                _, rho, u, v, _ = _canonical(za[train, :ka], zb[train, :kb], shrink)
            except np.linalg.LinAlgError:
                out[i, test] = -np.inf
                continue
            out[i, test] = _log_ratio(za[test, :ka], zb[test, :kb], rho, u, v)
    return out


def _logdet_bias(k: int, n: int) -> float:
    """E[log det S] - log det Sigma for a sample covariance (divisor n - 1) of n Gaussian rows."""
    i = np.arange(1, k + 1)
    return float(k * math.log(2.0 / (n - 1)) + digamma((n - i) / 2.0).sum())


def _plugin(xa: np.ndarray, xb: np.ndarray, model: Model) -> dict[str, Any]:
    n = xa.shape[0]
    za, zb = _scores(xa, model[0]), _scores(xb, model[1])
    ka, kb = za.shape[1], zb.shape[1]
    out: dict[str, Any] = {}
    try:
        raw, rho, _, _, alpha = _canonical(za, zb, model[2])
    except np.linalg.LinAlgError:
        return out
    out["canonical_correlations"] = tuple(float(r) for r in raw)
    out["shrinkage_full_data"] = alpha
    out["plugin"] = float(-0.5 * np.log1p(-(rho**2)).sum())
    if n - ka - kb > 1:
        plugin_raw = float(-0.5 * np.log1p(-(np.minimum(raw, 1 - 1e-12) ** 2)).sum())
        correction = _logdet_bias(ka, n) + _logdet_bias(kb, n) - _logdet_bias(ka + kb, n)
        out["plugin_unshrunk"] = plugin_raw
        out["plugin_unbiased"] = plugin_raw - 0.5 * correction
    return out


def _models(
    n_components: int | tuple[int, int] | None,
    shrinkage: float | Literal["auto", "ledoit-wolf"] | None,
    da: int,
    db: int,
    n_train: int,
) -> list[Model]:
    if n_components is not None:
        if isinstance(n_components, int | np.integer):
            ka = kb = int(n_components)
        else:
            ka, kb = (int(k) for k in n_components)
        if ka < 1 or kb < 1:
            raise ValueError(f"n_components must be >= 1; got {n_components}.")
        sizes = [(min(ka, da), min(kb, db))]
    else:
        cap = max(1, n_train // 2)
        sizes = list(dict.fromkeys((min(k, da, cap), min(k, db, cap)) for k in _GRID))
    named: dict[str | None, list[Shrink]] = {
        "auto": ["ledoit-wolf", 0.0], "ledoit-wolf": ["ledoit-wolf"], None: [0.0]
    }  # fmt: skip
    shrinks = named[shrinkage] if isinstance(shrinkage, str | None) else [float(shrinkage)]
    models = [(a, b, sh) for a, b in sizes for sh in shrinks]
    # an unshrunk joint covariance needs more training rows than dimensions
    return [m for m in models if m[2] != 0.0 or m[0] + m[1] < n_train - 1] or models[:1]


# ----------------------------------------------------------------------- estimators
def gaussian_mi(
    xa: np.ndarray,
    xb: np.ndarray,
    *,
    n_components: int | tuple[int, int] | None = None,
    shrinkage: float | Literal["auto", "ledoit-wolf"] | None = "auto",
    n_folds: int = 5,
    n_boot: int = 200,
    n_perm: int = 0,
    groups: np.ndarray | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> MIEstimate:
    """Gaussian (canonical-correlation) estimate of I(X_a; X_b), scored on held-out samples.

    Each view is reduced to its top ``k`` principal components, whitened, and the canonical
    correlations ``rho_i`` between the two sets of scores are estimated (optionally shrunk
    towards 0). Under this Gaussian model ``I = -0.5 * sum_i log(1 - rho_i**2)``. The estimate
    is symmetric in ``a`` and ``b`` and invariant to rotations, rescaling and shifts of either
    view, and to any invertible linear map of a view once its components span it
    (``n_components`` at least its rank).

    **Bias and its correction.** The plug-in value on the data that fitted the canonical
    correlations is biased upward: finite-sample canonical correlations are inflated, by
    about ``k_a * k_b / (2 n)`` nats on independent views, far above the signal when ``n`` is
    in the hundreds. The estimate returned is instead *cross-fitted*: the canonical
    correlations and directions are fitted on ``n_folds - 1`` folds and ``value`` is the mean
    over held-out samples of ``log q(x_a, x_b) - log q(x_a) - log q(x_b)``. (The PCA and
    whitening use all samples, one view at a time: they never see the pairing, so they
    cannot leak dependence, and they keep the model's marginals right, so the held-out value
    is a lower-bound-type estimate rather than one inflated by marginal misfit.) Its bias is
    downward: about ``-k_a * k_b / (2 n_train)`` for Gaussian data, more when the PCA of a
    noisy view with more features than samples misses the signal. On independent views it
    sits at or just below 0; elsewhere it is conservative. The model (``k``, the same for
    both views and capped by each view's rank, and with ``shrinkage="auto"`` whether to
    shrink) is chosen by this held-out value; taking the best candidate adds a small upward
    selection bias (under 0.05 nats on independent views in the tests).

    Shrinkage multiplies every canonical correlation by ``1 - alpha``. ``"ledoit-wolf"``
    takes ``alpha`` as the Ledoit–Wolf ratio of estimation variance to signal, computed on
    the cross-covariance block of the whitened scores only (the Schafer–Strimmer form; a
    whole-matrix Ledoit–Wolf also counts the noise of the fixed identity blocks and shrinks
    real dependence away). It helps when ``n`` is small and ``k`` large, but costs much of a
    large MI (correlations near 1, where the log is steep), hence the unshrunk candidate in
    ``"auto"``.

    Parameters
    ----------
    xa, xb
        ``(n, d_a)`` and ``(n, d_b)`` paired samples (same rows), finite.
    n_components
        Components per view: an int (both), a pair ``(k_a, k_b)``, or ``None`` to choose from
        1, 2, 3, 4, 6, 8, 12, ... 64 (at most half the training rows).
    shrinkage
        ``"auto"`` (Ledoit–Wolf or none, whichever scores better held out),
        ``"ledoit-wolf"``, a fixed ``alpha`` in ``[0, 1]``, or ``None`` for none.
    n_folds
        Cross-fitting folds.
    n_boot
        Bootstrap replicates over samples (the chosen model is kept fixed; duplicated samples
        share a fold). ``se`` is their standard deviation and the interval their percentiles
        re-centred on ``value``: a resample has only ~63% distinct rows, so its models overfit
        more and its held-out values sit lower (by ``details["bootstrap_shift"]``), which
        would otherwise drag the interval below the estimate. ``0`` uses the cross-fitting
        standard error and a normal interval.
    n_perm
        If > 0, a permutation test of independence: the whole procedure (model choice
        included) is rerun with the rows of ``xb`` shuffled, giving ``details["p_value"]``
        (``(1 + #null >= value) / (1 + n_perm)``) and ``details["null_mean"]``. With few
        samples this is sharper than the interval, which the bootstrap widens.
    groups
        ``(n,)`` labels of samples that are not independent (e.g. the drug shared by several
        conditions). A group's samples then always share a cross-fitting fold, and the
        bootstrap resamples whole groups (a cluster bootstrap), so neither the value nor its
        interval counts correlated samples as independent evidence. ``None``: every sample
        is its own group.
    confidence
        Level of the interval.
    seed
        Seed of the fold assignment, the bootstrap and the permutations.

    Returns
    -------
    MIEstimate
        ``details``: ``n_components`` (chosen ``(k_a, k_b)``), ``shrinkage`` (chosen:
        ``"ledoit-wolf"`` or ``alpha``), ``shrinkage_full_data`` (its ``alpha`` on all
        samples), ``bootstrap_shift``, ``grid`` (``"k_a,k_b,shrinkage"`` → held-out
        value), ``se_crossfit`` (sd of the per-sample terms / sqrt(n)), ``plugin``
        (in-sample value of the chosen model), ``plugin_unshrunk``, ``plugin_unbiased``
        (the unshrunk in-sample value with the exact Wishart log-determinant bias removed:
        unbiased for Gaussian data and fixed projections, but noisy), and
        ``canonical_correlations`` (in-sample, unshrunk).

    Raises
    ------
    ValueError
        Besides bad arguments: ``xa`` and ``xb`` identical, or one a linear function of the
        other (a canonical correlation of 1 to within 1e-9), whose mutual information is
        infinite (a finite value would only reflect the estimator's numerical clip); a view
        constant over the samples. Constant features in a view only warn (``UserWarning``
        naming their columns), as they are ignored.
    """
    xa, xb = _as_views(xa, xb)
    _check_common(n_boot, confidence)
    if int(n_perm) < 0:
        raise ValueError(f"n_perm must be >= 0; got {n_perm}.")
    n = xa.shape[0]
    if int(n_folds) < 2 or n < 2 * int(n_folds):
        raise ValueError(
            f"gaussian_mi needs n_folds >= 2 and at least 2 samples per fold; got n={n}, "
            f"n_folds={n_folds}."
        )
    if shrinkage not in ("auto", "ledoit-wolf", None) and not (
        isinstance(shrinkage, int | float) and 0 <= float(shrinkage) <= 1
    ):
        raise ValueError(
            f"shrinkage must be 'auto', 'ledoit-wolf', None or a number in [0, 1]; got "
            f"{shrinkage!r}."
        )
    group_ids = _group_codes(groups, n, n_folds)
    from threadpoolctl import threadpool_limits

    # every matrix here is small: threaded BLAS only adds overhead, and on a busy machine it
    # made the bootstrap ~100x slower; the limit is scoped to this call and then restored
    with threadpool_limits(limits=1, user_api="blas"):
        rng = np.random.default_rng(seed)
        n_train = n - -(-n // n_folds)
        models = _models(n_components, shrinkage, xa.shape[1], xb.shape[1], n_train)
        terms = _crossfit(xa, xb, _fold_of(group_ids, n_folds, rng), models)
        means = terms.mean(axis=1)
        best = int(np.argmax(means))
        value = float(means[best])
        plugin = _plugin(xa, xb, models[best])
        _check_not_collinear(xa, xb, plugin)
        se_cf = float(terms[best].std(ddof=1) / math.sqrt(n))
        boot = np.empty(int(n_boot))
        for b in range(int(n_boot)):
            idx, copy = _resample(group_ids, rng)
            boot[b] = _crossfit(
                xa[idx], xb[idx], _fold_of(copy, n_folds, rng), [models[best]]
            ).mean()
        null = np.array(
            [
                _crossfit(xa, xb[rng.permutation(n)], _fold_of(group_ids, n_folds, rng), models)
                .mean(axis=1)
                .max()
                for _ in range(int(n_perm))
            ]
        )
    se, low, high = _interval(value, boot, se_cf, confidence, recentre=True)
    ka, kb, shrink = models[best]
    details: dict[str, Any] = {
        "n_components": (min(ka, xa.shape[1]), min(kb, xb.shape[1])),
        "shrinkage": shrink,
        "grid": {f"{a},{c},{sh}": float(m) for (a, c, sh), m in zip(models, means, strict=True)},
        "se_crossfit": se_cf,
        "bootstrap_shift": float(np.mean(boot[np.isfinite(boot)]) - value)
        if np.isfinite(boot).sum()
        else math.nan,
        "n_folds": int(n_folds),
        "n_boot": int(n_boot),
        "n_groups": int(group_ids.max() + 1),
        "confidence": confidence,
    }
    details.update(plugin)
    if int(n_perm) > 0:
        details["p_value"] = float((1 + (null >= value).sum()) / (1 + null.size))
        details["null_mean"] = float(null.mean())
    return MIEstimate(value, se, low, high, n, "gaussian", details)


def predictive_mi(
    log_p_cond: np.ndarray,
    log_p_marg: np.ndarray,
    *,
    n_boot: int = 1000,
    groups: np.ndarray | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> MIEstimate:
    """I(X_a; X_b) from a model's held-out log densities: ``mean(log q(x_b|x_a) - log q(x_b))``.

    With the true densities this is unbiased; with fitted ones, scored on samples they were
    not fitted on, it is a variational estimate whose error is the difference of the two
    models' excess losses (a good conditional and a poor marginal inflate it).

    Parameters
    ----------
    log_p_cond, log_p_marg
        ``(n,)`` per-sample held-out ``log q(x_b | x_a)`` and ``log q(x_b)`` (nats), same order.
    n_boot
        Bootstrap replicates of the mean; ``0`` gives the normal interval from sd / sqrt(n).
    groups
        ``(n,)`` labels of dependent samples: the bootstrap then resamples whole groups.
    confidence
        Level of the percentile interval.
    seed
        Seed of the bootstrap.

    Returns
    -------
    MIEstimate
        ``details``: ``se_analytic`` (sd / sqrt(n)), ``mean_log_p_cond``, ``mean_log_p_marg``.
    """
    cond = np.asarray(log_p_cond, dtype=np.float64)
    marg = np.asarray(log_p_marg, dtype=np.float64)
    if cond.ndim != 1 or cond.shape != marg.shape:
        raise ValueError(
            f"log_p_cond and log_p_marg must be 1-D of the same length; got {cond.shape} and "
            f"{marg.shape}."
        )
    if cond.size < 2:
        raise ValueError(f"predictive_mi needs at least 2 samples; got {cond.size}.")
    for name, arr in (("log_p_cond", cond), ("log_p_marg", marg)):
        if not np.isfinite(arr).all():
            raise ValueError(
                f"{name} has {int((~np.isfinite(arr)).sum())} non-finite value(s); a model "
                "that gives a sample zero density cannot be scored on it."
            )
    _check_common(n_boot, confidence)
    diff = cond - marg
    n = diff.size
    value = float(diff.mean())
    se_an = float(diff.std(ddof=1) / math.sqrt(n))
    codes = _group_codes(groups, n)
    rng = np.random.default_rng(seed)
    boot = np.array([diff[_resample(codes, rng)[0]].mean() for _ in range(int(n_boot))])
    se, low, high = _interval(value, boot, se_an, confidence)
    details = {
        "n_groups": int(codes.max() + 1),
        "se_analytic": se_an,
        "mean_log_p_cond": float(cond.mean()),
        "mean_log_p_marg": float(marg.mean()),
        "n_boot": int(n_boot),
        "confidence": confidence,
    }
    return MIEstimate(value, se, low, high, n, "predictive", details)
