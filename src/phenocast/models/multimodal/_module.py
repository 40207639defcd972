"""The multimodal perturbation VAE as a pure ``torch.nn.Module``: tensors in, tensors out.

A perturbation's effect is one latent ``z``; each readout (modality) ``m`` is a view of it:
an encoder gives a Gaussian expert ``q(z | x_m)``, a decoder ``p(x_m | z) = N(f_m(z),
B_m B_mᵀ + diag(ψ_m))``, whose low-rank part is a private latent of that readout integrated
out exactly (what the readouts do not share need not pass through ``z``). The experts of
a set of observed modalities combine into a posterior by a product of experts with a
standard-normal prior expert; ``joint`` chooses which sets are mixed (the full observed set,
every single, or every non-empty subset: MoPoE, Sutter, Daunhawer & Vogt 2021; MMVAE, Shi,
Paige & Torr 2019). The prior ``p(z | perturbation) = N(Σ_c s_c(dose_c) e_c, σ²)`` composes a
combination's latent from its components' embeddings.

Values are standardised by the caller; masks say, per sample, which modalities were
measured. Values of unmeasured rows never enter a computation (they may be NaN).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .._blocks import LossOutput, dose_scale, initial_dose_slope, mlp
from ._config import MultiModalConfig

__all__ = ["Experts", "LossOutput", "MultiModalBatch", "MultiModalModule"]

_LOG_2PI = math.log(2 * math.pi)
_EPS = 1e-6
_LOGVAR_RANGE = (-10.0, 10.0)
_CHUNK = 32  # latent draws decoded at once


@dataclass
class MultiModalBatch:
    """One minibatch of samples (conditions); every tensor shares the first dimension ``B``."""

    views: dict[str, torch.Tensor]  # name -> (B, d_m) standardised values
    masks: dict[str, torch.Tensor]  # name -> (B,) bool, True where the modality was measured
    components: torch.Tensor | None = None  # (B, K) long, -1 pads
    doses: torch.Tensor | None = None  # (B, K) float

    def __len__(self) -> int:
        return int(next(iter(self.views.values())).shape[0])

    def to(self, device: torch.device | str) -> MultiModalBatch:
        return MultiModalBatch(
            views={k: v.to(device) for k, v in self.views.items()},
            masks={k: v.to(device) for k, v in self.masks.items()},
            components=None if self.components is None else self.components.to(device),
            doses=None if self.doses is None else self.doses.to(device),
        )


@dataclass
class Experts:
    """Every modality's Gaussian expert, stacked in the module's modality order."""

    mu: torch.Tensor  # (M, B, L)
    logvar: torch.Tensor  # (M, B, L)
    observed: torch.Tensor  # (M, B) bool


def _mlp(sizes: Sequence[int], *, dropout: float) -> nn.Sequential:
    return mlp(sizes, dropout=dropout, layer_norm=False)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, e^logvar)`` summed over the last dimension (broadcasting)."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_mixture(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log (1/N) Σ_i N(z; mu_i, e^logvar_i)`` for ``z`` ``(..., L)`` and ``mu`` ``(N, L)``."""
    parts = [  # in blocks of components, bounding memory
        log_normal(z[..., None, :], mu[i : i + 64], logvar[i : i + 64])
        for i in range(0, mu.shape[0], 64)
    ]
    return torch.logsumexp(torch.cat(parts, -1), -1) - math.log(mu.shape[0])


def gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """``KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p))`` summed over the last dimension."""
    ratio = (logvar_q - logvar_p).exp()
    return 0.5 * (ratio + (mu_q - mu_p).pow(2) / logvar_p.exp() - 1 - (logvar_q - logvar_p)).sum(-1)


