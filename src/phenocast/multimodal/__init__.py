"""Multimodal perturbation data: several readouts of the same perturbations, aligned by id.

:class:`MultiModalData` aligns transcriptome, morphology, protein (...) AnnData objects on their
sample ids, keeping ids measured in only some readouts; :func:`synthetic_multimodal` draws a
linear-Gaussian multimodal dataset with analytic mutual information; :func:`gaussian_mi` and
:func:`predictive_mi` estimate the information one readout carries about another;
:class:`MultiModalModel` predicts one readout from another, generates the readouts of unmeasured
perturbations and estimates their mutual information.
"""

from __future__ import annotations

from ..metrics import MIEstimate, gaussian_mi, gaussian_mi_from_covariance, predictive_mi
from ._config import MultiModalConfig, MultiModalTrainConfig
from ._data import DATASETS, MultiModalData, MultiModalDataError, Split, load
from ._model import MultiModalModel
from ._synthetic import MultiModalTruth, synthetic_multimodal

__all__ = [
    "DATASETS",
    "MIEstimate",
    "MultiModalConfig",
    "MultiModalData",
    "MultiModalDataError",
    "MultiModalModel",
    "MultiModalTrainConfig",
    "MultiModalTruth",
    "Split",
    "gaussian_mi",
    "gaussian_mi_from_covariance",
    "load",
    "predictive_mi",
    "synthetic_multimodal",
]
