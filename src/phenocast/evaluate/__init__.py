"""Evaluation: the benchmark tasks, the runner, its tables, the demo and the report
(``metrics`` is :mod:`phenocast.metrics` under its earlier name)."""

from __future__ import annotations

from . import metrics
from ._demo import DEMO_MODELS, DEMO_TASKS, run_demo
from ._report import write_report
from ._runner import (
    NOISE_CEILING,
    BenchmarkResult,
    ModelResult,
    expand_models,
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
    "ModelResult",
    "QueryGroup",
    "Task",
    "expand_models",
    "get_tasks",
    "markdown_summary",
    "metrics",
    "rich_tables",
    "run_benchmark",
    "run_demo",
    "run_task",
    "score_fold",
    "write_report",
]
