"""Multimodal perturbation data and model, gathered under one name for convenience.

Everything here lives in the shared stack and is re-exported unchanged:
:class:`~phenocast.data.MultiModalData` and :func:`~phenocast.data.synthetic_multimodal` in
:mod:`phenocast.data`, :class:`~phenocast.models.MultiModalModel` and its config in
:mod:`phenocast.models`, and the mutual-information estimators in :mod:`phenocast.metrics`.
"""

from __future__ import annotations

from types import MappingProxyType

from ..data import (
    MultiModalData,
    MultiModalDataError,
    MultiModalTruth,
    multimodal_datasets,
    synthetic_multimodal,
)
from ..data import MultiModalSplit as Split
from ..data import load_multimodal as load
from ..metrics import MIEstimate, gaussian_mi, gaussian_mi_from_covariance, predictive_mi
from ..models.multimodal import MultiModalConfig, MultiModalModel, MultiModalTrainConfig

#: The multimodal datasets of :data:`phenocast.data.DATASETS`: name → what it holds.
DATASETS = MappingProxyType(multimodal_datasets())

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
