"""What a screen asks of a model: the mean profile (and an uncertainty) of many conditions in
one context at once.

:func:`predictor_for` asks a model for its own vectorised predictor (``screen_predictor``:
the compositional model's computes the exact mean over a context's start cells without a
Python loop); :class:`GenericPredictor` serves any model behind the protocol through
``predict_mean``. Conditions reach a model as numbers (component indices and doses), and as a
conditions table only where its protocol wants one, with numeric doses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from ..models import UnsupportedConditionError, accepted_options, predict_rows

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..data import Registry

__all__ = ["GenericPredictor", "ScreenPredictor", "predictor_for"]


class ScreenPredictor(Protocol):
    """Predicts blocks of conditions in one context (set by :meth:`begin`)."""

    #: How predictions are computed ("mean-of-cells", "per-cell" or "generic").
    path: str
    #: Start cells per context (1 when a stored mean basal state is used).
    n_cells: int

    def begin(self, context: dict[str, str], controls: AnnData | None) -> None: ...

    def control(self) -> np.ndarray:
        """``(G,)`` predicted profile of the context without perturbation."""
        ...

    def predict(
        self, components: np.ndarray, doses: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(B, G)`` mean profiles (NaN rows where the model cannot answer) and ``(B,)``
        uncertainty (mean predicted variance over cells and genes) or ``None``."""
        ...


class GenericPredictor:
    """Any model with ``predict_mean(controls, conditions)`` (baselines included)."""

    path = "generic"

    def __init__(self, model: Any, registry: Registry) -> None:
        self.model, self.registry = model, registry
        self.n_cells = 1
        self._context: dict[str, str] = {}
        self._controls: AnnData | None = None
        self._ctrl = np.zeros(registry.n_vars)

    def begin(self, context: dict[str, str], controls: AnnData | None) -> None:
        self._context, self._controls = dict(context), controls
        self.n_cells = 1 if controls is None else controls.n_obs
        if controls is not None:
            self._ctrl = np.asarray(self.registry.matrix(controls).mean(0)).ravel()
        else:
            # a row of pads is the control (the registry's own label, no doses)
            pads = np.full((1, 1), -1)
            ctrl_frame = self.registry.decode_conditions(pads, np.zeros((1, 1)), context=context)
            try:
                self._ctrl = np.asarray(self.model.predict_mean(None, ctrl_frame))[0]
            except (UnsupportedConditionError, ValueError, KeyError) as err:
                raise ValueError(
                    f"{type(self.model).__name__} cannot give the control profile of context "
                    f"{context} without control cells ({err}); pass controls=."
                ) from None

    def control(self) -> np.ndarray:
        return self._ctrl

    def predict(
        self, components: np.ndarray, doses: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        frame = self.registry.decode_conditions(components, doses, context=self._context)
        # the screen has applied the dose rule already (refused, or marked what extrapolates)
        if hasattr(self.model, "predict_uncertainty"):  # an ensemble: epistemic spread
            method = self.model.predict_uncertainty
            pred = method(self._controls, frame, **accepted_options(method, {"extrapolate": True}))
            return np.asarray(pred.mean, dtype=np.float64), pred.variance.mean(1)
        n_genes = self.registry.n_vars
        return predict_rows(
            self.model, self._controls, frame, n_genes=n_genes, extrapolate=True
        ), None


def predictor_for(
    model: Any, *, mode: Literal["auto", "per-cell"] = "auto", time: float | None = None
) -> ScreenPredictor:
    """The fastest exact predictor for ``model``: its own ``screen_predictor`` where it has
    one (the compositional model), else :class:`GenericPredictor`."""
    if hasattr(model, "screen_predictor"):
        return model.screen_predictor(mode=mode, time=time)
    if mode != "auto":
        raise ValueError(f"mode={mode!r} applies to the compositional model only.")
    registry = getattr(model, "registry", None)
    if registry is None:
        raise TypeError(f"{type(model).__name__} has no registry; fit it first.")
    return GenericPredictor(model, registry)
