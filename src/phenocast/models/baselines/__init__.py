"""Baselines as first-class models.

All of them work on per-(condition, context) mean profiles of the training data, where the
context is a cell's covariate values (cell type, cell line ...) and time. A Δ is a mean profile
minus the mean control profile of the same context. Predictions add a predicted Δ to the control
profile of the cells being predicted.

========================  ==============================================================
``no-change``             the control profile itself
``mean-shift``            control + the average Δ over every training (condition, context)
``transfer``              control + the same condition's Δ, averaged over the contexts that
                          measured it (each context weighted equally)
``nearest-time``          control + the same condition's Δ in the same covariates at the
                          nearest measured time
``covariate-mean``        control + the mean Δ over every training condition and time with
                          the same covariates (a cell line's mean signature)
``transfer-same-time``    control + the same condition's Δ at the same time, averaged over
                          the other covariate values
``additive``              control + Σ of each component's single Δ at the same dose
``nearest-dose``          like additive, with each component at its nearest measured dose
                          (log scale; ``tie`` picks the lower or upper dose on a tie)
``dose-interp``           like additive, interpolating each component's Δ linearly in log dose
                          between the neighbouring measured doses (nearest outside the range)
``entity-additive``       least squares ``y ≈ b + Σ a_component + Σ c_covariate``
``entity-ridge``          entity-additive plus component × context terms, ridge penalty
                          chosen by inner cross-validation
``linear``                the bilinear model of Ahlmann-Eltze, Huber & Anders (2025):
                          ``Δ ≈ G K Pᵀ + b``, G and P from PCA of the training data, K by ridge
========================  ==============================================================

For several readouts of the same conditions (rows aligned across readouts, no registry):
:class:`CrossModalRidge` predicts one readout from another, and :func:`additive_from_singles`
sums a combination's single profiles.
"""

from __future__ import annotations

# Importing registers the models; the order of these imports is the order of ``model_names()``.
from ._profile import BaselineConfig
from ._simple import MeanShift, MeanShiftConfig, NoChange, Transfer  # isort: split

from ._dose import Additive, DoseInterpolation, NearestDose, NearestDoseConfig  # isort: split

from ._time import CovariateMean, NearestTime, TransferSameTime  # isort: split

from ._entity import EntityAdditive, EntityRidge, EntityRidgeConfig  # isort: split

from ._linear import Linear, LinearConfig
from ._multimodal import CROSS_MODAL_ALPHAS, CrossModalRidge, additive_from_singles

__all__ = [
    "CROSS_MODAL_ALPHAS",
    "Additive",
    "BaselineConfig",
    "CovariateMean",
    "CrossModalRidge",
    "DoseInterpolation",
    "EntityAdditive",
    "EntityRidge",
    "EntityRidgeConfig",
    "Linear",
    "LinearConfig",
    "MeanShift",
    "MeanShiftConfig",
    "NearestDose",
    "NearestDoseConfig",
    "NearestTime",
    "NoChange",
    "Transfer",
    "TransferSameTime",
    "additive_from_singles",
]
