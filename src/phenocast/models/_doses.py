"""One rule for doses outside the range a model was trained on, shared by every model and
command that predicts at a requested dose (the screen, the compositional model's predictions,
the multimodal model's generation)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._base import UnsupportedConditionError

if TYPE_CHECKING:  # pragma: no cover
    from ..data import Condition

__all__ = [
    "DoseRangeError",
    "check_dose_range",
    "dose_requests",
    "trained_dose_ranges",
    "trained_doses",
]

_FIX = (
    "Pass extrapolate=True (CLI: --extrapolate) to predict them anyway; they are marked in "
    "the output's 'extrapolated' column."
)

#: Relative slack on each end of a trained range, so a dose read back from text (0.1 as
#: 0.10000000149) is not taken for an extrapolation.
_RTOL = 1e-6


class DoseRangeError(UnsupportedConditionError):
    """A requested dose lies outside the doses the model was trained on (and
    ``extrapolate=True`` was not given): the model does not answer it as asked (a
    ``ValueError``; the benchmark runner scores such a condition as unsupported)."""


def trained_doses(
    components: np.ndarray, doses: np.ndarray, names: Sequence[str]
) -> dict[str, tuple[float, ...]]:
    """``name → sorted distinct doses`` of each component index in ``components`` (``-1``
    pads skipped): the doses a model was fitted on, the range :func:`check_dose_range` holds
    it to."""
    seen = np.unique(components[components >= 0])
    # str() of a float32 is its shortest repr: 0.01, not 0.009999999776
    return {names[j]: tuple(float(str(v)) for v in np.unique(doses[components == j])) for j in seen}


def trained_dose_ranges(trained: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, float]]:
    """``component → (lowest, highest)`` trained dose, for the components with any dose."""
    return {str(c): (min(map(float, v)), max(map(float, v))) for c, v in trained.items() if v}


def dose_requests(
    conditions: Iterable[Condition], trained: Collection[str]
) -> list[list[tuple[str, float]]]:
    """The ``(component, dose)`` pairs of each parsed condition that :func:`check_dose_range`
    checks: those of the ``trained`` components (a component predicted from its features
    alone has no trained range)."""
    return [
        [(c, float(d)) for c, d in zip(cond.components, cond.doses, strict=True) if c in trained]
        for cond in conditions
    ]


def check_dose_range(
    requests: Sequence[Sequence[tuple[str, float]]],
    trained: Mapping[str, Sequence[float]] | None,
    *,
    extrapolate: bool,
    fix: str = _FIX,
) -> np.ndarray:
    """Which requests ask for a dose outside its component's trained range.

    Every model that records the doses it was fitted on refuses such doses unless
    ``extrapolate=True``; with it, the returned flags mark the rows (the ``extrapolated``
    column of a prediction or a screen's hits).

    Parameters
    ----------
    requests
        One entry per requested condition (or dose): its ``(component, dose)`` pairs; a
        control has none. Give only components the model was trained on: a component it
        predicts from features alone has no trained range to compare with.
    trained
        ``component → doses`` the model was fitted on (``trained_doses_``); a component
        missing from it has an unknown range and counts as outside. ``None`` (a model that
        records no trained doses) checks nothing.
    extrapolate
        Allow doses outside the range (flag them) instead of raising.
    fix
        The sentence of the error that tells how to proceed.

    Returns
    -------
    numpy.ndarray
        ``(len(requests),)`` booleans: some component of the request lies outside its range.

    Raises
    ------
    DoseRangeError
        When a dose lies outside and ``extrapolate`` is false; the message names the
        component, the dose, its trained range and the fix.

    Examples
    --------
    >>> trained = {"A": (0.1, 1.0, 10.0), "B": (1.0,)}
    >>> check_dose_range([[("A", 1.0)], [("A", 100.0), ("B", 1.0)]], trained, extrapolate=True)
    array([False,  True])
    >>> try:
    ...     check_dose_range([[("A", 100.0)]], trained, extrapolate=False)
    ... except DoseRangeError as err:
    ...     print(str(err).split(". ")[0])
    1 dose(s) lie outside the doses the model was trained on: A at 100 (trained 0.1–10)
    """
    flags = np.zeros(len(requests), dtype=bool)
    if trained is None:
        return flags
    ranges = trained_dose_ranges(trained)
    outside: list[tuple[str, float, tuple[float, float] | None]] = []
    seen: set[tuple[str, float]] = set()
    for i, pairs in enumerate(requests):
        for comp, dose in pairs:
            lo, hi = ranges.get(str(comp), (np.inf, -np.inf))
            d = float(dose)
            if lo * (1 - _RTOL) <= d <= hi * (1 + _RTOL):
                continue
            flags[i] = True
            if (str(comp), d) not in seen:
                seen.add((str(comp), d))
                outside.append((str(comp), d, ranges.get(str(comp))))
    if outside and not extrapolate:
        shown = "; ".join(
            f"{c} at {d:g} (trained {'range unknown' if r is None else f'{r[0]:g}–{r[1]:g}'})"
            for c, d, r in outside[:8]
        )
        raise DoseRangeError(
            f"{len(outside)} dose(s) lie outside the doses the model was trained on: {shown}. {fix}"
        )
    return flags
