"""Models: the shared protocol, the baselines and (later) the compositional model."""

from __future__ import annotations

from ._base import (
    MODELS,
    Config,
    PerturbationModel,
    UnsupportedConditionError,
    create_model,
    model_names,
    predict_rows,
    register_model,
)
from ._calibration import VarianceCalibration, condition_mean_noise, fit_variance_calibration
from ._ensemble import Ensemble, Prediction
from ._mc_dropout import MCDropout
from .baselines import (
    Additive,
    CrossModalRidge,
    DoseInterpolation,
    EntityAdditive,
    EntityRidge,
    Linear,
    MeanShift,
    NearestDose,
    NoChange,
    Transfer,
    additive_from_singles,
)
from .compositional import Compositional, CompositionalConfig, TrainConfig

__all__ = [
    "MODELS",
    "Additive",
    "Compositional",
    "CompositionalConfig",
    "Config",
    "CrossModalRidge",
    "DoseInterpolation",
    "Ensemble",
    "EntityAdditive",
    "EntityRidge",
    "Linear",
    "MCDropout",
    "MeanShift",
    "NearestDose",
    "NoChange",
    "PerturbationModel",
    "Prediction",
    "TrainConfig",
    "Transfer",
    "UnsupportedConditionError",
    "VarianceCalibration",
    "additive_from_singles",
    "condition_mean_noise",
    "create_model",
    "fit_variance_calibration",
    "model_names",
    "predict_rows",
    "register_model",
]
