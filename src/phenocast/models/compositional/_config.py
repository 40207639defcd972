"""Configuration of the compositional model: the only home of its defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ...train import TrainConfig, check_number
from .._base import Config

__all__ = ["ANCHOR_BASELINES", "CompositionalConfig", "TrainConfig"]

#: The baselines :meth:`CompositionalConfig.recommended` anchors to, in order (the first wins
#: ties); the fit picks one, and the blend, on validation groups of the training data.
ANCHOR_BASELINES: tuple[str, ...] = (
    "mean-shift",
    "transfer",
    "additive",
    "dose-interp",
    "nearest-dose",
    "entity-ridge",
    "linear",
)


@dataclass(frozen=True, kw_only=True)
class CompositionalConfig(Config):
    """Architecture and loss of the compositional model.

    Attributes
    ----------
    latent_dim, hidden, dropout
        Size of the basal latent, hidden layer widths of encoder / decoder, dropout.
    likelihood
        ``"gaussian"`` (log-normalised or continuous values), ``"nb"`` (counts), or ``"auto"``
        (from the registry's ``x_kind``).
    decoder, context_interaction
        ``"joint"`` decodes basal + perturbation latents through one network (as CPA does);
        ``"additive"`` decodes the context, adds a linear read-out of the perturbation shift and,
        with ``context_interaction``, a learned context-dependent correction that is zero for
        unperturbed cells. The additive read-out makes the mean shift the default answer, so the
        model starts from the baselines' answer instead of having to rediscover it.
    basal
        ``"control"``: a perturbed cell's basal latent is encoded from a control cell of the
        same context, drawn at random each minibatch (its own basal state is never observed);
        ``"own"``: from the cell itself, relying on the adversaries (as CPA does). Contexts
        without control cells always use ``"own"``.
    variance
        Gaussian likelihood only: one learned variance per gene (``"gene"``, robust on small
        data) or a decoded variance per cell and gene (``"cell"``).
    dose_response
        How a dose scales a perturbation's embedding: ``"sigmoid"`` in log10 dose with a
        learned slope (kept positive, so the response is monotone) and midpoint per
        perturbation; ``"linear"`` in dose; ``"none"`` (every dose acts fully).
    interaction
        Add a learned term for each pair of components in a combination, so A+B need not
        equal A plus B.
    variational, kl_weight
        Encode a Gaussian posterior and add ``kl_weight`` × KL to the loss.
    adversary, adversary_weight, adversary_warmup
        Train classifiers to recover perturbations and covariates from the basal latent and
        penalise the encoder by ``adversary_weight`` × their loss after ``adversary_warmup``
        epochs. Needed with ``basal="own"``; off by default because ``basal="control"`` keeps
        the perturbation out of the basal latent by construction.
    features, feature_options
        Name of a featuriser (:data:`phenocast.featurize.FEATURISERS`, e.g. ``"go_svd"``,
        ``"spectral"``, ``"morgan"``) and its JSON-able options (``{"dim": 64}``): a component's
        embedding becomes a learned projection of its unit-normalised feature vector, so
        perturbations absent from training but covered by the prior can be predicted. A
        featuriser object can instead be passed to the model (``featuriser=``). ``None``: one
        free embedding per component (seen components only).
    feature_hidden, feature_residual
        Width of a hidden layer in the feature projection (0: linear); with
        ``feature_residual``, each trained component also learns a free correction (started at
        zero; unseen components have none), and components the prior does not cover are still
        trainable through it.
    anchor, anchor_fraction, anchor_alphas
        Name of a baseline model (e.g. ``"additive"``), or several candidates: predictions
        become ``baseline + α (model − baseline)`` with the baseline and α (from
        ``anchor_alphas``) chosen on ``anchor_fraction`` of the perturbed (condition, context)
        groups held out of a first fit; the model is then refitted on everything. The two
        fits do not depend on each other: on a multi-core Linux machine, with ``num_threads``
        left to phenocast, one CPU device, no checkpoint and data of at most
        :data:`~phenocast.train.READ_IN_BYTES` in memory, the first runs in a forked child
        process beside the second, each on one thread (``anchor_.side_by_side``); the result
        is the same as ``num_threads=1``, which runs them one after the other. ``None``:
        the model alone (the default; :meth:`recommended` gives the benchmarks' anchored
        configuration). Held-out groups must be answerable from the rest (a combination,
        dose or context of perturbations that other groups also carry); where there is none
        (e.g. singles only, in one context at one dose) or no baseline can answer any, α
        cannot be chosen: this is decided before training, the fit warns with the reason and
        the model is the first baseline (α = 0) without training a network. Holding out a
        single instead is no fallback: it asks for a perturbation never trained on, which the
        baselines cannot predict, so it cannot score α.
    train
        The :class:`TrainConfig`.
    """

    latent_dim: int = 32
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.0
    likelihood: Literal["auto", "gaussian", "nb"] = "auto"
    decoder: Literal["additive", "joint"] = "additive"
    basal: Literal["control", "own"] = "control"
    variance: Literal["gene", "cell"] = "gene"
    context_interaction: bool = True
    interaction_hidden: int = 64
    dose_response: Literal["sigmoid", "linear", "none"] = "sigmoid"
    interaction: bool = False
    variational: bool = False
    kl_weight: float = 1e-3
    adversary: bool = False
    adversary_weight: float = 0.5
    adversary_warmup: int = 5
    adversary_hidden: int = 64
    features: str | None = None
    feature_options: dict[str, Any] = field(default_factory=dict)
    feature_hidden: int = 0
    feature_residual: bool = True
    anchor: str | tuple[str, ...] | None = None
    anchor_fraction: float = 0.2
    anchor_alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim!r}.")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(
                f"hidden must be a non-empty tuple of widths >= 1, got {self.hidden!r}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        for name, options in (
            ("likelihood", ("auto", "gaussian", "nb")),
            ("dose_response", ("sigmoid", "linear", "none")),
            ("decoder", ("additive", "joint")),
            ("basal", ("control", "own")),
            ("variance", ("gene", "cell")),
        ):
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {options}, got {getattr(self, name)!r}.")
        check_number("kl_weight", self.kl_weight, allow_zero=True)
        check_number("adversary_weight", self.adversary_weight, allow_zero=True)
        if self.adversary_warmup < 0:
            raise ValueError(f"adversary_warmup must be >= 0, got {self.adversary_warmup!r}.")
        if isinstance(self.train, dict):  # from JSON
            object.__setattr__(self, "train", TrainConfig.from_dict(self.train))
        if not 0.0 < self.anchor_fraction < 1.0:
            raise ValueError(f"anchor_fraction must be in (0, 1), got {self.anchor_fraction!r}.")
        if isinstance(self.anchor_alphas, list):
            object.__setattr__(self, "anchor_alphas", tuple(self.anchor_alphas))
        if not self.anchor_alphas or any(not 0.0 <= a <= 1.0 for a in self.anchor_alphas):
            raise ValueError(f"anchor_alphas must be values in [0, 1], got {self.anchor_alphas!r}.")
        if isinstance(self.anchor, list):
            object.__setattr__(self, "anchor", tuple(self.anchor))
        if self.anchor is not None:
            from .._base import model_names

            names = (self.anchor,) if isinstance(self.anchor, str) else self.anchor
            valid = [n for n in model_names(inputs="anndata") if n != "compositional"]
            if not names:
                raise ValueError(f"anchor must name at least one baseline, one of {valid}.")
            for name in names:
                if name not in valid:
                    raise ValueError(
                        f"anchor must name baselines, each one of {valid}; got {name!r}."
                    )
        if self.feature_hidden < 0:
            raise ValueError(f"feature_hidden must be >= 0, got {self.feature_hidden!r}.")
        from ...featurize import check_feature_options

        check_feature_options(self.features, self.feature_options)
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))

    @property
    def anchor_candidates(self) -> tuple[str, ...]:
        """The candidate baselines of ``anchor`` as a tuple (empty when ``None``)."""
        if self.anchor is None:
            return ()
        return (self.anchor,) if isinstance(self.anchor, str) else tuple(self.anchor)

    @classmethod
    def recommended(
        cls, *, baseline: str | Sequence[str] | None = None, **changes: Any
    ) -> CompositionalConfig:
        """The configuration the benchmarks recommend: the model anchored to the baselines
        (``compositional[anchored]`` in the benchmark tables).

        Parameters
        ----------
        baseline
            The baseline tried first, which wins ties (the benchmark tasks put their own
            reference baseline first, e.g. ``"additive"`` for combinations), or several in
            order; default ``ANCHOR_BASELINES[0]``. The others of :data:`ANCHOR_BASELINES`
            follow.
        **changes
            Other options, as in :meth:`from_dict` (``train`` as a dict of changes).

        Notes
        -----
        Anchoring fits the network twice (once without the validation groups, then on
        everything), so it takes about twice as long as ``CompositionalConfig()``. Where no
        group can be held out (e.g. singles only) the fit warns and returns the first baseline.

        Examples
        --------
        >>> CompositionalConfig.recommended(baseline="additive").anchor[:2]
        ('additive', 'mean-shift')
        """
        if baseline is None:
            first: tuple[str, ...] = ANCHOR_BASELINES[:1]
        else:
            first = (baseline,) if isinstance(baseline, str) else tuple(baseline)
        anchor = (*first, *(b for b in ANCHOR_BASELINES if b not in first))
        return cls.from_dict({**changes, "anchor": anchor})

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None) -> CompositionalConfig:
        values = dict(values or {})
        train = values.get("train")
        if isinstance(train, dict):
            values["train"] = TrainConfig.from_dict(train)
        return super().from_dict(values)  # type: ignore[return-value]

    def with_train(self, **changes: Any) -> CompositionalConfig:
        """A copy with some training options changed."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))
