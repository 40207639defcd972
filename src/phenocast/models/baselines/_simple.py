"""Baselines without dose logic: no-change, mean-shift and transfer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._base import Config as BaseConfig
from .._base import UnsupportedConditionError, register_model
from ._profile import _ProfileModel

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Condition

__all__ = ["MeanShift", "MeanShiftConfig", "NoChange", "Transfer"]


@register_model("no-change")
class NoChange(_ProfileModel):
    """Predict the control profile: the floor every model must clear."""

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        return np.zeros(self.registry.n_vars)


@dataclass(frozen=True, kw_only=True)
class MeanShiftConfig(BaseConfig):
    """``pool``: average the Δ of every training (condition, context) (``"all"``), or only
    those of the predicted context when it has any (``"context"``; e.g. the mean knockdown
    effect in the same cell line), else of all."""

    pool: Literal["all", "context"] = "all"

    def __post_init__(self) -> None:
        if self.pool not in ("all", "context"):
            raise ValueError(f"pool must be 'all' or 'context', got {self.pool!r}.")


@register_model("mean-shift")
class MeanShift(_ProfileModel):
    """Control + the average training Δ, each (condition, context) weighted equally.

    With one perturbation (Kang: IFN-β) this is the mean Δ over the other cell types. With
    ``pool="context"`` the average is over the predicted context's training conditions.
    """

    config_class = MeanShiftConfig

    def _fit(self) -> None:
        if not len(self._deltas):
            raise UnsupportedConditionError("mean-shift: no perturbed cells in training.")
        self._mean = self._deltas.mean(axis=0)
        self._by_context = self._context_means() if self.config.pool == "context" else {}

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        return self._by_context.get(ctx, self._mean)


@register_model("transfer")
class Transfer(_ProfileModel):
    """Control + the same condition's Δ from the contexts where it was measured.

    The query's own context is used when it measured the condition; otherwise the Δs of the
    other contexts are averaged with equal weight (e.g. a knockdown moved to a new cell line).
    """

    def _fit(self) -> None:
        table: dict[str, dict[tuple, np.ndarray]] = {}
        for i, row in self._groups.iterrows():
            table.setdefault(row["condition"], {})[row["context"]] = self._deltas[i]
        self._table = table

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        by_ctx = self._table.get(cond.key)
        if not by_ctx:
            raise UnsupportedConditionError(
                f"transfer: condition {cond.key!r} was never measured in training."
            )
        if ctx in by_ctx:
            return by_ctx[ctx]
        return np.mean(list(by_ctx.values()), axis=0)
