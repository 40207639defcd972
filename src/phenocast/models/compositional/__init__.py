"""The compositional perturbation model (CPA class): config, torch module, user class."""

from __future__ import annotations

from ._config import ANCHOR_BASELINES, CompositionalConfig, TrainConfig
from ._model import Compositional, ModelDirectoryError
from ._screen import CompositionalPredictor

__all__ = [
    "ANCHOR_BASELINES",
    "Compositional",
    "CompositionalConfig",
    "CompositionalPredictor",
    "ModelDirectoryError",
    "TrainConfig",
]
