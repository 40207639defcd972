"""The multimodal perturbation model: several readouts of a perturbation as views of one
latent (mixture / product of experts), predicting one readout from another, generating the
readouts of unmeasured perturbations and estimating the information they share."""

from __future__ import annotations

from ._config import MultiModalConfig, MultiModalTrainConfig
from ._model import MultiModalModel

__all__ = ["MultiModalConfig", "MultiModalModel", "MultiModalTrainConfig"]
