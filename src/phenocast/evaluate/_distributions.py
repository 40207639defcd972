"""Distributions, not only means: score a model's held-out *cells* against the observed cells.

The task metrics compare condition means. Two models with the same mean can predict very
different populations (one cell type shifted, or every cell moved to the mean), so each
held-out condition of a single-cell task (query groups with control cells and the observed
cells, :attr:`QueryGroup.cells`) is also scored as a distribution:

- ``dist:energy`` — the energy distance (:func:`phenocast.metrics.energy_distance`) between
  the predicted and the observed cells, each side subsampled (seeded) to at most
  ``max_cells`` cells to bound its quadratic cost; 0 for identical populations, lower is
  better;
- ``dist:var_r2`` — the R² (:func:`phenocast.metrics.r2`) of the predicted against the
  observed variance of each gene across the condition's cells (all cells); 1 is perfect.

Cells are formed as cell-eval's yardstick forms them (:func:`predicted_cells`): a model with a
per-cell ``predict`` (the compositional model) gives one cell per own-context control cell; a
mean-only baseline gives *the per-cell baseline*, the context's control cells plus its
predicted mean change. A per-cell model's means alone have too little spread, so its cells
carry noise. A model whose ``predict`` takes ``residual`` (the compositional model) is scored
on *residual cells*: each predicted mean plus its start cell's own residual (the cell minus
the model's reconstruction of it, centred), and a second row, ``<model> · sampled noise``,
on its means plus Gaussian noise of its predicted variance (``layers["variance"]``; seeded,
not clipped). The residual cells were chosen by leaving one single-cell task out: on the
other two they have the lower energy distance, for each task held out (docs/benchmarks.md).
Another per-cell model is scored on sampled cells, with a row ``<model> · mean cells`` for
its means alone. The noise-ceiling row scores one random half of each condition's observed
cells against the other half (capped the same way; halves hold half the cells, so its
variance R² is noisier than a model's).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import energy_distance, r2
from ._celleval import CELLS_PER_CELL, CELLS_RESIDUAL, predicted_cells
from ._runner import NOISE_CEILING, BenchmarkResult, FoldFit, ModelResult
from ._tasks import Fold, QueryGroup, Task

__all__ = [
    "CELLS_MEAN_ONLY",
    "CELLS_SAMPLED",
    "DEFAULT_MAX_CELLS",
    "DIST_PREFIX",
    "DistributionScorer",
    "DistributionScores",
    "distribution_scores",
    "variance_r2",
]

#: Prefix of the distribution metrics in benchmark results, beside the task's own metrics.
DIST_PREFIX = "dist:"
#: Default cap on the cells of each side of an energy distance.
DEFAULT_MAX_CELLS = 300
#: How a per-cell model's cells were formed: with its predicted noise drawn, or means only.
CELLS_SAMPLED = "per-cell predict + sampled noise"
CELLS_MEAN_ONLY = "per-cell predict, means only"
#: The suffix of a per-cell model's means-only row.
MEAN_CELLS_ROW = " · mean cells"
#: The suffix of the row of a model scored on residual cells, with its noise sampled instead.
SAMPLED_ROW = " · sampled noise"
#: Metric → whether higher is better.
_METRICS = {"energy": False, "var_r2": True}


def variance_r2(pred: object, true: object) -> float:
    """R² of the per-gene variance of the ``pred`` cells against that of the ``true`` cells.

    Parameters
    ----------
    pred, true
        Cells × genes matrices with the same genes (any numbers of cells, at least 2 each).

    Returns
    -------
    float
        ``r2(var(pred), var(true))`` with variances across cells (``ddof=1``): 1 when every
        gene's spread is predicted exactly, 0 for the mean observed variance, below 0 for worse;
        NaN when the observed variance is the same for every gene.
    """
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.ndim != 2 or t.ndim != 2:
        raise ValueError(f"pred and true must be cells × genes, got {p.shape} and {t.shape}.")
    if p.shape[1] != t.shape[1]:
        raise ValueError(f"pred and true differ in genes: {p.shape[1]} vs {t.shape[1]}.")
    if p.shape[0] < 2 or t.shape[0] < 2:
        raise ValueError(
            f"A variance needs at least 2 cells per side, got {p.shape[0]} and {t.shape[0]}."
        )
    return r2(p.var(axis=0, ddof=1), t.var(axis=0, ddof=1))


def _cap(cells: np.ndarray, max_cells: int, rng: np.random.Generator) -> np.ndarray:
    if cells.shape[0] <= max_cells:
        return cells
    return cells[np.sort(rng.choice(cells.shape[0], max_cells, replace=False))]


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator fixed by ``seed`` and the keys, so every model sees the same subsample of
    a condition's observed cells."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def distribution_scores(
    pred: np.ndarray,
    true: np.ndarray,
    *,
    max_cells: int = DEFAULT_MAX_CELLS,
    seed: int = 0,
    key: str = "",
) -> dict[str, float]:
    """``{"energy": …, "var_r2": …}`` of the ``pred`` cells against the ``true`` cells.

    The energy distance compares at most ``max_cells`` cells of each side, drawn without
    replacement by a generator seeded with ``seed`` and ``key`` (the condition), so the
    observed side is the same subsample for every model; the variance R² uses all cells.
    Either metric is NaN when a side holds fewer than 2 cells.
    """
    if max_cells < 2:
        raise ValueError(f"max_cells must be at least 2, got {max_cells}.")
    if pred.shape[0] < 2 or true.shape[0] < 2:
        return dict.fromkeys(_METRICS, math.nan)
    a = _cap(pred, max_cells, _rng(seed, key, "pred"))
    b = _cap(true, max_cells, _rng(seed, key, "true"))
    return {"energy": energy_distance(a, b), "var_r2": variance_r2(pred, true)}


def _sampled(
    cells: np.ndarray, variance: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    if variance is None:
        return cells
    return cells + np.sqrt(np.clip(variance, 0.0, None)) * rng.standard_normal(cells.shape)


@dataclass
class DistributionScores:
    """The distribution scores of a run: one row per (model, fold, condition, metric) with the
    ``value`` and how the model's ``cells`` were formed (the ceiling's rows are labelled
    :data:`~phenocast.evaluate.NOISE_CEILING`, cells ``"observed halves"``)."""

    task: str
    table: pd.DataFrame
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per model row, the mean of each metric over all conditions, and how its cells were
        formed."""
        if self.table.empty:
            return pd.DataFrame()
        wide = self.table.pivot_table(
            index="model", columns="metric", values="value", aggfunc="mean", sort=False
        )
        wide["cells"] = self.table.groupby("model", sort=False)["cells"].first()
        return wide


