"""Evaluation: the benchmark tasks, the runner, its studies and tables (``metrics`` is
:mod:`phenocast.metrics` under its earlier name; the HTML report and the demo live in
:mod:`phenocast.report`, above this package)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from . import metrics
from ._calibration import (
    CALIBRATION_METHODS,
    CalibrationSetup,
    calibrate_fold,
    calibration_summary,
)
from ._celleval import (
    CELL_EVAL_CEILING,
    CELL_EVAL_CONTROL,
    CELL_EVAL_PERT_COL,
    CELLS_MEAN,
    CELLS_PER_CELL,
    CELLS_RESIDUAL,
    CellEvalScorer,
    CellEvalScores,
    cell_eval,
    cell_eval_pair,
    predicted_cells,
    score_cell_eval,
    unscorable,
)
from ._celleval_overall import attach_overall
from ._distributions import (
    CELLS_MEAN_ONLY,
    CELLS_SAMPLED,
    DIST_PREFIX,
    DistributionScorer,
    DistributionScores,
    distribution_scores,
    variance_r2,
)
from ._folds import first_folds, subsample_groups, training_groups, validation_split
from ._runner import (
    NOISE_CEILING,
    BenchmarkResult,
    FoldFit,
    ModelResult,
    TaskResult,
    expand_models,
    fit_fold,
    predict_groups,
    run_benchmark,
    run_task,
    score_fold,
)
from ._study import (
    BaselineRecord,
    FitRecord,
    TaskRun,
    limits_report,
    peak_rss_mb,
    speed_report,
    sweep_report,
    sweep_task,
)
from ._tables import Report, markdown_summary, rich_tables
from ._tasks import GROUPS, TASKS, Fold, QueryGroup, Task, get_tasks

__all__ = [
    "CALIBRATION_METHODS",
    "CELLS_MEAN",
    "CELLS_MEAN_ONLY",
    "CELLS_PER_CELL",
    "CELLS_RESIDUAL",
    "CELLS_SAMPLED",
    "CELL_EVAL_CEILING",
    "CELL_EVAL_CONTROL",
    "CELL_EVAL_PERT_COL",
    "DIST_PREFIX",
    "GROUPS",
    "NOISE_CEILING",
    "TASKS",
    "BaselineRecord",
    "BenchmarkResult",
    "CalibrationSetup",
    "CellEvalScorer",
    "CellEvalScores",
    "DistributionScorer",
    "DistributionScores",
    "FitRecord",
    "Fold",
    "FoldFit",
    "ModelResult",
    "QueryGroup",
    "Report",
    "Task",
    "TaskResult",
    "TaskRun",
    "attach_overall",
    "calibrate_fold",
    "calibration_summary",
    "cell_eval",
    "cell_eval_pair",
    "distribution_scores",
    "expand_models",
    "first_folds",
    "fit_fold",
    "get_tasks",
    "limits_report",
    "markdown_summary",
    "metrics",
    "peak_rss_mb",
    "predict_groups",
    "predicted_cells",
    "rich_tables",
    "run_benchmark",
    "run_task",
    "score_cell_eval",
    "score_fold",
    "speed_report",
    "subsample_groups",
    "sweep_report",
    "sweep_task",
    "training_groups",
    "unscorable",
    "validation_split",
    "variance_r2",
]

#: Names that moved to :mod:`phenocast.report`; the old spelling still works, with a warning.
_MOVED = frozenset({"DEMO_MODELS", "DEMO_TASKS", "run_demo", "write_report"})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"phenocast.evaluate.{name} moved to phenocast.report.{name}; import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        # resolved by name on first use: the report layer sits above this package
        return getattr(importlib.import_module("phenocast.report"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
