"""Monte Carlo dropout: the epistemic uncertainty of one dropout-trained model, from the spread
of its predictions under sampled dropout masks (Gal & Ghahramani 2016)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import accepted_options
from ._ensemble import Prediction, cell_averages

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    from anndata import AnnData

__all__ = ["MCDropout"]


def _dropout_layers(module: Any) -> list[Any]:
    from torch import nn

    return [m for m in module.modules() if isinstance(m, nn.Dropout) and m.p > 0]


@contextmanager
def _sampled_subnetwork(layers: list[Any], generator: torch.Generator) -> Iterator[None]:
    """Within the block, every dropout layer applies one fixed mask (drawn from ``generator``
    on its first call) to every row of every batch.

    Sharing the mask across cells makes each pass one thinned network, as MC dropout intends;
    independent per-cell masks (``module.train()``) would average out over the cells of a
    condition and shrink the spread of its mean towards zero. The modules stay in eval mode.
    """
    import torch

    masks: dict[int, torch.Tensor] = {}

    def hook(layer: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        mask = masks.get(id(layer))
        if mask is None or mask.shape != x.shape[-1:]:
            keep = torch.full(x.shape[-1:], 1.0 - layer.p, dtype=torch.float32)
            mask = torch.bernoulli(keep, generator=generator) / (1.0 - layer.p)
            masks[id(layer)] = mask
        return x * mask.to(dtype=x.dtype, device=x.device)

    handles = [layer.register_forward_hook(hook) for layer in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class MCDropout:
    """Predictions of a fitted, dropout-trained model under ``n_samples`` sampled dropout masks.

    The spread of the condition means across masks is the epistemic variance; the model's
    decoded per-cell variance (averaged over start cells and masks) is the aleatoric part, as in
    :class:`~phenocast.models.Ensemble`. One sample is one thinned network: each dropout layer
    draws one mask per sample, shared by all cells and conditions.

    Parameters
    ----------
    model
        A fitted model with a torch ``module`` containing dropout layers (e.g.
        :class:`~phenocast.models.Compositional` with ``CompositionalConfig(dropout=0.1)``)
        and ``predict(controls, conditions)`` returning per-cell ``mean`` / ``variance``
        layers and ``obs["condition_index"]``.

    Examples
    --------
    >>> cfg = CompositionalConfig(dropout=0.1)                          # doctest: +SKIP
    >>> mc = MCDropout(Compositional(reg, cfg).fit(adata))              # doctest: +SKIP
    >>> pred = mc.predict_uncertainty(controls, conditions, n_samples=30, seed=0)  # doctest: +SKIP
    """

    def __init__(self, model: Any) -> None:
        module = getattr(model, "module", None)
        if module is None:
            raise ValueError(
                f"MCDropout needs a fitted model with a torch module; {model!r} has none "
                "(fit it first)."
            )
        if not _dropout_layers(module):
            p = getattr(getattr(model, "config", None), "dropout", None)
            raise ValueError(
                f"MCDropout needs a model trained with dropout > 0, but {model!r} has no active "
                f"dropout layer (config dropout={p!r}); refit with e.g. "
                "CompositionalConfig(dropout=0.1)."
            )
        self.model = model

    @property
    def registry(self) -> Any:
        return self.model.registry

    @property
    def trained_doses_(self) -> dict[str, tuple[float, ...]]:
        """The doses the wrapped model was fitted on."""
        return self.model.trained_doses_

    def predict_mean(
        self,
        controls: AnnData | None,
        conditions: pd.DataFrame,
        *,
        cross_context: bool = False,
        extrapolate: bool = False,
    ) -> np.ndarray:
        """The deterministic (eval-mode, no dropout) prediction of the wrapped model
        (``cross_context`` and ``extrapolate`` as in its ``predict_mean``)."""
        method = self.model.predict_mean
        options = {"cross_context": cross_context, "extrapolate": extrapolate}
        return np.asarray(method(controls, conditions, **accepted_options(method, options)))

    def predict_uncertainty(
        self,
        controls: AnnData | None,
        conditions: pd.DataFrame,
        *,
        n_samples: int = 30,
        seed: int = 0,
    ) -> Prediction:
        """Mean, epistemic and aleatoric variance of each condition's mean profile.

        Parameters
        ----------
        controls
            Start cells; ``None`` starts from the model's mean basal state per context (the
            aleatoric part is then zero, as for :class:`~phenocast.models.Ensemble`).
        conditions
            One row per condition, as for ``predict_mean``.
        n_samples
            Dropout masks to sample (≥ 2).
        seed
            Seeds the masks (a private ``torch.Generator``; the global RNG is untouched).

        Returns
        -------
        Prediction
            ``mean``: average over masks; ``epistemic``: variance over masks (``ddof=1``);
            ``aleatoric``: decoded per-cell variance, averaged. Arrays are
            ``(n_conditions, n_genes)``.
        """
        import torch

        if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
            raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
        if n_samples < 2:
            raise ValueError(f"n_samples must be >= 2 to estimate a variance, got {n_samples}.")
        module = self.model.module
        module.eval()
        layers = _dropout_layers(module)
        generator = torch.Generator().manual_seed(int(seed))
        means, noise = [], []
        try:
            for _ in range(n_samples):
                with _sampled_subnetwork(layers, generator):
                    mean, var = self._one_pass(controls, conditions)
                means.append(mean)
                noise.append(var)
        finally:
            module.eval()  # hooks are gone; the model predicts deterministically again
        stacked = np.stack(means)
        return Prediction(stacked.mean(0), stacked.var(0, ddof=1), np.mean(noise, 0))

    def _one_pass(
        self, controls: AnnData | None, conditions: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray]:
        """Condition means and mean decoded variance of one pass."""
        if controls is None or not hasattr(self.model, "predict"):
            mean = np.asarray(self.model.predict_mean(controls, conditions))
            return mean, np.zeros_like(mean)
        return cell_averages(self.model, controls, conditions)
