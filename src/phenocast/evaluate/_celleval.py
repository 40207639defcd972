"""cell-eval as a second yardstick: score per-cell predictions with the Virtual Cell Challenge's
own evaluation code.

Our benchmark tables score condition means with :mod:`phenocast.metrics`. cell-eval (Arc
Institute, PyPI ``cell-eval``) scores *cells*: it runs differential expression on the real and
the predicted cells of each perturbation against the control cells and compares them
(DE-gene overlap, perturbation discrimination, MAE, ...). Here each query group of a fold (the
held-out conditions that share control cells, i.e. one context) becomes one cell-eval
evaluation:

- *real*: the context's control cells (labelled :data:`CELL_EVAL_CONTROL`) and each held-out
  condition's observed cells (labelled with the condition's label) in the column
  :data:`CELL_EVAL_PERT_COL`;
- *predicted*: the same control cells and, per condition, the model's cells. A model with a
  per-cell ``predict(controls, conditions)`` (the compositional model) gives one cell per
  control cell; a model with only ``predict_mean`` gets the control cells plus its predicted
  mean change (``predict_mean − mean(controls)``), the ``cells`` column says which.

cell-eval reads log-normalised expression (values ≥ 0); predicted values below 0 are set to 0.
It is imported only when scoring (``pip install -e ".[eval]"``).
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._celleval_overall import attach_overall
from ._runner import NOISE_CEILING, BenchmarkResult, FoldFit, expand_models, run_task
from ._tasks import Fold, QueryGroup, Task

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from anndata import AnnData

__all__ = [
    "CELLS_MEAN",
    "CELLS_PER_CELL",
    "CELLS_RESIDUAL",
    "CELL_EVAL_CEILING",
    "CELL_EVAL_CONTROL",
    "CELL_EVAL_PERT_COL",
    "CellEvalScorer",
    "CellEvalScores",
    "cell_eval",
    "cell_eval_pair",
    "predicted_cells",
    "score_cell_eval",
    "unscorable",
]

#: cell-eval's own default names for the perturbation column and the control label.
CELL_EVAL_PERT_COL = "target"
CELL_EVAL_CONTROL = "non-targeting"
#: How a model's cells were formed (the ``cells`` column).
CELLS_PER_CELL = "per-cell predict"
CELLS_RESIDUAL = "per-cell predict + start cells' residuals"
CELLS_MEAN = "controls + mean change"
#: The label of cell-eval's data ceiling (real cells split in halves, Spearman-Brown corrected).
CELL_EVAL_CEILING = "cell-eval-ceiling"
#: Prefix of cell-eval's metrics in benchmark results, beside the task's own metrics.
PREFIX = "ce:"

Profile = Literal["vcc", "minimal", "full", "de", "anndata", "pds"]
#: Metrics that rank a condition among the other conditions of its context.
_RANKING = ("discrimination_score",)
_INSTALL = 'pip install -e ".[eval]"'


def _cell_eval() -> ModuleType:
    """The ``cell_eval`` package, or an ImportError naming the extra that installs it."""
    try:
        import cell_eval
    except ImportError as err:
        raise ImportError(
            "Scoring with cell-eval needs the cell-eval package; install it with "
            f"`{_INSTALL}` (or `pip install cell-eval`)."
        ) from err
    return cell_eval


def _dense(x: Any) -> np.ndarray:
    import scipy.sparse as sp

    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)


# ------------------------------------------------------------------ predicted cells


def predicted_cells(
    model: Any,
    fold: Fold,
    group: QueryGroup,
    *,
    variances: list[np.ndarray | None] | None = None,
    means: list[np.ndarray | None] | None = None,
    residual: bool = True,
) -> tuple[list[np.ndarray | None], str, dict[str, str]]:
    """``model``'s cells for each condition of ``group``, how they were formed, and why some
    conditions have none.

    Parameters
    ----------
    model
        A fitted model of ``fold``'s registry.
    fold, group
        The fold and one of its query groups; ``group.controls`` are the start cells (the
        context's own control cells).
    variances
        An empty list to fill, per condition, with the model's predicted per-cell variance
        (``layers["variance"]`` of a per-cell ``predict``, aligned with the cells), or
        ``None`` where the model gives none (a mean-only model, an unsupported condition). A
        distribution metric samples noise from it (:class:`~phenocast.evaluate.DistributionScorer`).
    means
        An empty list to fill, per condition, with a per-cell model's predicted means
        (``layers["mean"]``), which differ from the cells when they carry residuals.
    residual
        Ask a per-cell model whose ``predict`` takes ``residual`` for realistic cells: each
        predicted mean plus its start cell's own centred residual
        (:data:`CELLS_RESIDUAL`; see ``Compositional.predict``); otherwise its means.

    Returns
    -------
    cells
        Per condition (rows of ``group.conditions``), a ``(n_controls, n_genes)`` array, or
        ``None`` where the model raised ``UnsupportedConditionError``.
    kind
        :data:`CELLS_RESIDUAL` or :data:`CELLS_PER_CELL` (means) when the model has a per-cell
        ``predict``, else :data:`CELLS_MEAN` (the control cells plus the predicted mean
        change).
    unsupported
        Condition label → the model's reason, for conditions without cells.
    """
    from ..models import UnsupportedConditionError, accepted_options, predict_rows

    if group.controls is None:
        raise ValueError("predicted_cells needs the query group's control cells; it has none.")
    conditions = group.conditions
    reasons: dict[str, str] = {}
    if callable(getattr(model, "predict", None)):
        out: list[np.ndarray | None] = [None] * len(conditions)
        options = accepted_options(model.predict, {"residual": True}) if residual else {}
        kind = CELLS_RESIDUAL if options else CELLS_PER_CELL
        try:
            parts = [
                (np.arange(len(conditions)), model.predict(group.controls, conditions, **options))
            ]
        except UnsupportedConditionError:
            parts = []
            for i, label in enumerate(conditions.index):
                try:
                    one = model.predict(group.controls, conditions.iloc[i : i + 1], **options)
                except UnsupportedConditionError as err:
                    reasons[str(label)] = str(err)
                    continue
                parts.append((np.array([i]), one))
        var: list[np.ndarray | None] = [None] * len(conditions)
        mean: list[np.ndarray | None] = [None] * len(conditions)
        for rows, pred in parts:
            which = pred.obs["condition_index"].to_numpy()
            x = _dense(pred.X)
            v = _dense(pred.layers["variance"]) if "variance" in pred.layers else None
            m = _dense(pred.layers["mean"]) if "mean" in pred.layers else x
            for j, i in enumerate(rows):
                out[int(i)] = x[which == j]
                var[int(i)] = None if v is None else v[which == j]
                mean[int(i)] = m[which == j]
        if variances is not None:
            variances[:] = var
        if means is not None:
            means[:] = mean
        return out, kind, reasons
    ctrl = _dense(fold.registry.matrix(group.controls))
    means = predict_rows(model, group.controls, conditions, n_genes=ctrl.shape[1], reasons=reasons)
    change = means - ctrl.mean(axis=0)
    # a change below float32 resolution is rounding, not a prediction: shifting every control
    # cell by it would make each such gene "differentially expressed" in cell-eval's tests
    change[np.abs(change) <= np.finfo(np.float32).eps * max(1.0, float(np.abs(ctrl).max()))] = 0
    cells = [None if np.isnan(d).all() else ctrl + d for d in change]
    if variances is not None:
        variances[:] = [None] * len(cells)
    return cells, CELLS_MEAN, reasons


def unscorable(fold: Fold, group: QueryGroup) -> str | None:
    """Why cell-eval cannot score ``group`` (no control cells, or values below 0), or None."""
    if group.controls is None:
        return (
            "cell-eval compares predicted cells with control cells; this task's query groups "
            "have none (one value per condition)."
        )
    ctrl = _dense(fold.registry.matrix(group.controls))
    if (ctrl.size and np.nanmin(ctrl) < 0) or any(c.size and np.nanmin(c) < 0 for c in group.cells):
        return (
            "cell-eval scores log-normalised expression (values >= 0); this task's readout has "
            "negative values (z-scores or features)."
        )
    return None


def cell_eval_pair(
    fold: Fold, group: QueryGroup, cells: Sequence[np.ndarray | None]
) -> tuple[AnnData, AnnData]:
    """The real and predicted AnnData of one query group, in cell-eval's layout.

    Both hold the group's control cells (labelled :data:`CELL_EVAL_CONTROL` in
    ``obs[CELL_EVAL_PERT_COL]``); the real one adds each condition's observed cells, the
    predicted one ``cells`` (negative values set to 0). Conditions without predicted cells are
    left out of both. Genes are the registry's, in the same order.
    """
    import anndata as ad

    why = unscorable(fold, group)
    if why is not None:
        raise ValueError(why)
    labels = [str(c) for c in group.conditions.index]
    if CELL_EVAL_CONTROL in labels:
        raise ValueError(
            f"A held-out condition is labelled {CELL_EVAL_CONTROL!r}, cell-eval's control."
        )
    if len(cells) != len(labels):
        raise ValueError(f"{len(cells)} predicted cell blocks for {len(labels)} conditions.")
    ctrl = _dense(fold.registry.matrix(group.controls))
    keep = [i for i, c in enumerate(cells) if c is not None]
    real_x = [ctrl, *(group.cells[i] for i in keep)]
    pred_x = [ctrl, *(np.clip(cells[i], 0.0, None) for i in keep)]  # type: ignore[arg-type]
    names = [CELL_EVAL_CONTROL, *(labels[i] for i in keep)]
    var = pd.DataFrame(index=pd.Index(list(fold.registry.var_names), dtype=str))

    def build(blocks: list[np.ndarray], kind: str) -> AnnData:
        obs = pd.DataFrame(
            {CELL_EVAL_PERT_COL: np.repeat(names, [b.shape[0] for b in blocks])},
            index=pd.Index([f"{kind}-{i}" for i in range(sum(b.shape[0] for b in blocks))]),
        )
        x = np.concatenate(blocks).astype(np.float32)
        return ad.AnnData(x, obs=obs, var=var.copy())

    return build(real_x, "real"), build(pred_x, "pred")


def score_cell_eval(
    real: AnnData,
    pred: AnnData,
    *,
    profile: Profile = "vcc",
    ceiling: bool = False,
    num_threads: int = 1,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Score ``pred`` against ``real`` with cell-eval's ``MetricsEvaluator``.

    Parameters
    ----------
    real, pred
        cell-eval's layout (see :func:`cell_eval_pair`).
    profile
        cell-eval's metric profile; ``"vcc"`` is the Virtual Cell Challenge's (MAE,
        discrimination score L1, DE overlap at N).
    ceiling
        Also compute cell-eval's data ceiling from ``real`` alone (``compute_ceiling``:
        disjoint halves of each condition's cells, Spearman-Brown corrected; NaN for the
        metrics it does not correct, such as MAE).
    num_threads
        Threads for cell-eval's differential expression.
    seed
        Seed of the ceiling's split.

    Returns
    -------
    scores
        One row per condition (index), one column per cell-eval metric. A metric that ranks a
        condition among its context's others (discrimination) is NaN when the context holds a
        single condition, where it is 1 by construction.
    ceiling
        Metric → ceiling (empty without ``ceiling``).
    """
    ce = _cell_eval()
    n_perts = len(set(real.obs[CELL_EVAL_PERT_COL].astype(str)) - {CELL_EVAL_CONTROL})
    # cell-eval writes its DE tables to an output directory and reports progress on stderr;
    # its polars calls warn of deprecations that are cell-eval's to fix, not our callers'
    with (
        tempfile.TemporaryDirectory() as tmp,
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        evaluator = ce.MetricsEvaluator(
            adata_pred=pred,
            adata_real=real,
            control_pert=CELL_EVAL_CONTROL,
            pert_col=CELL_EVAL_PERT_COL,
            num_threads=num_threads,
            outdir=str(Path(tmp) / "cell-eval"),
        )
        results, _ = evaluator.compute(profile=profile, write_csv=False, break_on_error=True)
        ceil: dict[str, float] = {}
        if ceiling:
            _, agg = evaluator.compute_ceiling(
                profile=profile, write_csv=False, break_on_error=True, seed=seed
            )
            ceil = {c: _float(agg[c][0]) for c in agg.columns if c != "perturbation"}
    frame = results.to_pandas().set_index("perturbation")
    frame.index = frame.index.astype(str)
    frame = frame.astype(float)
    if n_perts < 2:
        for col in frame.columns:
            if col.startswith(_RANKING):
                frame[col] = math.nan
                ceil[col] = math.nan
    return frame, ceil


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


# ------------------------------------------------------------------ a benchmark's models


@dataclass
class CellEvalScores:
    """cell-eval's scores of a run's models, as tidy tables.

    ``table`` has one row per (model, fold, condition, metric) with the ``value`` and how the
    model's ``cells`` were formed; ``ceiling`` one row per (fold, metric) with cell-eval's data
    ceiling of that fold's contexts (averaged over them).
    """

    task: str
    profile: str
    table: pd.DataFrame
    ceiling: pd.DataFrame
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per model (and the ceiling), the mean of each metric over all conditions, with how
        the cells were formed."""
        if self.table.empty:
            return pd.DataFrame()
        wide = self.table.pivot_table(
            index="model", columns="metric", values="value", aggfunc="mean", sort=False
        )
        wide["cells"] = self.table.groupby("model", sort=False)["cells"].first()
        if not self.ceiling.empty:
            ceil = self.ceiling.groupby("metric")["value"].mean()
            wide.loc[CELL_EVAL_CEILING] = [*ceil.reindex(wide.columns[:-1]).tolist(), "data"]
        return wide


class CellEvalScorer:
    """Scores each fitted model of a benchmark run with cell-eval (pass it as ``on_fit`` to
    :func:`~phenocast.evaluate.run_benchmark` or :func:`~phenocast.evaluate.run_task`).

    Parameters
    ----------
    profile
        cell-eval's metric profile (``"vcc"``: the challenge's).
    ceiling
        Also score cell-eval's data ceiling once per fold.
    num_threads
        Threads for cell-eval's differential expression.
    seed
        Seed of the ceiling's split.
    """

    def __init__(
        self,
        *,
        profile: Profile = "vcc",
        ceiling: bool = True,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        _cell_eval()  # fail before any model is fitted
        self.profile = profile
        self.ceiling = ceiling
        self.num_threads = num_threads
        self.seed = seed
        self._rows: list[dict[str, Any]] = []
        self._ceiling: list[dict[str, Any]] = []
        self._ceiling_done: set[tuple[str, str]] = set()
        self.notes: dict[tuple[str, str], str] = {}
        #: task name → why cell-eval could not score it
        self.unscored: dict[str, str] = {}

    def __call__(self, task: Task, label: str, fold: Fold, fit: FoldFit) -> None:
        if task.name in self.unscored:
            return
        for group in fold.groups:
            why = unscorable(fold, group)
            if why is not None:
                self.unscored[task.name] = why
                return
        do_ceiling = self.ceiling and (task.name, fold.name) not in self._ceiling_done
        ceilings: list[dict[str, float]] = []
        skipped: dict[str, str] = {}
        for group in fold.groups:
            cells, kind, why = predicted_cells(fit.model, fold, group)
            skipped.update(why)
            if all(c is None for c in cells):
                continue
            real, pred = cell_eval_pair(fold, group, cells)
            scores, ceil = score_cell_eval(
                real,
                pred,
                profile=self.profile,
                ceiling=do_ceiling,
                num_threads=self.num_threads,
                seed=self.seed,
            )
            ceilings.append(ceil)
            for cond, row in scores.iterrows():
                for metric, value in row.items():
                    self._rows.append(
                        {
                            "task": task.name,
                            "model": label,
                            "fold": fold.name,
                            "condition": str(cond),
                            "metric": str(metric),
                            "value": float(value),
                            "cells": kind,
                        }
                    )
        if do_ceiling:
            self._ceiling_done.add((task.name, fold.name))
            for metric in dict.fromkeys(m for c in ceilings for m in c):
                vals = [c[metric] for c in ceilings if metric in c]
                value = float(np.nanmean(vals)) if not np.isnan(vals).all() else math.nan
                self._ceiling.append(
                    {"task": task.name, "fold": fold.name, "metric": metric, "value": value}
                )
        if skipped:
            first = next(iter(skipped.values()))
            self.notes[(task.name, label)] = f"{len(skipped)} condition(s) without cells ({first})"

    def scores(self, task: str) -> CellEvalScores:
        """The tidy tables of ``task``."""
        cols = ["model", "fold", "condition", "metric", "value", "cells"]
        rows = pd.DataFrame(self._rows, columns=["task", *cols])
        ceil = pd.DataFrame(self._ceiling, columns=["task", "fold", "metric", "value"])
        return CellEvalScores(
            task,
            self.profile,
            rows[rows["task"] == task][cols].reset_index(drop=True),
            ceil[ceil["task"] == task][["fold", "metric", "value"]].reset_index(drop=True),
            {m: n for (t, m), n in self.notes.items() if t == task},
        )

    def attach(self, result: BenchmarkResult) -> None:
        """Add the scores to ``result`` beside each task's metrics, as ``ce:<metric>``:
        per model per fold per condition; the ceiling as the noise-ceiling row's value of
        each fold; how the cells were formed in each model's note; and ``ce:avg_score``,
        cell-eval's overall score of each model against the task's ``no-change`` row
        (:func:`~phenocast.evaluate.attach_overall`)."""
        ce = _cell_eval()
        for tr in result.tasks:
            got = self.scores(tr.task.name)
            for metric in dict.fromkeys(got.table["metric"]):
                try:
                    best = ce.metrics_registry.get_metric(metric).best_value.name
                except KeyError:
                    best = "ONE"
                tr.extra_metrics[PREFIX + metric] = best != "ZERO"
            for name, res in tr.models.items():
                if name == NOISE_CEILING or res.status != "ok":
                    continue
                mine = got.table[got.table["model"] == name]
                for (metric, fold), part in mine.groupby(["metric", "fold"], sort=False):
                    per = dict(zip(part["condition"], part["value"].astype(float), strict=True))
                    res.values.setdefault(PREFIX + str(metric), {})[str(fold)] = per
                if not mine.empty:
                    note = f"cell-eval cells: {mine['cells'].iloc[0]}"
                    extra = got.notes.get(name)
                    note = f"{note}; {extra}" if extra else note
                    res.note = f"{res.note}; {note}" if res.note else note
            metrics = list(dict.fromkeys(got.table["metric"]))
            if metrics:
                attach_overall(tr, ce, PREFIX, metrics)
            ceiling = tr.models.get(NOISE_CEILING)
            if ceiling is not None and not got.ceiling.empty:
                for (metric, fold), part in got.ceiling.groupby(["metric", "fold"], sort=False):
                    value = float(part["value"].iloc[0])
                    ceiling.values.setdefault(PREFIX + str(metric), {})[str(fold)] = {
                        CELL_EVAL_CEILING: value
                    }


def cell_eval(
    task: Task | str,
    models: str | Sequence[str],
    *,
    data_dir: str | Path | None = None,
    folds: int | None = None,
    profile: Profile = "vcc",
    ceiling: bool = True,
    num_threads: int = 1,
    seed: int = 0,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> CellEvalScores:
    """Fit ``models`` on a benchmark task and score their held-out cells with cell-eval.

    The benchmark runner fits and predicts as it does for the mean metrics
    (:func:`~phenocast.evaluate.run_task`); each fitted model's per-cell predictions of every
    held-out condition, with the real cells, are scored by cell-eval's own code (see the
    module's docstring for the layout and how mean-only baselines get cells).

    Parameters
    ----------
    task
        A task or its name (:data:`~phenocast.evaluate.TASKS`).
    models
        A comma list of model names (as ``phenocast benchmark --model``), or ``"baselines"``.
    data_dir
        The data directory (default: ``PHENOCAST_DATA_DIR``).
    folds
        Keep only the task's first ``folds`` folds (a quicker run).
    profile
        cell-eval's metric profile; ``"vcc"`` is the Virtual Cell Challenge's.
    ceiling
        Also score cell-eval's data ceiling (real cells only) per fold.
    num_threads
        Threads for cell-eval's differential expression.
    seed
        Seed of the ceiling's split.
    overrides
        Per model name, options applied last (as in :func:`~phenocast.evaluate.run_task`).

    Returns
    -------
    CellEvalScores
        Per (model, fold, condition, metric) values and the ceiling; ``.summary()`` averages
        them per model.
    """
    from ._folds import first_folds
    from ._tasks import TASKS

    if isinstance(task, str):
        if task not in TASKS:
            raise KeyError(f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)}.")
        task = TASKS[task]
    if folds is not None:
        task = first_folds(task, folds)
    scorer = CellEvalScorer(profile=profile, ceiling=ceiling, num_threads=num_threads, seed=seed)
    spec = ",".join(task.baselines) if models == "baselines" else models
    run_task(
        task,
        expand_models(spec),
        data_dir=None if data_dir is None else Path(data_dir),
        overrides=overrides,
        on_fit=scorer,
    )
    if task.name in scorer.unscored:
        raise ValueError(f"{task.name}: {scorer.unscored[task.name]}")
    return scorer.scores(task.name)
