"""Evaluation: the benchmark tasks, the runner, its tables, the demo and the report
(``metrics`` is :mod:`phenocast.metrics` under its earlier name)."""

from __future__ import annotations

from . import metrics
from ._demo import DEMO_MODELS, DEMO_TASKS, run_demo
from ._folds import first_folds, subsample_groups, training_groups, validation_split
from ._report import write_report
from ._runner import (
    NOISE_CEILING,
    BenchmarkResult,
    FoldFit,
    ModelResult,
    expand_models,
    fit_fold,
    predict_groups,
    run_benchmark,
    run_task,
    score_fold,
)
from ._tables import markdown_summary, rich_tables
from ._tasks import GROUPS, TASKS, Fold, QueryGroup, Task, get_tasks

__all__ = [
    "DEMO_MODELS",
    "DEMO_TASKS",
    "GROUPS",
    "NOISE_CEILING",
    "TASKS",
    "BenchmarkResult",
    "Fold",
    "FoldFit",
    "ModelResult",
    "QueryGroup",
    "Task",
    "expand_models",
    "first_folds",
    "fit_fold",
    "get_tasks",
    "markdown_summary",
    "metrics",
    "predict_groups",
    "rich_tables",
    "run_benchmark",
    "run_demo",
    "run_task",
    "score_fold",
    "subsample_groups",
    "training_groups",
    "validation_split",
    "write_report",
]
