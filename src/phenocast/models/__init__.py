"""Models: the shared protocol, the baselines, the compositional and multimodal models,
ensembles and calibration."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._base import (
    MODELS,
    Config,
    PerturbationModel,
    UnsupportedConditionError,
    accepted_options,
    create_model,
    model_inputs,
    model_names,
    predict_rows,
    register_model,
)
from ._calibration import VarianceCalibration, condition_mean_noise, fit_variance_calibration
from ._doses import DoseRangeError, check_dose_range, dose_requests, trained_dose_ranges
from ._ensemble import Ensemble, Prediction
from ._mc_dropout import MCDropout
from ._persist import ModelDirectoryError
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
from .multimodal import MultiModalConfig, MultiModalModel, MultiModalTrainConfig

__all__ = [
    "MODELS",
    "Additive",
    "Compositional",
    "CompositionalConfig",
    "Config",
    "CrossModalRidge",
    "DoseInterpolation",
    "DoseRangeError",
    "Ensemble",
    "EntityAdditive",
    "EntityRidge",
    "Linear",
    "LossOutput",
    "MCDropout",
    "MeanShift",
    "ModelDirectoryError",
    "MultiModalConfig",
    "MultiModalModel",
    "MultiModalTrainConfig",
    "NearestDose",
    "NoChange",
    "PerturbationModel",
    "Prediction",
    "TrainConfig",
    "Transfer",
    "UnsupportedConditionError",
    "VarianceCalibration",
    "accepted_options",
    "additive_from_singles",
    "check_dose_range",
    "condition_mean_noise",
    "create_model",
    "dose_requests",
    "fit_variance_calibration",
    "model_inputs",
    "model_names",
    "predict_rows",
    "register_model",
    "trained_dose_ranges",
]

if TYPE_CHECKING:  # pragma: no cover
    from ._blocks import LossOutput

# torch-backed names load on first use, so that ``import phenocast.models`` stays light
_LAZY = {"LossOutput": "._blocks"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
