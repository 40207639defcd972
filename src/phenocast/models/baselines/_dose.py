"""Additive baselines: each component's single Δ at the same dose, the nearest measured dose, or
interpolated in log dose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from .._base import Config as BaseConfig
from .._base import register_model
from ._profile import _ProfileModel

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Condition

__all__ = ["Additive", "DoseInterpolation", "NearestDose", "NearestDoseConfig"]


@register_model("additive")
class Additive(_ProfileModel):
    """Control + Σ over components of the component's single Δ at the same dose."""

    how: Literal["exact", "nearest", "interp"] = "exact"

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        tie: Literal["lower", "upper"] = getattr(self.config, "tie", "lower")
        return np.sum(
            [
                self._single(c, d, ctx, how=self.how, tie=tie)
                for c, d in zip(cond.components, cond.doses, strict=True)
            ],
            axis=0,
        )


@dataclass(frozen=True, kw_only=True)
class NearestDoseConfig(BaseConfig):
    """``tie``: on a tie between two nearest doses (equal log distance within 10 %), use the
    ``"lower"`` or the ``"upper"`` one."""

    tie: Literal["lower", "upper"] = "lower"

    def __post_init__(self) -> None:
        if self.tie not in ("lower", "upper"):
            raise ValueError(f"tie must be 'lower' or 'upper', not {self.tie!r}.")


@register_model("nearest-dose")
class NearestDose(Additive):
    """Each component's Δ at its closest measured dose (log scale)."""

    config_class = NearestDoseConfig
    how = "nearest"
    #: The benchmark reports both readings of a tie.
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "lower": {"tie": "lower"},
        "upper": {"tie": "upper"},
    }


@register_model("dose-interp")
class DoseInterpolation(Additive):
    """Each component's Δ interpolated linearly in log dose between neighbouring doses."""

    how = "interp"