class DistributionScorer:
    """Scores each fitted model's held-out cells as distributions (pass it as ``on_fit`` to
    :func:`~phenocast.evaluate.run_benchmark` or :func:`~phenocast.evaluate.run_task`, then
    :meth:`attach` the scores to the result).

    Parameters
    ----------
    max_cells
        Cap on the cells of each side of an energy distance (a seeded subsample).
    seed
        Seed of the subsamples, of the drawn noise and of the ceiling's split.
    ceiling
        Also score one half of each condition's observed cells against the other half, once
        per fold, as the noise-ceiling row.
    """

    def __init__(
        self, *, max_cells: int = DEFAULT_MAX_CELLS, seed: int = 0, ceiling: bool = True
    ) -> None:
        if max_cells < 2:
            raise ValueError(f"max_cells must be at least 2, got {max_cells}.")
        self.max_cells = max_cells
        self.seed = seed
        self.ceiling = ceiling
        self._rows: list[dict[str, Any]] = []
        self._ceiling_done: set[tuple[str, str]] = set()
        self.notes: dict[tuple[str, str], str] = {}
        #: task name → why its cells could not be scored
        self.unscored: dict[str, str] = {}

    def _add(
        self, task: str, model: str, fold: str, cond: str, scores: dict[str, float], kind: str
    ) -> None:
        for metric, value in scores.items():
            self._rows.append(
                {
                    "task": task,
                    "model": model,
                    "fold": fold,
                    "condition": cond,
                    "metric": metric,
                    "value": float(value),
                    "cells": kind,
                }
            )

    def _score(self, pred: np.ndarray, true: np.ndarray, key: str) -> dict[str, float]:
        return distribution_scores(pred, true, max_cells=self.max_cells, seed=self.seed, key=key)

    def __call__(self, task: Task, label: str, fold: Fold, fit: FoldFit) -> None:
        if task.name in self.unscored:
            return
        why = _unscorable(fold.groups)
        if why is not None:
            self.unscored[task.name] = why
            return
        skipped: dict[str, str] = {}
        for group in fold.groups:
            variances: list[np.ndarray | None] = []
            means: list[np.ndarray | None] = []
            cells, kind, reasons = predicted_cells(
                fit.model, fold, group, variances=variances, means=means
            )
            skipped.update(reasons)
            for i, (cond, true) in enumerate(zip(group.conditions.index, group.cells, strict=True)):
                pred, key = cells[i], f"{fold.name}/{cond}"
                if pred is None:
                    self._add(
                        task.name,
                        label,
                        fold.name,
                        str(cond),
                        dict.fromkeys(_METRICS, math.nan),
                        kind,
                    )
                    continue
                if kind == CELLS_RESIDUAL:
                    self._add(
                        task.name, label, fold.name, str(cond), self._score(pred, true, key), kind
                    )
                    if variances[i] is not None:
                        noise = _rng(self.seed, label, key, "noise")
                        drawn = _sampled(means[i], variances[i], noise)
                        self._add(
                            task.name, label + SAMPLED_ROW, fold.name, str(cond),
                            self._score(drawn, true, key), CELLS_SAMPLED,
                        )  # fmt: skip
                elif kind == CELLS_PER_CELL:
                    drawn = _sampled(pred, variances[i], _rng(self.seed, label, key, "noise"))
                    own = CELLS_SAMPLED if variances[i] is not None else CELLS_MEAN_ONLY
                    self._add(
                        task.name, label, fold.name, str(cond), self._score(drawn, true, key), own
                    )
                    if variances[i] is not None:
                        self._add(
                            task.name, label + MEAN_CELLS_ROW, fold.name, str(cond),
                            self._score(pred, true, key), CELLS_MEAN_ONLY,
                        )  # fmt: skip
                else:
                    self._add(
                        task.name, label, fold.name, str(cond), self._score(pred, true, key), kind
                    )
        if skipped:
            first = next(iter(skipped.values()))
            self.notes[(task.name, label)] = f"{len(skipped)} condition(s) without cells ({first})"
        if self.ceiling and (task.name, fold.name) not in self._ceiling_done:
            self._ceiling_done.add((task.name, fold.name))
            self._score_ceiling(task, fold)

    def _score_ceiling(self, task: Task, fold: Fold) -> None:
        for group in fold.groups:
            for cond, true in zip(group.conditions.index, group.cells, strict=True):
                key = f"{fold.name}/{cond}"
                perm = _rng(self.seed, key, "halves").permutation(true.shape[0])
                half = true.shape[0] // 2
                scores = self._score(true[perm[:half]], true[perm[half:]], key)
                self._add(task.name, NOISE_CEILING, fold.name, str(cond), scores, "observed halves")

    def scores(self, task: str) -> DistributionScores:
        """The tidy table of ``task``."""
        cols = ["model", "fold", "condition", "metric", "value", "cells"]
        rows = pd.DataFrame(self._rows, columns=["task", *cols])
        return DistributionScores(
            task,
            rows[rows["task"] == task][cols].reset_index(drop=True),
            {m: n for (t, m), n in self.notes.items() if t == task},
        )

    def attach(self, result: BenchmarkResult) -> None:
        """Add the scores to ``result`` as ``dist:energy`` (lower is better) and
        ``dist:var_r2`` columns: per model per fold per condition, the ceiling on the
        noise-ceiling row, a per-cell model's means-only scores as a row of their own (after
        the model's), and how the cells were formed in each model's note."""
        for tr in result.tasks:
            got = self.scores(tr.task.name)
            if got.table.empty:
                continue
            for metric, higher in _METRICS.items():
                tr.extra_metrics[DIST_PREFIX + metric] = higher
            models: dict[str, ModelResult] = {}
            for name, res in tr.models.items():
                models[name] = res
                mine = got.table[got.table["model"] == name]
                if name != NOISE_CEILING and res.status != "ok":
                    continue
                _put(res, mine)
                if name == NOISE_CEILING or mine.empty:
                    continue
                note = f"dist cells: {mine['cells'].iloc[0]}"
                extra = got.notes.get(name)
                note = f"{note}; {extra}" if extra else note
                res.note = f"{res.note}; {note}" if res.note else note
                for suffix, cells in (
                    (SAMPLED_ROW, CELLS_SAMPLED),
                    (MEAN_CELLS_ROW, CELLS_MEAN_ONLY),
                ):
                    part = got.table[got.table["model"] == name + suffix]
                    if not part.empty:
                        row = ModelResult(name + suffix, note=f"dist cells: {cells}")
                        _put(row, part)
                        models[row.model] = row
            # the ceiling stays last
            if NOISE_CEILING in models:
                models[NOISE_CEILING] = models.pop(NOISE_CEILING)
            tr.models = models


def _put(res: ModelResult, part: pd.DataFrame) -> None:
    for (metric, fold), rows in part.groupby(["metric", "fold"], sort=False):
        per = dict(zip(rows["condition"], rows["value"].astype(float), strict=True))
        res.values.setdefault(DIST_PREFIX + str(metric), {})[str(fold)] = per


def _unscorable(groups: list[QueryGroup]) -> str | None:
    for group in groups:
        if group.controls is None:
            return (
                "distribution metrics compare predicted with observed cells; this task's query "
                "groups have no control cells to start from (one value per condition)."
            )
        if len(group.cells) != len(group.conditions):
            return "this task's query groups do not carry the held-out cells."
    return None