class MultiModalModule(nn.Module):
    """Per-modality encoders and decoders, the joint posterior and the perturbation prior.

    Parameters
    ----------
    dims
        Number of features of each modality, in a fixed order.
    config
        Architecture and loss options.
    n_components
        Size of the perturbation vocabulary (0: no perturbation prior, ``p(z) = N(0, I)``).
    n_features
        Width of the per-component input features (0: none). The features of the training
        components are kept in the ``component_features`` buffer.
    use_doses
        Whether doses scale the embeddings (``dose_response="sigmoid"`` and doses given).
    log_dose_center
        Per component, the mean log10 dose seen in training (initial sigmoid midpoint).
    """

    subset_matrix: torch.Tensor  # (S, M) bool, the subsets ``joint`` mixes
    component_features: torch.Tensor  # (n_components, n_features), when features are used

    def __init__(
        self,
        *,
        dims: dict[str, int],
        config: MultiModalConfig,
        n_components: int = 0,
        n_features: int = 0,
        use_doses: bool = False,
        log_dose_center: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if not dims:
            raise ValueError("dims must name at least one modality.")
        self.config = config
        self.names = list(dims)
        self.dims = dict(dims)
        latent, hidden = config.latent_dim, list(config.hidden)
        self.encoders = nn.ModuleDict(
            {m: _mlp([d, *hidden, 2 * latent], dropout=config.dropout) for m, d in dims.items()}
        )
        self.decoders = nn.ModuleDict(
            {
                m: _mlp([latent, *reversed(hidden), d], dropout=config.dropout)
                for m, d in dims.items()
            }
        )
        # diagonal + private part = 1 at initialisation: the variance of a standardised feature
        rank = config.private_dim
        factor_sd = 0.3 / math.sqrt(rank) if rank else 0.0  # private part 0.09 per feature
        start = math.log(math.expm1(max(1.0 - config.min_variance - rank * factor_sd**2, 1e-3)))
        self.decoder_raw_var = nn.ParameterDict(
            {m: nn.Parameter(torch.full((d,), start)) for m, d in dims.items()}
        )
        # B_m: loading of the private latent w_m ~ N(0, I), integrated out in every density
        self.decoder_factor = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(d, rank) * factor_sd) for m, d in dims.items() if rank}
        )
        n_mod = len(self.names)
        if config.joint == "mopoe":
            subsets = [
                s for r in range(1, n_mod + 1) for s in itertools.combinations(range(n_mod), r)
            ]
        elif config.joint == "moe":
            subsets = [(i,) for i in range(n_mod)]
        else:
            subsets = [tuple(range(n_mod))]
        matrix = torch.zeros(len(subsets), n_mod, dtype=torch.bool)
        for i, s in enumerate(subsets):
            matrix[i, list(s)] = True
        self.register_buffer("subset_matrix", matrix, persistent=False)

        self.n_components, self.n_features = n_components, n_features
        self.conditional = config.conditional_prior and n_components > 0
        self.use_doses = use_doses and config.dose_response == "sigmoid"
        if self.conditional:
            if not config.free_embedding and n_features == 0:
                raise ValueError(
                    "free_embedding=False needs component features to embed components from."
                )
            if config.free_embedding:
                self.embedding = nn.Embedding(n_components, latent)
                nn.init.normal_(self.embedding.weight, std=0.1)
            if n_features:
                self.feature_proj = nn.Linear(n_features, latent, bias=False)
                nn.init.normal_(self.feature_proj.weight, std=0.1 / math.sqrt(n_features))
                self.register_buffer("component_features", torch.zeros(n_components, n_features))
            # s = sigmoid(softplus(a_c) * (log10 dose − m_c)); softplus(a) = 1 at the start
            self.dose_slope = initial_dose_slope(n_components)
            center = torch.zeros(n_components) if log_dose_center is None else log_dose_center
            self.dose_mid = nn.Parameter(center.detach().clone().float())
            self.prior_logvar = nn.Parameter(torch.zeros(latent))

    # ------------------------------------------------------------------ contract
    def encode(self, views: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> Experts:
        """Every modality's expert ``q(z | x_m)``; unobserved rows are encoded from zeros."""
        mus, logvars, observed = [], [], []
        for m in self.names:
            x, mask = views[m], masks[m].bool()
            safe = torch.where(mask[:, None], x, torch.zeros_like(x))
            mu, logvar = self.encoders[m](safe).chunk(2, dim=-1)
            mus.append(mu)
            logvars.append(logvar.clamp(*_LOGVAR_RANGE))
            observed.append(mask)
        return Experts(torch.stack(mus), torch.stack(logvars), torch.stack(observed))

    def compose(
        self,
        experts: Experts,
        subsets: torch.Tensor | None = None,
        prior: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each subset's product of experts (observed members and a prior expert).

        Parameters
        ----------
        experts
            From :meth:`encode`.
        subsets
            ``(S, M)`` bool membership; default the subsets ``joint`` mixes.
        prior
            ``(B, L)`` mean and log-variance of the prior expert (default the standard normal
            one used in training); e.g. the perturbation prior ``p(z | perturbation)``, which
            turns the product into ``p(z | perturbation) Π_m q̃(z | x_m)``.

        Returns
        -------
        mu, logvar
            ``(S, B, L)`` Gaussian posterior of each subset.
        valid
            ``(S, B)`` whether the subset enters the sample's mixture: every member observed
            (``"mopoe"`` / ``"moe"``), or any member observed (``"poe"``, whose single subset
            is the full set and drops the experts of unmeasured modalities).
        """
        subsets = self.subset_matrix if subsets is None else subsets
        use = subsets[:, :, None] & experts.observed[None]  # (S, M, B)
        precision = (-experts.logvar).exp()[None] * use[..., None]  # (S, M, B, L)
        if prior is None:
            total = 1.0 + precision.sum(1)
            mu = (precision * experts.mu[None]).sum(1) / total
        else:
            prior_precision = (-prior[1]).exp()
            total = prior_precision + precision.sum(1)
            mu = (prior_precision * prior[0] + (precision * experts.mu[None]).sum(1)) / total
        logvar = -torch.log(total)
        if self.config.joint == "poe":
            valid = use.any(1)
        else:
            valid = (use | ~subsets[:, :, None]).all(1) & subsets.any(1)[:, None]
        return mu, logvar, valid

    def decode(self, z: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Mean and marginal variance of each modality's features given latents ``(..., L)``
        (the private part of the covariance included)."""
        return {m: self._decode_one(m, z) for m in self.names}

    def prior(
        self,
        components: torch.Tensor | None,
        doses: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(z | perturbation)``: ``(B, L)`` mean and log-variance.

        Parameters
        ----------
        components
            ``(B, K)`` component indices, -1 pads; rows of only pads are unperturbed (prior
            mean 0). ``None`` with a module without perturbation prior.
        doses
            ``(B, K)`` doses (``None``: every component acts fully).
        features
            ``(C, F)`` features of the components ``components`` index (default the training
            components'). Indices at or beyond the training vocabulary are embedded from
            their features alone, with the mean dose response of the training components.
        """
        latent = self.config.latent_dim
        if not self.conditional:
            n = 1 if components is None else components.shape[0]
            zeros = self.prior_zeros(n)
            return zeros, zeros.clone()
        if components is None:
            raise ValueError("This module has a perturbation prior: components are required.")
        present = components >= 0
        idx = components.clamp(min=0)
        seen = present & (idx < self.n_components)
        e = torch.zeros(*components.shape, latent, device=components.device)
        if self.config.free_embedding:
            free = self.embedding(idx.clamp(max=self.n_components - 1))
            e = e + torch.where(seen[..., None], free, torch.zeros_like(free))
        if self.n_features:
            table = self.component_features if features is None else features
            if table.ndim != 2 or table.shape[1] != self.n_features:
                raise ValueError(
                    f"features must be (n_components, {self.n_features}), got {tuple(table.shape)}."
                )
            if present.any() and int(idx[present].max()) >= table.shape[0]:
                raise ValueError(
                    f"A component index ({int(idx[present].max())}) has no row in the "
                    f"{table.shape[0]}-row feature table."
                )
            proj = self.feature_proj(table.to(e.dtype))
            e = e + proj[idx] * present[..., None]
        elif bool((present & ~seen).any()):
            raise ValueError(
                f"Component indices must be < {self.n_components} (the training vocabulary) "
                "unless component features embed them."
            )
        scale = present.to(e.dtype)
        if self.use_doses and doses is not None:
            ic = idx.clamp(max=self.n_components - 1)
            slope_all, mid_all = F.softplus(self.dose_slope), self.dose_mid
            slope = torch.where(seen, slope_all[ic], slope_all.mean())
            mid = torch.where(seen, mid_all[ic], mid_all.mean())
            scale = scale * dose_scale(slope, mid, doses)
        mu = (e * scale[..., None]).sum(1)
        logvar = self.prior_logvar.clamp(*_LOGVAR_RANGE).expand_as(mu)
        return mu, logvar

    def prior_zeros(self, n: int) -> torch.Tensor:
        device = self.decoder_raw_var[self.names[0]].device
        return torch.zeros(n, self.config.latent_dim, device=device)

    # ------------------------------------------------------------------ inference
    def subset_rows(self, subset: Sequence[str] | None) -> torch.Tensor:
        """``(1, M)`` bool membership of the named modalities (all when ``None``)."""
        names = self.names if subset is None else list(subset)
        unknown = [m for m in names if m not in self.dims]
        if unknown or not names:
            raise ValueError(f"Unknown or no modalities {unknown or names}; known: {self.names}.")
        row = torch.tensor([m in names for m in self.names], dtype=torch.bool)
        return row[None].to(self.subset_matrix.device)

    def _observed_in(self, experts: Experts, row: torch.Tensor) -> torch.Tensor:
        use = row[0][:, None] & experts.observed  # (M, B)
        missing = ~use.any(0)
        if bool(missing.any()):
            first = torch.nonzero(missing).ravel()[:5].tolist()
            raise ValueError(
                f"{int(missing.sum())} sample(s) (e.g. rows {first}) have none of the modalities "
                f"{[m for m, r in zip(self.names, row[0].tolist(), strict=True) if r]} observed."
            )
        return use

    def posterior(
        self,
        views: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor],
        subset: Sequence[str] | None = None,
        prior: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | x_subset)``: ``(B, L)`` mean and log-variance from the observed members.

        ``"poe"`` / ``"mopoe"``: the product of the observed members' experts (and the
        prior expert: standard normal, or ``prior``, see :meth:`compose`). ``"moe"``: the
        mixture of the observed members' posteriors, moment-matched to a Gaussian (use
        :meth:`sample_posterior` for exact draws).
        """
        experts = self.encode(views, masks)
        row = self.subset_rows(subset)
        use = self._observed_in(experts, row)
        if self.config.joint != "moe":
            mu, logvar, _ = self.compose(experts, row, prior)
            return mu[0], logvar[0]
        singles = torch.eye(len(self.names), dtype=torch.bool, device=row.device)
        mu_s, logvar_s, _ = self.compose(experts, singles, prior)  # (M, B, L)
        w = use.to(mu_s.dtype)[..., None] / use.sum(0).to(mu_s.dtype)[None, :, None]
        mean = (w * mu_s).sum(0)
        second = (w * (logvar_s.exp() + mu_s.pow(2))).sum(0)
        return mean, torch.log((second - mean.pow(2)).clamp(min=_EPS))

    def sample_posterior(
        self,
        views: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor],
        subset: Sequence[str] | None = None,
        *,
        n: int,
        generator: torch.Generator | None = None,
        prior: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``(n, B, L)`` draws from ``q(z | x_subset)`` (exact mixture draws for ``"moe"``;
        ``prior`` as in :meth:`posterior`)."""
        experts = self.encode(views, masks)
        row = self.subset_rows(subset)
        use = self._observed_in(experts, row)
        if self.config.joint != "moe":
            mu, logvar, _ = self.compose(experts, row, prior)
            mu, logvar = mu[0], logvar[0]
            noise = torch.randn(n, *mu.shape, generator=generator, device=mu.device)
            return mu + noise * (0.5 * logvar).exp()
        singles = torch.eye(len(self.names), dtype=torch.bool, device=row.device)
        mu_s, logvar_s, _ = self.compose(experts, singles, prior)  # (M, B, L)
        pick = torch.multinomial(use.T.float(), n, replacement=True, generator=generator)  # (B, n)
        b = torch.arange(pick.shape[0], device=pick.device)[:, None]
        mu, logvar = mu_s[pick, b].transpose(0, 1), logvar_s[pick, b].transpose(0, 1)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device)
        return mu + noise * (0.5 * logvar).exp()

    def log_prob(self, name: str, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_name | z)``; ``z`` ``(..., B, L)``, ``x`` ``(B, d)``, result ``(..., B)``.

        The density is ``N(x; f(z), B Bᵀ + diag(ψ))``: the private latent is integrated out
        exactly (Woodbury identity and the matrix determinant lemma, one ``r × r`` Cholesky
        factor per call, ``r = private_dim``).
        """
        mean = self.decoders[name](z)
        psi = self._diagonal(name)
        resid = x - mean
        quad = (resid.pow(2) / psi).sum(-1)
        logdet = psi.log().sum()
        if self.config.private_dim:
            factor = self.decoder_factor[name]  # (d, r)
            scaled = factor / psi[:, None]  # D⁻¹ B
            capacitance = torch.eye(factor.shape[1], device=factor.device, dtype=factor.dtype)
            chol = torch.linalg.cholesky(capacitance + factor.T @ scaled)
            proj = resid @ scaled  # (..., B, r): Bᵀ D⁻¹ r
            solved = torch.linalg.solve_triangular(chol, proj[..., None], upper=False)[..., 0]
            quad = quad - solved.pow(2).sum(-1)
            logdet = logdet + 2 * chol.diagonal().log().sum()
        return -0.5 * (x.shape[-1] * _LOG_2PI + logdet + quad)

    def _diagonal(self, name: str) -> torch.Tensor:
        """``ψ``: the independent-noise variance of each feature."""
        return F.softplus(self.decoder_raw_var[name]) + self.config.min_variance

    def _decode_one(self, name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.decoders[name](z)
        var = self._diagonal(name)
        if self.config.private_dim:
            var = var + self.decoder_factor[name].pow(2).sum(1)
        return mean, var.expand_as(mean)

    def sample_views(
        self, z: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Draws of every modality from ``p(x_m | z)``, one per latent ``z`` ``(..., L)``.

        All modalities of one draw share its ``z``, so draws keep the dependence between
        readouts; each also gets its private latent ``w_m ~ N(0, I)`` and independent noise.
        """
        out = {}
        for m in self.names:
            mean = self.decoders[m](z)
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
            x = mean + noise * self._diagonal(m).sqrt()
            if self.config.private_dim:
                factor = self.decoder_factor[m]
                w = torch.randn(
                    *mean.shape[:-1], factor.shape[1], generator=generator, device=mean.device
                )
                x = x + w @ factor.T
            out[m] = x
        return out

    def predictive_moments(
        self, target: str, draw: Callable[[int], torch.Tensor], *, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, d)`` mean and variance of ``target`` over ``n`` latent draws (float64).

        ``draw(k)`` returns ``(k, B, L)`` latents. By the law of total variance the predictive
        variance is the mean decoder variance plus the variance of the decoded means.
        """
        total = total_sq = var_sum = None
        done = 0
        while done < n:
            k = min(_CHUNK, n - done)
            mean, var = (t.double() for t in self._decode_one(target, draw(k)))
            s, sq, v = mean.sum(0), mean.pow(2).sum(0), var.sum(0)
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            var_sum = v if var_sum is None else var_sum + v
            done += k
        if total is None or total_sq is None or var_sum is None:
            raise ValueError(f"n must be >= 1, got {n}.")
        mu = total / n
        return mu, var_sum / n + (total_sq / n - mu.pow(2)).clamp(min=0.0)

    def log_predictive(self, target: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``(B,)`` ``log (1/k) Σ_k p(x | z_k)`` for draws ``z`` ``(k, B, L)``."""
        return torch.logsumexp(self.log_prob(target, z, x), 0) - math.log(z.shape[0])

    def log_marginal(
        self,
        target: str,
        x: torch.Tensor,
        proposal: tuple[torch.Tensor, torch.Tensor],
        prior: tuple[torch.Tensor, torch.Tensor],
        *,
        n: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(B,)`` importance-sampled ``log ∫ p(x | z) p(z) dz``.

        ``prior`` is a mixture of Gaussians with means ``(N, L)`` and log-variances ``(N, L)``
        or ``(1, L)``, equally weighted; ``proposal`` a ``(B, L)`` Gaussian (typically
        ``q(z | x)``). Half the draws come from each, weighted by the defensive mixture
        ``½ proposal + ½ prior``, so the weights stay bounded where the proposal is too narrow.
        """
        q_mu, q_logvar = proposal
        p_mu, p_logvar = prior
        p_logvar = p_logvar.expand_as(p_mu)
        batch, latent = q_mu.shape
        half = n // 2
        zq = q_mu + (0.5 * q_logvar).exp() * torch.randn(
            half, batch, latent, generator=generator, device=q_mu.device
        )
        pick = torch.randint(
            p_mu.shape[0], (n - half, batch), generator=generator, device=q_mu.device
        )
        zp = p_mu[pick] + (0.5 * p_logvar[pick]).exp() * torch.randn(
            n - half, batch, latent, generator=generator, device=q_mu.device
        )
        z = torch.cat([zq, zp])  # (n, B, L)
        log_prior = log_mixture(z, p_mu, p_logvar)
        log_r = torch.logaddexp(log_normal(z, q_mu, q_logvar), log_prior) - math.log(2.0)
        log_w = self.log_prob(target, z, x) + log_prior - log_r
        return torch.logsumexp(log_w, 0) - math.log(n)

    # ------------------------------------------------------------------ loss
    def loss(
        self,
        batch: MultiModalBatch,
        *,
        adversary_weight: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        """The negative ELBO, averaged over samples (``tracked``: the training plan watches
        it; there are no adversaries, so ``adversary_weight`` must be 0).

        For each sample, every subset of its observed modalities that ``joint`` mixes gives a
        posterior; a draw from it reconstructs all the sample's observed modalities, and its
        KL to the sample's prior is added with weight ``beta``. The subsets are weighted
        equally (the stratified estimate of the mixture's ELBO; the KL of a mixture is bounded
        by the mean of its components' KLs).
        """
        missing_view = [m for m in self.names if m not in batch.views or m not in batch.masks]
        if missing_view:
            raise ValueError(f"The batch lacks modalities {missing_view}; expected {self.names}.")
        experts = self.encode(batch.views, batch.masks)
        none = ~experts.observed.any(0)
        if bool(none.any()):
            raise ValueError(
                f"{int(none.sum())} sample(s) have no observed modality; every sample needs one."
            )
        mu, logvar, valid = self.compose(experts)  # (S, B, L), (S, B)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + noise * (0.5 * logvar).exp()
        recon = torch.zeros_like(valid, dtype=mu.dtype)
        for i, m in enumerate(self.names):
            x, obs = batch.views[m], experts.observed[i]
            safe = torch.where(obs[:, None], x, torch.zeros_like(x))
            lp = self.log_prob(m, z, safe)  # (S, B)
            recon = recon - torch.where(obs[None], lp, torch.zeros_like(lp))
        prior_mu, prior_logvar = (
            self.prior(batch.components, batch.doses)
            if self.conditional
            else (torch.zeros_like(mu[0]), torch.zeros_like(mu[0]))
        )
        kl = gaussian_kl(mu, logvar, prior_mu[None], prior_logvar[None])  # (S, B)
        w = valid.to(mu.dtype)
        w = w / w.sum(0, keepdim=True)
        rec_b, kl_b = (w * recon).sum(0), (w * kl).sum(0)
        total = (rec_b + self.config.beta * kl_b).mean()
        if adversary_weight:
            raise ValueError(
                "The multimodal module has no adversaries: adversary_weight must be 0."
            )
        return LossOutput(
            total, rec_b.mean().detach(), kl_b.mean().detach(), tracked=total.detach()
        )

    def model_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def adversary_parameters(self) -> list[nn.Parameter]:
        return []
