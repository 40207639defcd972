"""Multimodal perturbation data: several readouts of the same perturbations, aligned by id.

:class:`MultiModalData` aligns transcriptome, morphology, protein (...) AnnData objects on their
sample ids, keeping ids measured in only some readouts; :func:`synthetic_multimodal` draws a
linear-Gaussian multimodal dataset with analytic mutual information; :func:`gaussian_mi` and
:func:`predictive_mi` estimate the information one readout carries about another.
"""

from __future__ import annotations

from ._data import DATASETS, MultiModalData, MultiModalDataError, Split, load
from ._mi import MIEstimate, gaussian_mi, gaussian_mi_from_covariance, predictive_mi
from ._synthetic import MultiModalTruth, synthetic_multimodal

# model exports are added on integration

__all__ = [
    "DATASETS",
    "MIEstimate",
    "MultiModalData",
    "MultiModalDataError",
    "MultiModalTruth",
    "Split",
    "gaussian_mi",
    "gaussian_mi_from_covariance",
    "load",
    "predictive_mi",
    "synthetic_multimodal",
]
