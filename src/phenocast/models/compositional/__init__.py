"""The compositional perturbation model (CPA class): config, torch module, user class."""

from __future__ import annotations

from ._config import CompositionalConfig, TrainConfig
from ._model import Compositional, ModelDirectoryError
from ._screen import CompositionalPredictor

__all__ = [
    "Compositional",
    "CompositionalConfig",
    "CompositionalPredictor",
    "ModelDirectoryError",
    "TrainConfig",
]
