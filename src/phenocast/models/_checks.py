"""What every model refuses to train on, by name, before any work: no features, no samples,
no perturbation (every sample a control). One wording for every model."""

from __future__ import annotations

from ..data import RegistrationError

__all__ = ["check_training_data"]


def check_training_data(
    *,
    n_samples: int,
    n_features: int,
    n_perturbations: int,
    samples: str = "cells",
    features: str = "genes",
    error: type[RegistrationError] = RegistrationError,
) -> None:
    """Refuse data without ``features``, without ``samples`` or without any perturbation.

    ``samples`` / ``features`` name the rows and columns in the message (``"cells"`` and
    ``"genes"``; the multimodal model says ``"samples"`` and ``"features"``); ``error`` is the
    :class:`~phenocast.data.RegistrationError` subclass raised.
    """
    if n_features == 0:
        raise error(f"The data have 0 {features}; there is nothing to model.")
    if n_samples == 0:
        raise error(f"The data have 0 {samples}; there is nothing to train on.")
    if n_perturbations == 0:
        raise error(
            f"The data have no perturbations (every {samples[:-1]} is a control), so there is "
            f"no effect to learn; train on data with perturbed {samples}."
        )
