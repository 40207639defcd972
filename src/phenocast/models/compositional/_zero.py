"""How much of the model's zero-state drift each component's learned effect carries.

The model learns its zero-perturbation state and the components' effects together, and only
the control cells pin the zero state. A fit can move its zero state by ``b`` and change the
effects so that every trained group is predicted as before: a component trained alone then
carries ``−b`` (its *charge* is 1), one trained only beside a component trained alone carries
nothing (charge 0), and so on: for every trained perturbed group the charges of its
components sum to 1. A condition ``K`` predicted from start cells adds ``(Σ_{k∈K} q_k − 1)``
times the drift the start cells show (``Compositional.zero_state_bias``), so its
prediction does not depend on where the fit put the zero state: the start cells plus each
component's change plus the model's interaction term. A trained combination is the model's
own fit of it and is not moved; no components give the start cells' own mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ._model import Compositional

__all__ = ["corrects_drift", "drift_multipliers", "zero_charges"]


def zero_charges(components: np.ndarray, n: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The charge of each of the ``n`` components and the trained perturbed combinations.

    ``components``: the training cells' component indices, ``(n_cells, K)`` padded with -1.
    The charges solve "each trained combination's charges sum to 1" (the minimum-norm least
    squares solution: a component known only together with another shares the charge; where
    the groups disagree, e.g. A, B and A+B all trained, a compromise). A component in no
    trained group has charge 1, as if trained alone (its effect comes from features that
    were learned on such components).
    """
    rows = np.asarray(components, dtype=np.int64)
    rows = rows.reshape(len(rows), -1) if rows.size else np.zeros((0, 1), np.int64)
    if rows.size:  # one row per distinct combination first: atlases hold millions of cells
        rows = np.sort(rows, axis=1)
        keys = _row_keys(rows, int(rows.max()) + 2)
        rows = (
            np.unique(rows, axis=0) if keys is None else rows[np.unique(keys, return_index=True)[1]]
        )
    combos = sorted({tuple(int(c) for c in r if c >= 0) for r in rows.tolist()} - {()})
    charges = np.ones(max(n, 0), dtype=np.float64)
    if combos:
        seen = sorted({c for combo in combos for c in combo})
        col = {c: j for j, c in enumerate(seen)}
        design = np.zeros((len(combos), len(seen)))
        for i, combo in enumerate(combos):
            for c in combo:
                design[i, col[c]] += 1.0
        solved = np.linalg.lstsq(design, np.ones(len(combos)), rcond=None)[0]
        charges[seen] = solved
    return charges, combos


def corrects_drift(model: Compositional) -> bool:
    """Whether predictions from start cells correct for the zero state's drift: a Gaussian
    likelihood (the NB likelihood composes on the log scale), and charges known. A model
    folder saved before the charges were kept has none, and predicts as it did."""
    return model.zero_charges_ is not None and model._require_fitted().likelihood != "nb"


def drift_multipliers(model: Compositional, components: np.ndarray) -> np.ndarray:
    """Per condition row (``(n, K)`` component indices, -1 padded): how many times the start
    cells' drift to add, ``Σ q − 1`` (0 for a trained perturbed combination). Needs the
    charges (:func:`corrects_drift`)."""
    comps = np.asarray(components).reshape(len(components), -1)
    charges = model.zero_charges_
    assert charges is not None  # corrects_drift(model)
    valid = comps >= 0
    # indices past the trained vocabulary (components embedded from features only): charge 1
    known = valid & (comps < charges.size)
    looked_up = charges[np.clip(comps, 0, charges.size - 1)] if charges.size else 0.0
    picked = np.where(known, looked_up, 0.0)
    total = picked.sum(axis=1) + (valid & ~known).sum(axis=1)
    out = total - 1.0
    trained = model.trained_combinations_
    if trained and comps.size:
        out[_is_trained(np.where(valid, comps, -1), trained)] = 0.0
    return out


def _is_trained(comps: np.ndarray, trained: list[tuple[int, ...]]) -> np.ndarray:
    """Which rows (component indices, -1 padded, any order) are a trained combination."""
    width = max(comps.shape[1], max(len(t) for t in trained))
    rows = np.full((len(comps), width), -1, dtype=np.int64)
    rows[:, : comps.shape[1]] = np.sort(comps, axis=1)
    rows = np.sort(rows, axis=1)
    known = np.full((len(trained), width), -1, dtype=np.int64)
    for i, t in enumerate(trained):
        known[i, width - len(t) :] = sorted(t)  # sorted with the -1 padding first, as rows
    base = int(max(rows.max(), known.max())) + 2
    asked, kept = _row_keys(rows, base), _row_keys(known, base)
    if asked is not None and kept is not None:
        return np.isin(asked, kept)
    found = {tuple(r) for r in known.tolist()}
    return np.array([tuple(r) in found for r in rows.tolist()], dtype=bool)


def _row_keys(rows: np.ndarray, base: int) -> np.ndarray | None:
    """Each row of component indices (-1 padded, sorted) as one integer, its entries + 1 as
    base-``base`` digits; ``None`` where that would not fit in an int64."""
    if rows.shape[1] * np.log2(base) >= 62:
        return None
    return (rows + 1) @ (base ** np.arange(rows.shape[1], dtype=np.int64))
