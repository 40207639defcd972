"""The public training layer every phenocast model trains through.

:class:`TrainingPlan` is one Lightning module for every model: the module it trains exposes
``loss(batch, *, adversary_weight, generator)`` returning a
:class:`phenocast.models.LossOutput`, and
``model_parameters()`` / ``adversary_parameters()``; the plan owns the optimisers, the
optional adversarial schedule, the seeded noise and the logging. :class:`TensorBatches` and
:class:`PairedBatches` cut minibatches from in-memory tensors; :func:`fit_module` runs the
Lightning trainer with early stopping and restores the best weights.
"""

from __future__ import annotations

from ._plan import (
    FitHistory,
    PairedBatches,
    TensorBatches,
    TrainingPlan,
    batch_size,
    fit_module,
)

__all__ = [
    "FitHistory",
    "PairedBatches",
    "TensorBatches",
    "TrainingPlan",
    "batch_size",
    "fit_module",
]
