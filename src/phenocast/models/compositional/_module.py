"""The compositional autoencoder as a pure ``torch.nn.Module``: tensors in, tensors out.

``x → encoder → z_basal``; ``z = z_basal + Σ_c s_c(dose_c) e_c + s_t(time) e_time +
Σ_k cov_k + Σ_{pairs} interaction``; ``z → decoder → (mean, variance)``. Adversarial
classifiers try to read perturbations and covariates from ``z_basal``; the encoder is penalised
when they can.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .._blocks import LossOutput, dose_scale, initial_dose_slope, mlp
from ._config import CompositionalConfig

__all__ = ["Batch", "CompositionalModule", "LossOutput"]

_EPS = 1e-6
#: Counts below this are summed by histogram in the negative binomial likelihood.
_COUNT_TABLE = 32


@dataclass
class Batch:
    """One minibatch of encoded cells (all tensors share the first dimension)."""

    x: torch.Tensor  # (B, G) values as registered
    components: torch.Tensor  # (B, K) long, -1 pads
    doses: torch.Tensor  # (B, K) float
    covariates: torch.Tensor  # (B, C) long
    time: torch.Tensor | None = None  # (B,) float
    library: torch.Tensor | None = None  # (B,) total counts (NB only)
    # (B, G) the cell whose basal state is encoded: a random control of the same context
    # for a perturbed cell (basal="control"), else the cell itself
    basal_x: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def rows(self, start: int, stop: int) -> Batch:
        """Rows ``start:stop`` of every tensor."""
        return Batch(**{k: (None if v is None else v[start:stop]) for k, v in vars(self).items()})

    def take(self, index: torch.Tensor) -> Batch:
        """The rows ``index`` of every tensor."""
        return Batch(**{k: (None if v is None else v[index]) for k, v in vars(self).items()})

    def to(self, device: torch.device | str) -> Batch:
        move = {
            k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()
        }
        return Batch(**move)


def _mlp(sizes: list[int], *, dropout: float) -> nn.Sequential:
    return mlp(sizes, dropout=dropout, layer_norm=True)


def _nb_log_likelihood(x: torch.Tensor, mean: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Sum over cells and genes of the negative binomial log-likelihood of counts ``x``
    (``(B, G)``) given ``mean`` (``(B, G)``) and the genes' inverse dispersion ``theta``
    (``(G,)``)."""
    # θ (log θ − log(θ + μ)) + x (log μ − log(θ + μ)) summed over cells and genes, as
    # Σ θ log θ − Σ (θ + x) log(θ + μ) + Σ x log μ: dot products need no temporary the size
    # of the minibatch, whose allocation (fresh pages each step) costs as much as the logs
    log_theta_mean = torch.log(mean + (theta + _EPS)).reshape(-1)
    per_gene = torch.dot(theta, torch.log(theta + _EPS)) * x.shape[0]
    with_mean = torch.dot((x + theta).reshape(-1), log_theta_mean)
    with_counts = torch.dot(x.reshape(-1), torch.log(mean + _EPS).reshape(-1))
    return per_gene - with_mean + with_counts + _log_gamma_terms(x, theta)


