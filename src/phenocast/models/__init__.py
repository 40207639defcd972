"""Models: the shared protocol, the baselines and (later) the compositional model."""

from __future__ import annotations

from ._base import (
    MODELS,
    Config,
    PerturbationModel,
    UnsupportedConditionError,
    create_model,
    model_names,
    register_model,
)
from .baselines import (
    Additive,
    DoseInterpolation,
    EntityAdditive,
    EntityRidge,
    Linear,
    MeanShift,
    NearestDose,
    NoChange,
    Transfer,
)

__all__ = [
    "MODELS",
    "Additive",
    "Config",
    "DoseInterpolation",
    "EntityAdditive",
    "EntityRidge",
    "Linear",
    "MeanShift",
    "NearestDose",
    "NoChange",
    "PerturbationModel",
    "Transfer",
    "UnsupportedConditionError",
    "create_model",
    "model_names",
    "register_model",
]
