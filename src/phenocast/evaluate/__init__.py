"""Evaluation: the benchmark tasks, the runner, its tables, the demo and the report
(``metrics`` is :mod:`phenocast.metrics` under its earlier name)."""

from __future__ import annotations

from . import metrics
from ._calibration import (
    CALIBRATION_METHODS,
    CalibrationSetup,
    calibrate_fold,
    calibration_summary,
)
from ._demo import DEMO_MODELS, DEMO_TASKS, run_demo
from ._folds import first_folds, subsample_groups, training_groups, validation_split
from ._report import write_report
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
    "DEMO_MODELS",
    "DEMO_TASKS",
    "GROUPS",
    "NOISE_CEILING",
    "TASKS",
    "BaselineRecord",
    "BenchmarkResult",
    "CalibrationSetup",
    "FitRecord",
    "Fold",
    "FoldFit",
    "ModelResult",
    "QueryGroup",
    "Report",
    "Task",
    "TaskResult",
    "TaskRun",
    "calibrate_fold",
    "calibration_summary",
    "expand_models",
    "first_folds",
    "fit_fold",
    "get_tasks",
    "limits_report",
    "markdown_summary",
    "metrics",
    "peak_rss_mb",
    "predict_groups",
    "rich_tables",
    "run_benchmark",
    "run_demo",
    "run_task",
    "score_fold",
    "speed_report",
    "subsample_groups",
    "sweep_report",
    "sweep_task",
    "training_groups",
    "validation_split",
    "write_report",
]
