"""cell-eval's overall score of each model: its metrics against a reference model's, normalised
and averaged by cell-eval's own ``score_agg_metrics`` (the Virtual Cell Challenge's score).

cell-eval scores a model *relative to a base model*: each metric's improvement over the base
(``1 − user / base`` for a metric best at 0, ``(user − base) / (1 − base)`` for one best at 1),
clipped at 0 and averaged. Here the base is the task's ``no-change`` row, present in every
single-cell task, so every model (baselines included) is scored against the same reference
and the scores compare across rows; ``no-change`` itself scores 0. Per fold, each metric is the
mean over the fold's conditions; a metric the reference cannot be scored on in a fold (NaN,
e.g. discrimination with one condition per context) is left out of that fold's average.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from ._runner import TaskResult

__all__ = ["OVERALL", "OVERALL_KEY", "REFERENCE", "attach_overall"]

#: The metric name of the overall score (under the ``ce:`` prefix) and its one value's key.
OVERALL = "avg_score"
OVERALL_KEY = "all conditions"
#: The model every other is scored against.
REFERENCE = "no-change"


def attach_overall(tr: TaskResult, ce: ModuleType, prefix: str, metrics: list[str]) -> bool:
    """Add ``<prefix>avg_score`` (per fold, one value) to every model of ``tr`` that has the
    cell-eval ``metrics``, scored against :data:`REFERENCE`; ``False`` (nothing added) when the
    task has no reference row with scores."""
    import polars as pl

    ref = tr.models.get(REFERENCE)
    if ref is None or not ref.values.get(prefix + metrics[0]):
        return False
    base = {m: ref.per_fold(prefix + m) for m in metrics}
    for res in tr.models.values():
        if not res.values.get(prefix + metrics[0]):
            continue
        user = {m: res.per_fold(prefix + m) for m in metrics}
        per_fold: dict[str, dict[str, float]] = {}
        for fold in base[metrics[0]]:
            keep = [
                m for m in metrics if np.isfinite(base[m].get(fold, math.nan)) and fold in user[m]
            ]
            if not keep:
                continue
            frames = [
                pl.DataFrame({"statistic": ["mean"], **{m: [float(v[m][fold])] for m in keep}})
                for v in (user, base)
            ]
            scored = ce.score_agg_metrics(frames[0], frames[1])
            row = scored.filter(pl.col("metric") == "avg_score")["from_baseline"]
            per_fold[fold] = {OVERALL_KEY: float(row[0])}
        if per_fold:
            res.values[prefix + OVERALL] = per_fold
    tr.extra_metrics[prefix + OVERALL] = True
    return True
