"""Baselines for data with several readouts per condition (rows aligned across readouts):
one readout predicted from another by ridge regression, and a combination's profile as the sum
of its components' single profiles. They work on plain matrices, one row per condition, so any
aligned readouts (``phenocast.multimodal.MultiModalData.matrix``) can be passed in."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .._base import UnsupportedConditionError

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Condition

__all__ = ["CROSS_MODAL_ALPHAS", "CrossModalRidge", "additive_from_singles"]

#: Ridge penalties :class:`CrossModalRidge` chooses from: 10^-1 … 10^5 in half decades.
CROSS_MODAL_ALPHAS: tuple[float, ...] = tuple(float(10.0**k) for k in np.arange(-1.0, 5.5, 0.5))


def _matrix(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows × features) array, got shape {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has missing or infinite values; pass observed rows only.")
    return a


class CrossModalRidge:
    """Predict one readout (the target) from another (the source) of the same rows by ridge
    regression.

    The source features are standardised on the training rows; one penalty for all target
    features is chosen from ``alphas`` by efficient leave-one-row-out cross-validation on the
    training rows (scikit-learn's ``RidgeCV``), and stored as ``alpha_``.

    Parameters
    ----------
    alphas
        Candidate penalties, all positive.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> source = rng.normal(size=(50, 4))
    >>> target = source @ rng.normal(size=(4, 3))
    >>> model = CrossModalRidge().fit(source[:40], target[:40])
    >>> bool(np.abs(model.predict(source[40:]) - target[40:]).max() < 0.1)
    True
    """

    def __init__(self, *, alphas: Iterable[float] = CROSS_MODAL_ALPHAS) -> None:
        self.alphas = tuple(float(a) for a in alphas)
        if not self.alphas or any(not a > 0 for a in self.alphas):
            raise ValueError(f"alphas must be positive numbers, at least one; got {self.alphas}.")
        self.alpha_: float | None = None

    def __repr__(self) -> str:
        return f"CrossModalRidge(alphas={self.alphas})"

    def fit(self, source: object, target: object) -> CrossModalRidge:
        """Fit on ``source`` (rows × source features) and ``target`` (the same rows × target
        features)."""
        from sklearn.linear_model import RidgeCV
        from sklearn.preprocessing import StandardScaler

        xs, ys = _matrix(source, "source"), _matrix(target, "target")
        if xs.shape[0] != ys.shape[0]:
            raise ValueError(
                f"source and target must have the same rows, got {xs.shape[0]} and {ys.shape[0]}."
            )
        if xs.shape[0] < 2:
            raise ValueError(f"CrossModalRidge needs at least 2 training rows, got {xs.shape[0]}.")
        self._scaler = StandardScaler().fit(xs)
        self._ridge = RidgeCV(alphas=list(self.alphas)).fit(self._scaler.transform(xs), ys)
        self.alpha_ = float(self._ridge.alpha_)
        return self

    def predict(self, source: object) -> np.ndarray:
        """The predicted target of each row of ``source``, ``(rows, target features)``."""
        if self.alpha_ is None:
            raise RuntimeError("CrossModalRidge is not fitted; call fit(source, target) first.")
        xs = _matrix(source, "source")
        if xs.shape[1] != self._scaler.n_features_in_:
            raise ValueError(
                f"source has {xs.shape[1]} features; the model was fitted on "
                f"{self._scaler.n_features_in_}."
            )
        return np.asarray(self._ridge.predict(self._scaler.transform(xs)))


def additive_from_singles(
    conditions: Iterable[Condition], profiles: object, combination: Condition
) -> tuple[np.ndarray, list[str]]:
    """A combination's profile as the sum of its components' single profiles.

    Each component's single profile is the row of ``profiles`` whose condition has that
    component alone at the combination's dose, else at the measured dose nearest in log dose
    (the first such row on a tie). Profiles are relative to control (a Δ), so that their sum is
    the additive prediction.

    Parameters
    ----------
    conditions
        The :class:`~phenocast.data.Condition` of each row of ``profiles``.
    profiles
        ``(rows, features)``: one profile per condition.
    combination
        The condition to predict (any number of components).

    Returns
    -------
    profile, doses_used
        The summed profile, and per component ``"same"`` or ``"nearest (d for q)"`` (the
        measured dose ``d`` used for the wanted dose ``q``).

    Examples
    --------
    >>> import numpy as np
    >>> from phenocast.data import Condition
    >>> conds = [Condition(("A",), (1.0,)), Condition(("B",), (2.0,))]
    >>> singles = np.array([[1.0, 0.0], [0.5, 2.0]])
    >>> additive_from_singles(conds, singles, Condition(("A", "B"), (1.0, 1.0)))
    (array([1.5, 2. ]), ['same', 'nearest (2 for 1)'])
    """
    x = np.asarray(profiles)
    if x.ndim != 2:
        raise ValueError(f"profiles must be a 2-D (rows × features) array, got shape {x.shape}.")
    singles: dict[str, list[tuple[float, int]]] = {}
    n = 0
    for i, c in enumerate(conditions):
        n += 1
        if len(c.components) == 1:
            singles.setdefault(c.components[0], []).append((c.doses[0], i))
    if n != x.shape[0]:
        raise ValueError(f"{n} conditions for {x.shape[0]} rows of profiles.")
    total = np.zeros(x.shape[1])
    used = []
    for comp, dose in zip(combination.components, combination.doses, strict=True):
        if comp not in singles:
            raise UnsupportedConditionError(
                f"additive baseline: component {comp!r} was never measured alone."
            )
        if dose <= 0 or any(d <= 0 for d, _ in singles[comp]):
            raise UnsupportedConditionError(
                f"additive baseline: doses are matched in log dose; dose {dose:g} of {comp!r} "
                "or one of its measured doses is not positive."
            )
        dd, i = min(singles[comp], key=lambda s: abs(math.log(s[0]) - math.log(dose)))
        total += x[i]
        used.append("same" if math.isclose(dd, dose) else f"nearest ({dd:g} for {dose:g})")
    return total, used