def _log_gamma_terms(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``Σ lgamma(x + θ) − lgamma(θ) − lgamma(x + 1)`` over cells and genes.

    ``lgamma`` and its gradient (``digamma``) cost more than the rest of a step's likelihood
    and many of its matrix products, so for integer counts the sum is taken over each gene's
    histogram of the values below :data:`_COUNT_TABLE` (a ``(G, _COUNT_TABLE)`` table of
    ``lgamma`` instead of one per value; zeros contribute nothing) plus the few larger values
    one by one. Other values (fractional or negative) take the plain formula.
    """
    n_genes, top = x.shape[1], _COUNT_TABLE
    x = x.detach()  # data: the gradient reaches θ through the table
    # each value's bucket: gene × (top + 1) + min(value, top), as int32 (half the memory
    # traffic of int64, which costs more here than the histogram itself)
    key_f = x.clamp(max=top)
    exact = n_genes * (top + 1) < 2**24  # every bucket exact in float32
    integer = exact and x.numel() > 0 and bool(key_f.min() >= 0)
    if integer:
        key_f.add_(torch.arange(n_genes, device=x.device, dtype=x.dtype) * (top + 1))
        key = key_f.to(torch.int32)
        integer = torch.equal(key.to(x.dtype), key_f)
    if not integer:
        return (torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1)).sum()
    hist = torch.bincount(key.ravel(), minlength=n_genes * (top + 1)).view(n_genes, top + 1)
    values = torch.arange(top, device=x.device, dtype=x.dtype)
    table = (
        torch.lgamma(values + theta[:, None])
        - torch.lgamma(theta)[:, None]
        - torch.lgamma(values + 1)
    )
    total = (hist[:, :top].to(x.dtype) * table).sum()
    rows, cols = torch.nonzero(x >= top, as_tuple=True)
    if rows.numel():
        counts, th = x[rows, cols], theta[cols]
        total = (
            total + (torch.lgamma(counts + th) - torch.lgamma(th) - torch.lgamma(counts + 1)).sum()
        )
    return total


def _gaussian_nll(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood without its constant (as
    ``F.gaussian_nll_loss(mean, x, var)``); a variance broadcast over the cells (one per
    gene) enters its logarithm once per gene, not once per value."""
    v = var[:1] if var.dim() == 2 and var.stride(0) == 0 else var
    return 0.5 * (torch.log(v).mean() + ((x - mean).pow(2) / v).mean())


class CompositionalModule(nn.Module):
    """Encoder, perturbation / covariate embeddings with dose-response, decoder, adversaries.

    Parameters
    ----------
    n_genes
        Number of genes (features).
    n_components
        Size of the perturbation vocabulary.
    covariate_sizes
        Number of categories of each covariate.
    config
        Architecture and loss options.
    likelihood
        ``"gaussian"`` or ``"nb"`` (resolved, never ``"auto"``).
    has_time
        Whether a time input is used.
    log_dose_center
        Per component, the mean log10 dose seen in training (initial sigmoid midpoint).
    feature_dim
        Size of the components' prior feature vectors (0: none). With features, a component's
        embedding is a projection of its row of the ``component_features`` buffer (set with
        :meth:`set_component_features`, not saved with the weights) plus, with
        ``config.feature_residual``, a free correction. Rows past ``n_components`` are
        components absent from the registry (unseen): no correction, and the dose-response of
        an average component.
    """

    def __init__(
        self,
        *,
        n_genes: int,
        n_components: int,
        covariate_sizes: list[int],
        config: CompositionalConfig,
        likelihood: str,
        has_time: bool = False,
        log_dose_center: torch.Tensor | None = None,
        feature_dim: int = 0,
    ) -> None:
        super().__init__()
        self.config = config
        self.likelihood = likelihood
        self.n_genes, self.n_components = n_genes, n_components
        d, hidden = config.latent_dim, list(config.hidden)
        out_dim = config.latent_dim * (2 if config.variational else 1)
        self.encoder = _mlp([n_genes, *hidden, out_dim], dropout=config.dropout)
        # a second block of outputs decodes a per-cell variance (Gaussian, variance="cell")
        self._var_head = likelihood == "gaussian" and config.variance == "cell"
        n_out = n_genes * (2 if self._var_head else 1)
        self.decoder = _mlp([d, *reversed(hidden), n_out], dropout=config.dropout)
        if config.decoder == "additive":
            self.effect_readout = nn.Linear(d, n_genes, bias=False)
            self.effect_variance = nn.Linear(d, n_genes, bias=False)
            nn.init.zeros_(self.effect_variance.weight)
            if config.context_interaction:
                self.context_interaction = _mlp(
                    [2 * d, config.interaction_hidden, n_genes], dropout=config.dropout
                )
        self.feature_dim = int(feature_dim)
        self.pert_embedding = nn.Embedding(max(n_components, 1), d)
        if self.feature_dim:
            if config.feature_hidden:
                self.feature_projection: nn.Module = _mlp(
                    [self.feature_dim, config.feature_hidden, d], dropout=config.dropout
                )
            else:
                self.feature_projection = nn.Linear(self.feature_dim, d, bias=False)
            # the prior carries the geometry; free corrections start at zero
            nn.init.zeros_(self.pert_embedding.weight)
            self.register_buffer(
                "component_features",
                torch.zeros(max(n_components, 1), self.feature_dim),
                persistent=False,
            )
        else:
            nn.init.normal_(self.pert_embedding.weight, std=0.1)
        # dose-response: s = sigmoid(softplus(a_c) * (log10 dose − m_c))
        self.dose_slope = initial_dose_slope(max(n_components, 1))
        center = (
            log_dose_center if log_dose_center is not None else torch.zeros(max(n_components, 1))
        )
        self.dose_mid = nn.Parameter(center.clone().float())
        self.covariate_embeddings = nn.ModuleList(nn.Embedding(n, d) for n in covariate_sizes)
        for emb in self.covariate_embeddings:
            nn.init.normal_(emb.weight, std=0.1)  # type: ignore[arg-type]
        self.has_time = has_time
        if has_time:
            self.time_embedding = nn.Parameter(torch.zeros(d))
            self.time_slope = nn.Parameter(torch.zeros(()))
            self.time_mid = nn.Parameter(torch.zeros(()))
        if config.interaction:
            self.interaction = _mlp([d, config.adversary_hidden, d], dropout=0.0)
        self.log_var_gene = nn.Parameter(torch.zeros(n_genes))
        if likelihood == "nb":
            self.log_theta = nn.Parameter(torch.zeros(n_genes))
        if config.adversary:
            self.adv_perturbation = _mlp(
                [d, config.adversary_hidden, max(n_components, 1)], dropout=0.0
            )
            self.adv_covariates = nn.ModuleList(
                _mlp([d, config.adversary_hidden, n], dropout=0.0) for n in covariate_sizes
            )

    # ------------------------------------------------------------------ contract
    def encoder_input(self, batch: Batch) -> torch.Tensor:
        x = batch.basal_x if batch.basal_x is not None else batch.x
        if self.likelihood == "nb":
            # counts per 10,000, logged: one pass over the values for the scaling
            return torch.log1p(x * (1e4 / x.sum(1).clamp(min=1.0))[:, None])
        return x

    def encode(self, batch: Batch, *, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Basal latent (and its KL term, 0 unless variational)."""
        h = self.encoder(self.encoder_input(batch))
        if not self.config.variational:
            return h, h.new_zeros(())
        mu, logvar = h.chunk(2, dim=-1)
        logvar = logvar.clamp(-10, 10)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        return z, kl

    def set_component_features(self, features: torch.Tensor) -> None:
        """Give the ``(n, feature_dim)`` feature rows of the component vocabulary: the registry's
        components first, then any unseen ones a prediction needs."""
        if not self.feature_dim:
            raise RuntimeError("This module was built without perturbation features.")
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"component features must be (n, {self.feature_dim}), got {tuple(features.shape)}."
            )
        if features.shape[0] < max(self.n_components, 1):
            raise ValueError(
                f"component features need at least {self.n_components} rows (the registry's "
                f"components), got {features.shape[0]}."
            )
        device = self.pert_embedding.weight.device
        self.component_features = features.to(device=device, dtype=torch.float32)

    def _per_component(self, values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``values[idx]``, with the mean over known components for unseen indices."""
        n = values.shape[0]
        picked = values[idx.clamp(max=n - 1)]
        if self.feature_dim and bool((idx >= n).any()):
            return torch.where(idx < n, picked, values.mean())
        return picked

    def component_embedding(self, idx: torch.Tensor) -> torch.Tensor:
        """Embedding of component indices ``idx >= 0`` (any shape → shape + ``(d,)``)."""
        if not self.feature_dim:
            return self.pert_embedding(idx)
        emb = self.feature_projection(self.component_features[idx])
        if self.config.feature_residual:
            n = self.pert_embedding.num_embeddings
            seen = (idx < n).float()[..., None]
            emb = emb + self.pert_embedding(idx.clamp(max=n - 1)) * seen
        return emb

    def dose_scale(self, components: torch.Tensor, doses: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` scale of each component's embedding at its dose (0 where padded)."""
        mask = (components >= 0).float()
        idx = components.clamp(min=0)
        mode = self.config.dose_response
        if mode == "none":
            s = torch.ones_like(doses)
        elif mode == "linear":
            s = doses
        else:
            slope = F.softplus(self._per_component(self.dose_slope, idx))
            s = dose_scale(slope, self._per_component(self.dose_mid, idx), doses)
        return s * mask

    def perturbation_effect(
        self, components: torch.Tensor, doses: torch.Tensor, time: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, d)`` latent shift of the perturbations (and time)."""
        idx = components.clamp(min=0)
        scaled = self.component_embedding(idx) * self.dose_scale(components, doses)[..., None]
        effect = scaled.sum(1)
        if self.config.interaction and components.shape[1] > 1:
            k = components.shape[1]
            for i in range(k):
                for j in range(i + 1, k):
                    both = ((components[:, i] >= 0) & (components[:, j] >= 0)).float()[:, None]
                    effect = effect + both * self.interaction(scaled[:, i] * scaled[:, j])
        if self.has_time and time is not None:
            st = torch.sigmoid(F.softplus(self.time_slope) * (torch.log1p(time) - self.time_mid))
            effect = effect + st[:, None] * self.time_embedding
        return effect

    def covariate_effect(self, covariates: torch.Tensor) -> torch.Tensor:
        out = 0.0
        for k, emb in enumerate(self.covariate_embeddings):
            out = (
                out + emb(covariates[:, k].clamp(min=0)) * (covariates[:, k] >= 0).float()[:, None]
            )
        return out if isinstance(out, torch.Tensor) else torch.zeros(())

    def compose(self, z_basal: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell's context latent ``h`` (basal + covariates) and the perturbation shift ``e``."""
        h = z_basal
        if len(self.covariate_embeddings):
            h = h + self.covariate_effect(batch.covariates)
        return h, self.perturbation_effect(batch.components, batch.doses, batch.time)

    def decode(
        self, h: torch.Tensor, e: torch.Tensor, library: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of each gene (counts scale for NB, given the library size).

        ``"joint"`` decodes ``h + e`` through one network (CPA). ``"additive"`` decodes the
        context, adds a linear read-out of the perturbation shift and, if enabled, a
        context-dependent correction that vanishes without perturbation:
        ``dec(h) + W e + g(h, e) − g(h, 0)``.
        """
        mean, head = self._decode(h, e, library)
        return mean, self._variance(mean, head)

    def _decode(
        self, h: torch.Tensor, e: torch.Tensor, library: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mean, and the variance head's output (``None`` without one)."""
        if self.config.decoder == "joint":
            a, b = self._split(self.decoder(h + e))
        else:
            a, b = self._split(self.decoder(h))
            a = a + self.effect_readout(e)
            if self.config.context_interaction:
                a = a + self._context_correction(h, e)
            if b is not None:
                b = b + self.effect_variance(e)
        if self.likelihood == "nb":
            lib = (
                library if library is not None else torch.full((h.shape[0],), 1e4, device=h.device)
            )
            return torch.softmax(a, dim=-1) * lib[:, None], b
        return a, b

    def _variance(self, mean: torch.Tensor, head: torch.Tensor | None) -> torch.Tensor:
        if self.likelihood == "nb":
            return mean + mean.pow(2) / self.log_theta.exp()
        if head is None:
            return (F.softplus(self.log_var_gene) + 1e-4).expand_as(mean)
        return F.softplus(head) + 1e-4

    def _context_correction(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``g(h, e) − g(h, 0)`` of the context-interaction network ``g``, computed as the
        difference of its hidden layers: the first layer's cell part is computed once and the
        last layer is applied once (its bias cancels), instead of running ``g`` twice."""
        first, *middle, last = self.context_interaction
        d = h.shape[1]
        cell = F.linear(h, first.weight[:, :d], first.bias)
        hidden = torch.cat([cell + F.linear(e, first.weight[:, d:]), cell])
        for layer in middle:  # row-wise (layer norm, activation, dropout)
            hidden = layer(hidden)
        with_e, without = hidden.split(h.shape[0])
        return F.linear(with_e - without, last.weight)

    def _split(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._var_head:
            a, b = out.chunk(2, dim=-1)
            return a, b
        return out, None

    def reconstruction_loss(
        self, batch: Batch, mean: torch.Tensor, var: torch.Tensor | None
    ) -> torch.Tensor:
        """Mean negative log-likelihood per value (``var`` is not used by NB, which reads
        its dispersion from the module)."""
        x = batch.x
        if self.likelihood == "nb":
            return -_nb_log_likelihood(x, mean, self.log_theta.exp()) / x.numel()
        if var is None:
            raise ValueError("The Gaussian likelihood needs the decoded variance.")
        return _gaussian_nll(x, mean, var)

    def adversary_loss(self, z_basal: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Loss of the classifiers reading perturbations and covariates from ``z_basal``."""
        if not self.config.adversary:
            return z_basal.new_zeros(())
        target = torch.zeros(z_basal.shape[0], max(self.n_components, 1), device=z_basal.device)
        comps = batch.components
        rows = torch.arange(comps.shape[0], device=comps.device)[:, None].expand_as(comps)
        valid = comps >= 0
        target[rows[valid], comps[valid]] = 1.0
        loss = F.binary_cross_entropy_with_logits(self.adv_perturbation(z_basal), target)
        for k, clf in enumerate(self.adv_covariates):
            cov = batch.covariates[:, k]
            keep = cov >= 0
            if keep.any():
                loss = loss + F.cross_entropy(clf(z_basal[keep]), cov[keep])
        return loss

    def loss(
        self,
        batch: Batch,
        *,
        adversary_weight: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        """The model's loss; the adversary term enters with ``−adversary_weight``.

        ``generator`` is accepted for the training plan's contract; this module's only noise
        (a variational basal latent) draws from torch's global generator, as it always has.
        """
        z_basal, kl = self.encode(batch, sample=self.training)
        mean, head = self._decode(*self.compose(z_basal, batch), batch.library)
        # the NB likelihood needs θ, not the variance: skip its arithmetic over every value
        var = None if self.likelihood == "nb" else self._variance(mean, head)
        recon = self.reconstruction_loss(batch, mean, var)
        adv = self.adversary_loss(z_basal, batch) if adversary_weight > 0 else recon.new_zeros(())
        total = recon + self.config.kl_weight * kl - adversary_weight * adv
        return LossOutput(total, recon.detach(), kl.detach(), adv.detach())

    def adversary_parameters(self) -> list[nn.Parameter]:
        if not self.config.adversary:
            return []
        return [*self.adv_perturbation.parameters(), *self.adv_covariates.parameters()]

    def model_parameters(self) -> list[nn.Parameter]:
        adv = {id(p) for p in self.adversary_parameters()}
        return [p for p in self.parameters() if id(p) not in adv]
