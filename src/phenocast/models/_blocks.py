"""Network pieces every phenocast model shares: the MLP, the dose-response of a perturbation
embedding, the log-dose centring that initialises it, and the typed loss a module returns to
the training plan (:class:`phenocast.train.TrainingPlan`).

Functions rather than modules where parameters already live on a model, so that saved
weights keep their names.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "DOSE_EPS",
    "LossOutput",
    "dose_scale",
    "initial_dose_slope",
    "log_dose_centers",
    "mlp",
]

#: Doses are clamped to this before their logarithm.
DOSE_EPS = 1e-6


@dataclass
class LossOutput:
    """What one forward pass costs.

    ``total`` is what the model's optimiser minimises; ``tracked`` (detached) is what the
    plan logs as the training / validation loss and early stopping watches (default: the
    reconstruction term); ``adversary`` is the adversarial classifiers' loss, or ``None`` for
    a model without adversaries.
    """

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    adversary: torch.Tensor | None = None
    tracked: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.tracked is None:
            self.tracked = self.reconstruction


def mlp(
    sizes: Sequence[int],
    *,
    dropout: float,
    layer_norm: bool,
) -> nn.Sequential:
    """Linear layers of widths ``sizes``; between them an optional LayerNorm, then GELU and
    dropout (when ``dropout > 0``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if layer_norm:
                layers.append(nn.LayerNorm(b))
            layers.append(nn.GELU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def initial_dose_slope(n: int) -> nn.Parameter:
    """``n`` raw dose-response slopes (a model uses their softplus, 1 at the start)."""
    return nn.Parameter(torch.full((n,), math.log(math.e - 1)))


def dose_scale(slope: torch.Tensor, mid: torch.Tensor, doses: torch.Tensor) -> torch.Tensor:
    """How much of a component's embedding acts at ``doses``:
    ``sigmoid(slope · (log10 dose − mid))``, for a positive ``slope`` (the softplus of a raw
    parameter, see :func:`initial_dose_slope`); tensors broadcast."""
    log_dose = torch.log10(doses.clamp(min=DOSE_EPS))
    return torch.sigmoid(slope * (log_dose - mid))


def log_dose_centers(components: np.ndarray, doses: np.ndarray, n: int) -> torch.Tensor:
    """Per component ``0..n-1``, the mean log10 of its positive training doses (0 when it has
    none): the starting midpoint of its dose-response. ``components`` pads with -1."""
    center = torch.zeros(max(n, 1))
    for j in range(n):
        d = doses[(components == j) & (doses > 0)]
        center[j] = float(np.log10(d).mean()) if d.size else 0.0
    return center
