"""The compositional model's screen predictor: many conditions in one context at once.

The exact mean over a context's start cells needs no Python loop over cells or conditions:
the additive decoder's read-out is linear, and the context-interaction network ends in a
linear layer, so the mean over cells of its output is the last layer applied to the mean of
its hidden activations. Any other decoder (joint, negative binomial, per-cell variance) is
decoded cell × condition in large tensor blocks. :meth:`Compositional.screen_predictor`
returns it; :mod:`phenocast.screen` drives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...data import dense_rows
from .._base import predict_rows
from ._checks import at_least_zero
from ._zero import corrects_drift, drift_multipliers

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["CompositionalPredictor"]


class CompositionalPredictor:
    """Vectorised screening of a fitted :class:`~phenocast.models.Compositional`.

    Parameters
    ----------
    model
        The fitted model.
    mode
        ``"auto"``: the exact mean-of-cells computation where the decoder allows it, else
        per-cell decoding; ``"per-cell"``: always decode every cell × condition (the
        reference the fast path is tested against).
    block
        Upper bound on the cell × condition × width elements held at once.
    """

    def __init__(
        self,
        model: Any,
        *,
        mode: Literal["auto", "per-cell"] = "auto",
        time: float | None = None,
        block: int = 1 << 23,
    ) -> None:
        import torch

        self.model, self.registry = model, model.registry
        self.module = model._require_fitted()
        cfg = self.module.config
        fast_ok = (
            cfg.decoder == "additive"
            and self.module.likelihood == "gaussian"
            and not self.module._var_head
        )
        self.path = "mean-of-cells" if (mode == "auto" and fast_ok) else "per-cell"
        self.block = int(block)
        self.time = None if time is None else torch.tensor(float(time))
        self.n_cells = 1
        anchor = model.anchor_
        self.alpha = 1.0 if anchor is None else float(anchor.alpha)

    # ------------------------------------------------------------------ context
    def begin(self, context: dict[str, str], controls: AnnData | None) -> None:
        import torch

        reg, module = self.registry, self.module
        codes = [reg.covariate_categories[k].index(context[k]) for k in reg.covariate_keys]
        self._context, self._controls = dict(context), controls
        with torch.no_grad():
            if controls is None:
                z = self.model._basal["contexts"].get(tuple(codes), self.model._basal["all"])
                z = z[None, :].float()
                library = None
            else:
                cells = self.model._batch(
                    dense_rows(reg.matrix(controls)), controls.obs, allow_unseen=True
                )
                z = self.model._encode(cells)
                library = cells.library
            n = z.shape[0]
            cov = torch.tensor(codes, dtype=torch.long)[None, :].expand(n, -1)
            h = z + module.covariate_effect(cov) if len(module.covariate_embeddings) else z
        self.n_cells = n
        self._h, self._library = h, library
        if self.path == "mean-of-cells":
            self._prepare_fast()
        self._ctrl = self._decode_zero()
        self._bias = None
        if controls is not None:
            observed = np.asarray(reg.matrix(controls).mean(0)).ravel()
            if not corrects_drift(self.model):
                self._ctrl = self.alpha * self._ctrl + (1.0 - self.alpha) * observed
            else:  # no components: the start cells' own mean; the drift as counterfactuals
                self._bias, self._ctrl = self._ctrl - observed, observed
        self._ctrl = at_least_zero(reg, self._ctrl)  # as predict_mean answers

    def _prepare_fast(self) -> None:
        import torch

        module, h = self.module, self._h
        d = h.shape[1]
        with torch.no_grad():
            a, _ = module._split(module.decoder(h))
            self._a_mean = a.mean(0)
            self._ci = None
            if module.config.context_interaction:
                layers = list(module.context_interaction)
                first, last = layers[0], layers[-1]
                if not isinstance(first, torch.nn.Linear) or not isinstance(last, torch.nn.Linear):
                    raise TypeError("context_interaction must start and end with nn.Linear.")
                w_h, w_e = first.weight[:, :d], first.weight[:, d:]
                cell_part = h @ w_h.T + first.bias  # (n, H)
                middle = torch.nn.Sequential(*layers[1:-1])
                g0 = last(middle(cell_part).mean(0))
                self._ci = (cell_part, w_e, middle, last, g0)
            self._var = (torch.nn.functional.softplus(module.log_var_gene) + 1e-4).mean()

    # ------------------------------------------------------------------ predictions
    def control(self) -> np.ndarray:
        return self._ctrl

    def _decode_zero(self) -> np.ndarray:
        import torch

        with torch.no_grad():
            if self.path == "mean-of-cells":
                return self._a_mean.double().numpy()  # g(h, 0) − g(h, 0) = 0, W·0 = 0
            e = torch.zeros_like(self._h)
            mean, _ = self.module.decode(self._h, e, self._library)
            return mean.mean(0).double().numpy()

    def predict(
        self, components: np.ndarray, doses: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        comps = torch.from_numpy(np.ascontiguousarray(components, dtype=np.int64))
        dose = torch.from_numpy(np.ascontiguousarray(doses, dtype=np.float32))
        time = None if self.time is None else self.time.expand(comps.shape[0])
        with torch.no_grad():
            e = self.module.perturbation_effect(comps, dose, time)
            if self.path == "mean-of-cells":
                mean, unc = self._predict_fast(e)
            else:
                mean, unc = self._predict_per_cell(e)
        out = mean.double().numpy()
        if self._bias is not None:  # as predict_mean (counterfactuals) adds it
            out += drift_multipliers(self.model, components)[:, None] * self._bias
        if self.alpha < 1.0:
            frame = self.registry.decode_conditions(components, doses, context=self._context)
            base = predict_rows(
                self.model._anchor_model, self._controls, frame, n_genes=self.registry.n_vars
            )
            ok = ~np.isnan(base).any(1)
            out[ok] += (1.0 - self.alpha) * (base[ok] - out[ok])
        return at_least_zero(self.registry, out), unc.double().numpy()

    def _predict_fast(self, e: Any) -> tuple[Any, Any]:
        import torch

        module = self.module
        mean = self._a_mean[None, :] + module.effect_readout(e)
        if self._ci is not None:
            cell_part, w_e, middle, last, g0 = self._ci
            cond_part = e @ w_e.T  # (B, H)
            n, width = cell_part.shape
            step = max(1, self.block // max(1, n * width))
            hidden = [
                middle(cell_part[None, :, :] + cond_part[i : i + step, None, :]).mean(1)
                for i in range(0, e.shape[0], step)
            ]
            mean = mean + last(torch.cat(hidden)) - g0
        unc = self._var.expand(e.shape[0])
        return mean, unc

    def _predict_per_cell(self, e: Any) -> tuple[Any, Any]:
        import torch

        h, n = self._h, self._h.shape[0]
        genes = self.registry.n_vars
        step = max(1, self.block // max(1, n * genes))
        means, uncs = [], []
        for i in range(0, e.shape[0], step):
            ee = e[i : i + step]
            b = ee.shape[0]
            hh = h.repeat(b, 1)
            lib = None if self._library is None else self._library.repeat(b)
            mean, var = self.module.decode(hh, ee.repeat_interleave(n, 0), lib)
            means.append(mean.reshape(b, n, genes).mean(1))
            uncs.append(var.reshape(b, n, genes).mean((1, 2)))
        return torch.cat(means), torch.cat(uncs)
