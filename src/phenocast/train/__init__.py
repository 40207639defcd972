"""The public training layer every phenocast model trains through.

:class:`TrainConfig` is the one training config (``check_int``, ``check_number`` and
``check_choice`` validate every config's options); :func:`early_stopping_split` holds rows
out for early stopping. :class:`TrainingPlan` is one Lightning module for every model: the
module it trains exposes ``loss(batch, *, adversary_weight, generator)`` returning a
:class:`phenocast.models.LossOutput` and ``model_parameters()`` (adversarial modules also
``encode``, ``adversary_loss`` and ``adversary_parameters()``); the plan owns the
optimisers, the optional adversarial schedule, the seeded noise and the logging.
:class:`TensorBatches` and :class:`PairedBatches` cut minibatches from in-memory tensors;
:func:`fit_module` runs the Lightning trainer as a :class:`TrainConfig` says and restores
the best weights, showing progress by default (:class:`PlainProgress` where no Rich bar can
be drawn). :class:`ForkedCall` runs a second, independent fit in a forked child process
beside the caller's (:func:`fork_unavailable` says when it cannot).

Importing this package is cheap: Lightning loads when a plan or the fit function is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._config import (
    CHECKPOINT_NAME,
    DATA_PATHS,
    DENSE_LIMIT_BYTES,
    LARGE_BATCH,
    LARGE_DATA_ROWS,
    PROGRESS_SECONDS,
    READ_IN_BYTES,
    SMALL_BATCH,
    THREAD_ELEMENTS,
    TrainConfig,
    available_cores,
    check_choice,
    check_int,
    check_number,
    thread_count,
)
from ._data import early_stopping_split
from ._errors import CheckpointError, NonFiniteLossError, TrainingError, TrainingInterrupted
from ._fork import ForkedCall, fork_unavailable

if TYPE_CHECKING:  # pragma: no cover
    from ._plan import (
        FitHistory,
        PairedBatches,
        TensorBatches,
        TrainingPlan,
        batch_size,
        fit_module,
    )
    from ._progress import PlainProgress
    from ._stream import BlockBatches
    from ._threads import ThreadProbe, threads

__all__ = [
    "CHECKPOINT_NAME",
    "DATA_PATHS",
    "DENSE_LIMIT_BYTES",
    "LARGE_BATCH",
    "LARGE_DATA_ROWS",
    "PROGRESS_SECONDS",
    "READ_IN_BYTES",
    "SMALL_BATCH",
    "THREAD_ELEMENTS",
    "BlockBatches",
    "CheckpointError",
    "FitHistory",
    "ForkedCall",
    "NonFiniteLossError",
    "PairedBatches",
    "PlainProgress",
    "TensorBatches",
    "ThreadProbe",
    "TrainConfig",
    "TrainingError",
    "TrainingInterrupted",
    "TrainingPlan",
    "available_cores",
    "batch_size",
    "check_choice",
    "check_int",
    "check_number",
    "early_stopping_split",
    "fit_module",
    "fork_unavailable",
    "thread_count",
    "threads",
]
#: Names loaded from ``_plan`` (Lightning) on first use.
_PLAN = frozenset(
    {
        "FitHistory",
        "PairedBatches",
        "TensorBatches",
        "TrainingPlan",
        "batch_size",
        "fit_module",
    }
)
#: Names loaded from ``_threads`` (Lightning) on first use.
_THREADS = frozenset({"ThreadProbe", "threads"})
#: Names loaded from ``_stream`` (torch) on first use.
_STREAM = frozenset({"BlockBatches"})
#: Names loaded from ``_progress`` (Lightning) on first use.
_PROGRESS = frozenset({"PlainProgress"})


def __getattr__(name: str) -> Any:
    modules = {"._plan": _PLAN, "._stream": _STREAM, "._progress": _PROGRESS, "._threads": _THREADS}
    module = next((m for m, names in modules.items() if name in names), None)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
