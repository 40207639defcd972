"""Fixed train / test splits of a :class:`~phenocast.multimodal.MultiModalData` over its ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ._multimodal import MultiModalData

__all__ = ["Split", "folds", "leave_one_pair_out"]


@dataclass(frozen=True, slots=True)
class Split:
    """One train / test split over sample ids.

    Attributes
    ----------
    name
        A readable name: ``"fold0"`` or the held-out pair, e.g. ``"A+B"``.
    train, test
        Sample ids, in :attr:`MultiModalData.ids` order.
    """

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]


def _split(ids: pd.Index, name: str, test: np.ndarray) -> Split:
    return Split(name, tuple(ids[~test]), tuple(ids[test]))


def folds(
    data: MultiModalData,
    n_folds: int = 5,
    *,
    seed: int,
    by: Literal["id", "condition", "component"] = "id",
) -> list[Split]:
    """Fixed K-fold splits over ids; documented at :meth:`MultiModalData.folds`."""
    if int(n_folds) < 2:
        raise ValueError(f"n_folds must be >= 2; got {n_folds}.")
    if by not in ("id", "condition", "component"):
        raise ValueError(f"by must be 'id', 'condition' or 'component'; got {by!r}.")
    conditions = tuple(data.conditions)
    rng = np.random.default_rng(seed)
    if by == "component":
        comps = data.components
        if len(comps) < n_folds:
            raise ValueError(
                f"folds(by='component'): {len(comps)} component(s) cannot fill "
                f"{n_folds} folds; use fewer folds or by='id'."
            )
        group = {comps[j]: i % n_folds for i, j in enumerate(rng.permutation(len(comps)))}
        touch = np.zeros((len(data), n_folds), dtype=bool)
        for i, cond in enumerate(conditions):
            touch[i, [group[c] for c in cond.components]] = True
        return [_split(data.ids, f"fold{k}", touch[:, k]) for k in range(n_folds)]
    # "id": every id is its own group, stratified by its observed pattern
    by_id = by == "id"
    keys = np.asarray(data.ids if by_id else [c.key for c in conditions], dtype=object)
    strata = data.observed.astype(int).astype(str).agg("".join, axis=1).to_numpy()
    if not by_id:
        strata[:] = ""
    if len(pd.unique(keys)) < n_folds:
        raise ValueError(
            f"folds(by={by!r}): {len(pd.unique(keys))} group(s) cannot fill {n_folds} "
            "folds; use fewer folds."
        )
    fold = np.empty(len(data), dtype=np.int64)
    offset = int(rng.integers(n_folds))
    for stratum in pd.unique(strata):
        members = np.flatnonzero(strata == stratum)
        groups = pd.unique(keys[members])
        groups = groups[rng.permutation(len(groups))]
        assigned = {g: (i + offset) % n_folds for i, g in enumerate(groups)}
        offset = (offset + len(groups)) % n_folds
        fold[members] = [assigned[k] for k in keys[members]]
    return [_split(data.ids, f"fold{k}", fold == k) for k in range(n_folds)]


def leave_one_pair_out(data: MultiModalData) -> list[Split]:
    """One split per two-component combination: it tests every id with that pair (at any
    dose) and trains on all other ids, including the pair's singles."""
    conditions = tuple(data.conditions)
    pairs: dict[tuple[str, ...], list[int]] = {}
    for i, cond in enumerate(conditions):
        if len(cond.components) == 2:
            pairs.setdefault(cond.components, []).append(i)
    if not pairs:
        raise ValueError("leave_one_pair_out: no id has a two-component condition (e.g. 'A+B').")
    out = []
    for comps, members in sorted(pairs.items()):
        test = np.zeros(len(data), dtype=bool)
        test[members] = True
        out.append(_split(data.ids, "+".join(comps), test))
    return out
