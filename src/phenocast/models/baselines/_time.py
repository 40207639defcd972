"""Baselines across time points: the same condition at the nearest measured time, the mean Δ
of the predicted covariates (e.g. a cell line) over every condition and time, and the same
condition's Δ at the same time in other covariates.

A context is a row's covariate values followed by its time (when a time is registered); these
baselines split it into those two parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._base import UnsupportedConditionError, register_model
from ._profile import _ProfileModel

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Condition

__all__ = ["CovariateMean", "NearestTime", "TransferSameTime"]


class _TimeSplit(_ProfileModel):
    """Training Δs indexed by condition, covariates and time."""

    def _split(self, ctx: tuple) -> tuple[tuple, float | None]:
        """(covariate values, time) of a context; time ``None`` when none is registered."""
        if self.registry.time_key is None:
            return ctx, None
        return ctx[:-1], float(ctx[-1])

    def _fit(self) -> None:
        # condition → covariates → time → Δ
        table: dict[str, dict[tuple, dict[float | None, np.ndarray]]] = {}
        for i, row in self._groups.iterrows():
            covs, t = self._split(row["context"])
            table.setdefault(row["condition"], {}).setdefault(covs, {})[t] = self._deltas[i]
        self._table = table


@register_model("nearest-time")
class NearestTime(_TimeSplit):
    """Control + the same condition's Δ in the same covariates at the nearest measured time.

    Nearest is by absolute difference in the registered time unit; on a tie the earlier time
    is used. With the time itself measured in training, that time is the nearest.
    """

    def _fit(self) -> None:
        if self.registry.time_key is None:
            raise UnsupportedConditionError("nearest-time: the registry has no time column.")
        super()._fit()

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        covs, t = self._split(ctx)
        by_time = self._table.get(cond.key, {}).get(covs)
        if not by_time:
            raise UnsupportedConditionError(
                f"nearest-time: condition {cond.key!r} was never measured in {covs} in training."
            )
        times = sorted(x for x in by_time if x is not None)
        assert t is not None
        best = min(times, key=lambda x: (abs(x - t), x))
        return by_time[best]


@register_model("covariate-mean")
class CovariateMean(_TimeSplit):
    """Control + the mean Δ of every training (condition, time) with the predicted covariate
    values (e.g. a cell line's mean signature over the other drugs and times), each weighted
    equally."""

    def _fit(self) -> None:
        by_covs: dict[tuple, list[np.ndarray]] = {}
        for i, ctx in enumerate(self._groups["context"]):
            by_covs.setdefault(self._split(ctx)[0], []).append(self._deltas[i])
        self._means = {c: np.mean(v, axis=0) for c, v in by_covs.items()}

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        covs, _ = self._split(ctx)
        if covs not in self._means:
            raise UnsupportedConditionError(
                f"covariate-mean: no perturbed training data in {covs}."
            )
        return self._means[covs]


@register_model("transfer-same-time")
class TransferSameTime(_TimeSplit):
    """Control + the same condition's Δ at the same time: the predicted covariates' own when
    measured, else averaged over the other covariate values (each weighted equally), e.g. a
    drug's mean signature across the other cell lines at that dose and time."""

    def _delta(self, cond: Condition, ctx: tuple) -> np.ndarray:
        covs, t = self._split(ctx)
        by_covs = self._table.get(cond.key, {})
        if t in by_covs.get(covs, {}):
            return by_covs[covs][t]
        same_time = [by_time[t] for by_time in by_covs.values() if t in by_time]
        if not same_time:
            raise UnsupportedConditionError(
                f"transfer-same-time: condition {cond.key!r} was never measured at time {t} "
                "in training."
            )
        return np.mean(same_time, axis=0)
