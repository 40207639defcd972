"""The array-level half of :class:`~phenocast.models.MultiModalModel`: numpy in, numpy out.

:class:`ArrayCore` standardises each modality's features on its measured training rows,
trains a :class:`~._module.MultiModalModule` with the shared training plan (early stopping on
the held-out negative ELBO), and predicts on the original scale: an unmeasured readout from
measured ones, a perturbation's readouts from its prior alone, and the log-densities a
predictive mutual-information estimate needs. The model class adds the data, names and
conditions around it; nobody else uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._config import MultiModalConfig
from ._inputs import check_perturbations, check_views

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ...train import FitHistory
    from ._module import MultiModalBatch, MultiModalModule

__all__ = ["ArrayCore"]


class ArrayCore:
    """A perturbation's effect as one latent; each readout a Gaussian view of it.

    The state and array-level methods :class:`~phenocast.models.MultiModalModel` is built
    on (it is the only subclass): fitted attributes end in ``_``, methods are private.
    """

    def __init__(self, config: MultiModalConfig | None = None) -> None:
        if config is not None and not isinstance(config, MultiModalConfig):
            raise TypeError(f"config must be a MultiModalConfig, got {type(config).__name__}.")
        self.config = config if config is not None else MultiModalConfig()
        self.module: MultiModalModule | None = None
        self.history_: FitHistory | None = None

    # ------------------------------------------------------------------ fitting
    def _fit_arrays(
        self,
        views: dict[str, np.ndarray],
        *,
        masks: dict[str, np.ndarray] | None = None,
        components: np.ndarray | None = None,
        doses: np.ndarray | None = None,
        component_features: np.ndarray | None = None,
    ) -> ArrayCore:
        """Train on samples each measured in one or more modalities.

        ``views``: modality → ``(n, d_m)`` values (rows of unmeasured samples may be NaN);
        ``masks``: modality → ``(n,)`` bool, True where measured (default: rows without
        NaN); ``components`` / ``doses``: ``(n, K)`` component indices (-1 pads) and doses,
        which enable the perturbation prior; ``component_features``: ``(C, F)`` features of
        the components, projected into their embeddings (which also embeds components never
        trained on).
        """
        import torch
        from torch.utils.data import DataLoader

        from ...train import TensorBatches, TrainingPlan, fit_module
        from .._blocks import log_dose_centers
        from ._module import MultiModalModule

        cfg, tcfg = self.config, self.config.train
        arrays, obs = check_views(views, masks, dims=None)
        n = next(iter(arrays.values())).shape[0]
        comps, dose_arr, feats = check_perturbations(
            n, components, doses, component_features, fitted=None
        )
        self.modalities_ = tuple(arrays)
        self.dims_ = {m: int(a.shape[1]) for m, a in arrays.items()}
        self.means_, self.sds_ = {}, {}
        for m, a in arrays.items():
            rows = a[obs[m]]
            if rows.shape[0] < 2:
                raise ValueError(f"View {m!r} needs at least 2 measured rows, got {rows.shape[0]}.")
            sd = rows.std(0)
            self.means_[m] = rows.mean(0)
            self.sds_[m] = np.where(sd > 1e-8, sd, 1.0)
        n_comp = 0 if comps is None else int(max(comps.max() + 1, 1))
        if feats is not None:
            if comps is not None and feats.shape[0] < n_comp:
                raise ValueError(
                    f"component_features has {feats.shape[0]} rows but components index up to "
                    f"{n_comp - 1}."
                )
            n_comp = max(n_comp, feats.shape[0])
            sd = feats.std(0)
            self.feature_mean_, self.feature_sd_ = feats.mean(0), np.where(sd > 1e-8, sd, 1.0)
        self.n_components_ = n_comp if cfg.conditional_prior else 0
        self.n_features_ = 0 if feats is None or not self.n_components_ else feats.shape[1]
        self.use_doses_ = dose_arr is not None and self.n_components_ > 0
        center = torch.zeros(max(self.n_components_, 1))
        if self.use_doses_:
            assert comps is not None and dose_arr is not None
            center = log_dose_centers(comps, dose_arr, self.n_components_)

        batch = self._batch(arrays, obs, comps, dose_arr)
        flat: dict[str, torch.Tensor | None] = {}
        for m in self.modalities_:
            flat[f"view:{m}"], flat[f"mask:{m}"] = batch.views[m], batch.masks[m]
        flat["components"], flat["doses"] = batch.components, batch.doses
        data = TensorBatches(flat, self._assemble)
        rng = np.random.default_rng(tcfg.seed)
        order = rng.permutation(n)
        n_val = round(tcfg.val_fraction * n) if n >= 4 else 0
        val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            module = MultiModalModule(
                dims=self.dims_,
                config=cfg,
                n_components=self.n_components_,
                n_features=self.n_features_,
                use_doses=self.use_doses_,
                log_dose_center=center[: max(self.n_components_, 1)],
            )
            if self.n_features_:
                module.component_features.copy_(self._features_tensor(feats))
            gen = torch.Generator().manual_seed(tcfg.seed)
            train = DataLoader(
                train_rows.tolist(),  # type: ignore[arg-type]  # row indices are a dataset
                batch_size=tcfg.batch_size_for(len(train_rows)),
                shuffle=True,
                collate_fn=data,
                generator=gen,
            )
            val = (
                DataLoader(val_rows.tolist(), batch_size=4096, collate_fn=data)  # type: ignore[arg-type]
                if n_val
                else None
            )
            plan = TrainingPlan(module, lr=tcfg.lr, weight_decay=tcfg.weight_decay, seed=tcfg.seed)
            self.history_ = fit_module(plan, train, val, config=tcfg, n_cells=len(train_rows))
        module.cpu().eval()
        self.module = module
        self._marginal_prior = self._prior_of(batch.components, batch.doses, None)
        return self

    def _assemble(self, **fields: Any) -> MultiModalBatch:
        from ._module import MultiModalBatch

        names = self.modalities_
        return MultiModalBatch(
            views={m: fields[f"view:{m}"] for m in names},
            masks={m: fields[f"mask:{m}"] for m in names},
            components=fields["components"],
            doses=fields["doses"],
        )

    # ------------------------------------------------------------------ checks
    def _require_fitted(self) -> MultiModalModule:
        if self.module is None:
            raise RuntimeError(
                f"This {type(self).__name__} is not fitted yet; call fit() or load()."
            )
        return self.module

    # ------------------------------------------------------------------ tensors
    def _standardise(self, m: str, x: np.ndarray) -> np.ndarray:
        return ((x - self.means_[m]) / self.sds_[m]).astype(np.float32)

    def _features_tensor(self, feats: np.ndarray | None) -> torch.Tensor:
        import torch

        assert feats is not None
        z = (feats - self.feature_mean_) / self.feature_sd_
        return torch.from_numpy(z.astype(np.float32))

    def _batch(
        self,
        arrays: dict[str, np.ndarray],
        obs: dict[str, np.ndarray],
        comps: np.ndarray | None,
        dose_arr: np.ndarray | None,
    ) -> MultiModalBatch:
        """All modalities as tensors: absent views and unmeasured rows are zeros, masked."""
        import torch

        from ._module import MultiModalBatch

        n = next(iter(arrays.values())).shape[0]
        views, masks = {}, {}
        for m in self.modalities_:
            if m in arrays:
                x = np.nan_to_num(self._standardise(m, arrays[m]), nan=0.0, posinf=0.0, neginf=0.0)
                views[m], masks[m] = torch.from_numpy(x), torch.from_numpy(obs[m].copy())
            else:
                views[m] = torch.zeros(n, self.dims_[m])
                masks[m] = torch.zeros(n, dtype=torch.bool)
        use_comps = comps is not None and self.n_components_ > 0
        return MultiModalBatch(
            views=views,
            masks=masks,
            components=torch.from_numpy(comps) if use_comps else None,
            doses=(
                torch.from_numpy(dose_arr.astype(np.float32))
                if use_comps and dose_arr is not None
                else None
            ),
        )

    def _prior_of(
        self, comps: torch.Tensor | None, doses: torch.Tensor | None, feats: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        module = self._require_fitted()
        with torch.no_grad():
            if not module.conditional or comps is None:
                zeros = module.prior_zeros(1)
                return zeros, zeros.clone()
            return module.prior(comps, doses, feats)

    def _generator(self, seed: int | None) -> torch.Generator:
        import torch

        return torch.Generator().manual_seed(self.config.train.seed if seed is None else seed)

    def _sources(self, source: str | Sequence[str], target: str) -> list[str]:
        sources = [source] if isinstance(source, str) else list(source)
        known = set(self.modalities_)
        if not sources or any(s not in known for s in sources) or target not in known:
            raise ValueError(
                f"source {source!r} and target {target!r} must name modalities among "
                f"{list(self.modalities_)}."
            )
        return sources

    def _moments(self, target: str, draw: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """The module's predictive moments of ``target``, on the original scale."""
        import torch

        with torch.no_grad():
            mu, var = self._require_fitted().predictive_moments(target, draw, n=n_samples)
        sd = self.sds_[target]
        return mu.numpy() * sd + self.means_[target], var.numpy() * sd**2

    # ------------------------------------------------------------------ prediction
    def _predict_arrays(
        self,
        source: str | Sequence[str],
        target: str,
        views: dict[str, np.ndarray],
        masks: dict[str, np.ndarray] | None = None,
        *,
        components: np.ndarray | None = None,
        doses: np.ndarray | None = None,
        features: np.ndarray | None = None,
        n_samples: int | None = None,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n, d_target)`` predictive mean and variance of ``target`` from the ``source``
        readouts (see :meth:`MultiModalModel.predict_modality`); with ``components``, the
        samples' perturbation prior replaces the standard-normal expert."""
        import torch

        module = self._require_fitted()
        sources = self._sources(source, target)
        n_samples = self._n_samples(n_samples)
        arrays, obs = check_views(views, masks, dims=self.dims_, needed=sources)
        batch = self._batch(arrays, obs, None, None)
        prior = None
        if components is not None:
            n = next(iter(arrays.values())).shape[0]
            prior = self._prior_for(n, components, doses, features, what="predict(components=)")
        gen = self._generator(seed)
        with torch.no_grad():
            if n_samples == 0:
                mu, _ = module.posterior(batch.views, batch.masks, sources, prior)
                return self._moments(target, lambda k: mu[None].expand(k, *mu.shape), 1)
        return self._moments(
            target,
            lambda k: module.sample_posterior(
                batch.views, batch.masks, sources, n=k, generator=gen, prior=prior
            ),
            n_samples,
        )

    def _prior_for(
        self,
        n: int,
        components: np.ndarray,
        doses: np.ndarray | None,
        features: np.ndarray | None,
        *,
        what: str,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(z | perturbation)`` of ``n`` samples, checked; ``what`` names the caller in the
        error of a model without perturbation prior."""
        import torch

        module = self._require_fitted()
        if not module.conditional:
            raise ValueError(
                f"{what} needs the perturbation prior: fit with components and "
                "conditional_prior=True."
            )
        fitted = (self.use_doses_, self.n_features_)
        comps, dose_arr, feats = check_perturbations(n, components, doses, features, fitted=fitted)
        assert comps is not None
        if feats is None and self.n_features_ == 0 and (comps >= self.n_components_).any():
            raise ValueError(
                f"Component indices must be < {self.n_components_} (trained) without features."
            )
        ft = None if feats is None else self._features_tensor(feats)
        dt = None if dose_arr is None else torch.from_numpy(dose_arr.astype(np.float32))
        return self._prior_of(torch.from_numpy(comps), dt, ft)

    def _generate_arrays(
        self,
        target: str,
        components: np.ndarray,
        doses: np.ndarray | None = None,
        *,
        features: np.ndarray | None = None,
        n_samples: int | None = None,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n, d_target)`` mean and variance of ``target`` from the perturbations' prior
        alone (see :meth:`MultiModalModel.generate`)."""
        import torch

        self._require_fitted()
        self._sources([target], target)
        n_samples = self._n_samples(n_samples)
        n = np.asarray(components).shape[0]
        mu, logvar = self._prior_for(n, components, doses, features, what="generate()")
        gen = self._generator(seed)
        if n_samples == 0:
            return self._moments(target, lambda k: mu[None].expand(k, *mu.shape), 1)
        sd = (0.5 * logvar).exp()
        return self._moments(
            target,
            lambda k: mu + sd * torch.randn(k, *mu.shape, generator=gen),
            n_samples,
        )

    def _sample_arrays(
        self,
        components: np.ndarray,
        doses: np.ndarray | None = None,
        *,
        features: np.ndarray | None = None,
        n_draws: int = 100,
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Modality → ``(n, n_draws, d_m)`` joint draws from the perturbations' prior: draw
        ``k`` of every modality comes from one latent (see :meth:`MultiModalModel.sample`)."""
        import torch

        module = self._require_fitted()
        if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 1:
            raise ValueError(f"n_draws must be an integer >= 1, got {n_draws!r}.")
        n = np.asarray(components).shape[0]
        mu, logvar = self._prior_for(n, components, doses, features, what="sample()")
        gen = self._generator(seed)
        with torch.no_grad():
            z = mu + (0.5 * logvar).exp() * torch.randn(int(n_draws), *mu.shape, generator=gen)
            draws = module.sample_views(z, generator=gen)
        return {
            m: (x.double().numpy() * self.sds_[m] + self.means_[m]).transpose(1, 0, 2)
            for m, x in draws.items()
        }

    def _log_likelihoods(
        self,
        source: str | Sequence[str],
        target: str,
        views: dict[str, np.ndarray],
        masks: dict[str, np.ndarray] | None = None,
        *,
        n_samples: int | None = None,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per sample, ``log q(x_t | x_s)`` and ``log q(x_t)`` on the original scale (NaN
        where the target or every source is unmeasured).

        The conditional is a Monte Carlo average over posterior draws; the marginal
        ``E_{p(z)} p(x_t | z)``, ``p(z)`` the prior averaged over the training samples'
        perturbations, is importance-sampled from the defensive mixture
        ``½ q(z | x_t) + ½ p(z)``.
        """
        import torch

        module = self._require_fitted()
        sources = self._sources(source, target)
        k = max(self._n_samples(n_samples), 2)
        arrays, obs = check_views(views, masks, dims=self.dims_, needed=[*sources, target])
        n = next(iter(arrays.values())).shape[0]
        has_source = np.any(np.stack([obs[s] for s in sources]), axis=0)
        rows = np.flatnonzero(obs[target] & has_source)
        out_c, out_m = np.full(n, np.nan), np.full(n, np.nan)
        if not rows.size:
            return out_c, out_m
        sub = {m: a[rows] for m, a in arrays.items()}
        batch = self._batch(sub, {m: o[rows] for m, o in obs.items()}, None, None)
        x_t = batch.views[target]
        gen = self._generator(seed)
        offset = float(np.log(self.sds_[target]).sum())
        with torch.no_grad():
            z = module.sample_posterior(batch.views, batch.masks, sources, n=k, generator=gen)
            log_c = module.log_predictive(target, x_t, z)
            proposal = module.posterior(batch.views, batch.masks, [target])
            log_m = module.log_marginal(
                target, x_t, proposal, self._marginal_prior, n=k, generator=gen
            )
        out_c[rows] = log_c.double().numpy() - offset
        out_m[rows] = log_m.double().numpy() - offset
        return out_c, out_m

    def _n_samples(self, n_samples: int | None) -> int:
        n = self.config.n_samples if n_samples is None else n_samples
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n_samples must be an integer >= 0, got {n_samples!r}.")
        return int(n)
