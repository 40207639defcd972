"""Configuration of the multimodal perturbation VAE: the only home of its defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ...train import TrainConfig, check_choice, check_int, check_number
from .._base import Config

__all__ = ["MULTIMODAL_TRAIN", "MultiModalConfig", "MultiModalTrainConfig"]


#: The multimodal model's training defaults: its samples are conditions, few and noisy.
MULTIMODAL_TRAIN: Mapping[str, Any] = MappingProxyType(
    {
        "max_epochs": 300,
        "patience": 30,
        "batch_size": 32,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "val_fraction": 0.15,
    }
)


def MultiModalTrainConfig(**changes: Any) -> TrainConfig:
    """The :class:`~phenocast.train.TrainConfig` with the multimodal model's defaults
    (:data:`MULTIMODAL_TRAIN`) and ``changes``; what ``MultiModalConfig().train`` holds."""
    return TrainConfig.from_dict(changes, defaults=dict(MULTIMODAL_TRAIN))


@dataclass(frozen=True, kw_only=True)
class MultiModalConfig(Config):
    """Architecture, likelihood and loss of the multimodal perturbation VAE.

    Every readout (modality) is a view of one latent ``z``: an encoder gives a Gaussian
    expert ``q(z | x_m)`` per modality, a decoder gives ``p(x_m | z)``: a Gaussian with a
    decoded mean and a learned covariance ``B_m B_mᵀ + diag(ψ_m)`` on standardised values.
    ``B_m`` (``d_m × private_dim``) is the loading of a private latent ``w_m ~ N(0, I)`` of
    that modality alone, integrated out exactly, so the shared ``z`` need only carry what the
    readouts share (cf. the private subspaces of MMVAE+, Palumbo, Daunhawer & Vogt 2023).

    Attributes
    ----------
    latent_dim, hidden, dropout
        Size of the shared latent, hidden widths of every encoder (decoders mirror them),
        dropout in the hidden layers.
    private_dim
        Size of each modality's private latent: the rank of the structured part of its
        decoder covariance (0: a diagonal covariance, so variation one readout does not share
        must be explained by ``z`` or by independent noise).
    joint
        How the experts of the observed modalities form the posterior. ``"poe"``: their
        product (with a standard-normal prior expert). ``"moe"``: a mixture of the single
        modalities' posteriors (MMVAE). ``"mopoe"``: a mixture over every non-empty subset of
        the observed modalities of that subset's product (MoPoE), which trains each
        modality's encoder alone and in combination.
    beta
        Weight of the KL term (1: the ELBO).
    min_variance
        Floor of the decoders' variances, in units of each feature's training variance.
    conditional_prior
        Learn a perturbation prior ``p(z | perturbation) = N(Σ_c s_c(dose_c) e_c, σ²)`` when
        components are given to ``fit`` (else, and when off, ``p(z) = N(0, I)``). A
        combination's prior mean is the sum of its components' embeddings, which is what lets
        the model generate the readouts of an unmeasured combination of measured singles.
    dose_response
        How a dose scales a component's embedding: ``"sigmoid"`` in log10 dose with a learned
        positive slope and midpoint per component, or ``"none"`` (every dose acts fully).
    free_embedding
        With component features: also learn a free embedding per training component, added to
        the projection of its features. Without features it is the only embedding and must be
        on. Off, every component is embedded from its features alone, which is what
        generalises to components never seen in training.
    n_samples
        Default number of latent samples used by ``predict``, ``generate`` and the
        log-likelihoods (0 in ``predict`` / ``generate``: decode the posterior or prior mean,
        with the decoder's variance only).
    train
        How it is trained: a :class:`~phenocast.train.TrainConfig`, by default (and for
        absent keys of a dict) with the defaults of :data:`MULTIMODAL_TRAIN`.
    """

    latent_dim: int = 8
    hidden: tuple[int, ...] = (64,)
    dropout: float = 0.1
    private_dim: int = 4
    joint: Literal["mopoe", "poe", "moe"] = "mopoe"
    beta: float = 1.0
    min_variance: float = 1e-3
    conditional_prior: bool = True
    dose_response: Literal["sigmoid", "none"] = "sigmoid"
    free_embedding: bool = True
    n_samples: int = 100
    train: TrainConfig = field(default_factory=MultiModalTrainConfig)

    def __post_init__(self) -> None:
        check_int("latent_dim", self.latent_dim, minimum=1)
        check_int("private_dim", self.private_dim, minimum=0)
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if not isinstance(self.hidden, tuple) or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden
        ):
            raise ValueError(f"hidden must be a tuple of integer widths >= 1, got {self.hidden!r}.")
        check_number("dropout", self.dropout, allow_zero=True)
        if not self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        check_choice("joint", self.joint, ("mopoe", "poe", "moe"))
        check_choice("dose_response", self.dose_response, ("sigmoid", "none"))
        check_number("beta", self.beta, allow_zero=True)
        check_number("min_variance", self.min_variance, allow_zero=False)
        check_int("n_samples", self.n_samples, minimum=0)
        for name in ("conditional_prior", "free_embedding"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        if isinstance(self.train, dict):  # from JSON
            object.__setattr__(self, "train", MultiModalTrainConfig(**self.train))
        if not isinstance(self.train, TrainConfig):
            raise ValueError(
                f"train must be a TrainConfig or a dict, got {type(self.train).__name__}."
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None) -> MultiModalConfig:
        values = dict(values or {})
        if isinstance(values.get("train"), dict):
            values["train"] = MultiModalTrainConfig(**values["train"])
        return super().from_dict(values)  # type: ignore[return-value]

    def with_train(self, **changes: Any) -> MultiModalConfig:
        """A copy with some training options changed."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))
