"""How a model is trained: the one training config every phenocast model uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainConfig", "check_choice", "check_int", "check_number"]


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """Refuse ``value`` of option ``name`` unless it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_number(name: str, value: Any, *, allow_zero: bool) -> None:
    """Refuse ``value`` of option ``name`` unless it is a number > 0 (>= 0 with
    ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if not (value >= 0 if allow_zero else value > 0):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}.")


def check_choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    """Refuse ``value`` of option ``name`` unless it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How a model is trained: one class for every model, the home of the training defaults.

    A model's config holds one in its ``train`` field; a model whose training wants other
    defaults declares them (e.g. the multimodal model's ``MULTIMODAL_TRAIN``) and a partial
    ``train`` dict is filled from them.

    Attributes
    ----------
    max_epochs, patience
        Stop after ``max_epochs`` or when the validation loss has not improved for
        ``patience`` epochs (early stopping); the best weights are restored.
    batch_size, lr, weight_decay
        Minibatch size and AdamW settings.
    val_fraction
        Fraction of the rows (cells, or samples of a multimodal model) held out for early
        stopping; 0 trains on everything for ``max_epochs``.
    seed
        Seeds the weights, the validation split, the minibatch order and the model's own
        noise; torch's global random state is left untouched.
    progress
        Show a Rich progress bar.
    checkpoint_dir
        Where Lightning writes the best checkpoint; ``None`` keeps it in memory only.
    accelerator
        Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``).
    """

    max_epochs: int = 200
    patience: int = 20
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.1
    seed: int = 0
    progress: bool = False
    checkpoint_dir: str | None = None
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("max_epochs", "patience", "batch_size"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_number("lr", self.lr, allow_zero=False)
        check_number("weight_decay", self.weight_decay, allow_zero=True)
        check_number("val_fraction", self.val_fraction, allow_zero=True)
        if not self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be in [0, 0.9), got {self.val_fraction!r}.")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False, got {self.progress!r}.")

    @classmethod
    def from_dict(
        cls, values: dict[str, Any] | None = None, *, defaults: dict[str, Any] | None = None
    ) -> TrainConfig:
        """Build from a dict, filling absent options from ``defaults`` (then the class's own);
        unknown options are refused by name."""
        values = {**(defaults or {}), **(values or {})}
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for TrainConfig; valid options: {sorted(fields)}."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
