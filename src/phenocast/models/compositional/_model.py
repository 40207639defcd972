"""The user-facing compositional model: AnnData in, AnnData / arrays / DataFrames out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from ...data import RegistrationError, Registry, dense_rows
from .._base import UnsupportedConditionError, register_model
from .._doses import trained_doses
from .._persist import ModelDirectoryError
from ._checks import at_least_zero, check_trainable, finite, readout_values
from ._config import CompositionalConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from ...featurize import ComponentFeatures
    from ...train import FitHistory
    from ._module import Batch, CompositionalModule
    from ._screen import CompositionalPredictor

__all__ = ["Compositional", "ModelDirectoryError"]

_FORMAT = "phenocast.compositional"
_FORMAT_VERSION = 1


class UntrainedComponentError(RegistrationError, UnsupportedConditionError):
    """A condition names a component the model's fitting data never contained."""


class UnseenContextError(RegistrationError, UnsupportedConditionError):
    """A condition or a start cell is in a covariate value (e.g. a cell line) the model was
    never fitted on, so it has no embedding for it."""


@register_model("compositional")
class Compositional:
    """A compositional perturbation autoencoder (CPA class).

    A cell's basal latent (freed of perturbation and covariate information by adversaries) plus
    the sum of its perturbations' embeddings, each scaled by a learned dose-response, plus time
    and covariate embeddings, is decoded into a mean and a variance per gene (Gaussian for
    log-normalised or continuous data, negative binomial for counts).

    Parameters
    ----------
    registry
        The registry of the training data (:func:`phenocast.data.register`).
    config
        Architecture, loss and training options; defaults when ``None``.
    featuriser
        Perturbation features as an object (a :class:`~phenocast.featurize.Featuriser` or a
        ``GeneFeatures`` / ``DrugFeatures`` table), instead of naming one in
        ``config.features``; lets the model predict components it never saw that the
        features cover.

    Examples
    --------
    >>> import phenocast as pc                                          # doctest: +SKIP
    >>> reg = pc.data.register(adata, perturbation="perturbation", control="control")
    >>> model = pc.models.Compositional(reg).fit(adata)
    >>> counterfactual = model.predict(controls, conditions)            # per-cell AnnData
    >>> cfg = pc.models.CompositionalConfig(features="go_svd", feature_options={"dim": 64})
    >>> unseen = pc.models.Compositional(reg, cfg).fit(adata).predict_mean(controls, new_genes)
    """

    config_class = CompositionalConfig
    name = "compositional"
    #: The benchmark shows the model anchored to the task's baseline and alone.
    variants: ClassVar[dict[str, dict[str, Any]]] = {"anchored": {}, "alone": {"anchor": None}}

    def __init__(
        self,
        registry: Registry,
        config: CompositionalConfig | None = None,
        *,
        featuriser: Any = None,
    ) -> None:
        if config is not None and not isinstance(config, CompositionalConfig):
            raise TypeError(
                f"config must be a CompositionalConfig, not {type(config).__name__}; build it "
                "with CompositionalConfig(...) or CompositionalConfig.from_dict({...})."
            )
        self.registry = registry
        self.config = config or CompositionalConfig()
        self.module: CompositionalModule | None = None
        self.history_: FitHistory | None = None
        self._basal: dict[str, Any] = {}
        self.anchor_: Any = None
        self.trained_components_: tuple[str, ...] = tuple(registry.components)
        #: Component → sorted distinct doses it was fitted on (the range a screen may use).
        self.trained_doses_: dict[str, tuple[float, ...]] = {}
        #: per component, how much of the zero state's drift its effect carries (see _zero)
        self.zero_charges_: np.ndarray | None = np.ones(len(registry.components))
        #: the trained perturbed combinations, as sorted component indices
        self.trained_combinations_: list[tuple[int, ...]] = []
        self._given_featuriser = featuriser
        #: The perturbation features (``None`` without a featuriser), resolved in ``fit``.
        self.features_: ComponentFeatures | None = None
        #: Registry components the featuriser does not cover (learned from data alone).
        self.featureless_components_: tuple[str, ...] = ()

    def __repr__(self) -> str:
        state = "fitted" if self.module is not None else "not fitted"
        if self.module is None and self.anchor_ is not None:
            state = f"the baseline {self.anchor_.baseline!r}, α = 0, no network"
        return f"Compositional({state}, {len(self.registry.components)} perturbations)"

    # ------------------------------------------------------------------ data → tensors
    @property
    def likelihood(self) -> str:
        if self.config.likelihood != "auto":
            return self.config.likelihood
        return "nb" if self.registry.x_kind == "counts" else "gaussian"

    def _batch(
        self,
        x: np.ndarray,
        obs: pd.DataFrame,
        *,
        allow_unseen: bool = False,
        registry: Registry | None = None,
    ) -> Batch:
        import torch

        from ._module import Batch

        reg = self.registry
        enc = (registry or reg).encode(obs, allow_unseen=allow_unseen)
        cov = (
            np.stack([enc.covariates[k] for k in reg.covariate_keys], 1)
            if reg.covariate_keys
            else np.zeros((len(obs), 0), dtype=np.int64)
        )
        xt = torch.from_numpy(x)
        return Batch(
            x=xt,
            components=torch.from_numpy(enc.components),
            doses=torch.from_numpy(enc.doses.astype(np.float32)),
            covariates=torch.from_numpy(cov.astype(np.int64)),
            time=None if enc.time is None else torch.from_numpy(enc.time.astype(np.float32)),
            library=xt.sum(1) if self.likelihood == "nb" else None,
        )

    def _new_module(self, log_dose_center: torch.Tensor | None = None) -> CompositionalModule:
        from ._module import CompositionalModule

        reg = self.registry
        return CompositionalModule(
            n_genes=reg.n_vars,
            n_components=len(reg.components),
            covariate_sizes=[len(reg.covariate_categories[k]) for k in reg.covariate_keys],
            config=self.config,
            likelihood=self.likelihood,
            has_time=reg.time_key is not None,
            log_dose_center=log_dose_center,
            feature_dim=0 if self.features_ is None else self.features_.dim,
        )

    def _resolve_features(self) -> None:
        """Build (or take) the featuriser, fit it on the registry's components, check cover."""
        from ...featurize import ComponentFeatures, resolve_featuriser

        cfg, comps = self.config, list(self.registry.components)
        featuriser = resolve_featuriser(cfg.features, cfg.feature_options, self._given_featuriser)
        if featuriser is None:
            self.features_, self.featureless_components_ = None, ()
            return
        features = ComponentFeatures(featuriser.fit(comps))
        missing = features.missing(comps)
        if comps and len(missing) == len(comps):
            raise RegistrationError(
                f"The featuriser {features.name!r} has features for none of the "
                f"{len(comps)} perturbation components (e.g. {comps[:5]}). Check that the "
                "perturbation column holds names the prior knows (gene symbols, drug names)."
            )
        if missing and not cfg.feature_residual:
            raise RegistrationError(
                f"The featuriser {features.name!r} has no features for {len(missing)} "
                f"component(s): {missing[:20]}. Set feature_residual=True to learn them from the "
                "data alone, or drop those perturbations."
            )
        self.features_, self.featureless_components_ = features, tuple(missing)

    def _vocabulary_features(self, names: list[str]) -> torch.Tensor:
        import torch

        assert self.features_ is not None
        rows, _ = self.features_.rows(names)
        return torch.from_numpy(rows)

    # ------------------------------------------------------------------ fit
    def fit(self, adata: AnnData) -> Compositional:
        """Train on registered data (controls and perturbed cells); returns ``self``.

        With ``config.anchor``, first fit on all but a validation share of the perturbed
        groups to choose the blend α against the baseline (see :mod:`._anchor`), then refit on
        everything.
        """
        self.registry.check_genes(adata)
        check_trainable(self, adata)
        self.anchor_ = None
        self.module = None
        self._resolve_features()
        if self.config.anchor is None:
            return self._fit_core(adata)
        from ._anchor import fit_anchored

        return fit_anchored(self, adata)

    def _fit_core(self, adata: AnnData, rows: np.ndarray | None = None) -> Compositional:
        """Train on ``adata`` (or its cells ``rows``, sorted, without copying them)."""
        import torch

        from ...train import NonFiniteLossError, TrainingPlan, fit_module
        from .._blocks import log_dose_centers
        from ._large import streamed_basal_means, streamed_loaders, streams
        from ._zero import zero_charges

        reg, cfg, tcfg = self.registry, self.config, self.config.train
        reg.check_genes(adata)
        matrix = reg.matrix(adata)
        obs = adata.obs if rows is None else adata.obs.iloc[rows]
        stream = streams(matrix, tcfg)
        if stream:  # per-row fields of every cell; the values are read block by block
            meta = self._batch(np.zeros((adata.n_obs, 0), np.float32), adata.obs)
            batch = meta if rows is None else meta.take(torch.from_numpy(rows))
        else:
            batch = self._batch(dense_rows(matrix if rows is None else matrix[rows]), obs)
        comps, doses = batch.components.numpy(), batch.doses.numpy()
        center = log_dose_centers(comps, doses, len(reg.components))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            module = self._new_module(center)
            if self.features_ is not None:
                module.set_component_features(self._vocabulary_features(list(reg.components)))
            train_rows, val_rows = self._split(obs, tcfg.val_fraction, tcfg.seed)
            if stream:
                where = np.arange(adata.n_obs) if rows is None else rows
                train, val = streamed_loaders(
                    self,
                    matrix,
                    meta,
                    adata.obs,
                    where[train_rows.numpy()],
                    where[val_rows.numpy()],
                )
            else:
                data = self._batches(batch, obs)
                train = data.loader(
                    train_rows,
                    batch_size=tcfg.batch_size_for(len(train_rows)),
                    shuffle=True,
                    seed=tcfg.seed,
                )
                val = (
                    data.loader(val_rows, batch_size=4096, shuffle=False, seed=tcfg.seed)
                    if len(val_rows)
                    else None
                )
            plan = TrainingPlan(
                module,
                lr=tcfg.lr,
                weight_decay=tcfg.weight_decay,
                adversary=cfg.adversary,
                adversary_weight=cfg.adversary_weight,
                adversary_warmup=cfg.adversary_warmup,
            )
            try:
                self.history_ = fit_module(
                    plan,
                    train,
                    val,
                    config=tcfg,
                    n_cells=len(train_rows),
                    n_genes=reg.n_vars,
                    run=None if rows is None else "anchor-selection",  # its own checkpoint
                )
            except NonFiniteLossError as err:
                raise NonFiniteLossError(
                    f"{err} With {self.likelihood!r} likelihood on {reg.x_kind} values, the "
                    f"likely cause is a learning rate too high for these data (lr={tcfg.lr}; "
                    "try 10× lower) or extreme values in the data (filter or normalise them).",
                    epoch=err.epoch,
                    step=err.step,
                    stage=err.stage,
                ) from None
        module.eval()
        self.module = module
        self._basal = (
            streamed_basal_means(self, matrix, meta, rows) if stream else self._basal_means(batch)
        )
        self.trained_doses_ = trained_doses(comps, doses, reg.components)
        self.trained_components_ = tuple(self.trained_doses_)
        self.zero_charges_, self.trained_combinations_ = zero_charges(comps, len(reg.components))
        return self

    def _batches(self, batch: Batch, obs: pd.DataFrame) -> Any:
        import torch

        from ...train import PairedBatches, TensorBatches
        from ._large import contexts
        from ._module import Batch

        tensors = {k: v for k, v in vars(batch).items() if k != "basal_x"}
        if self.config.basal != "control" or self.registry.control is None:
            return TensorBatches(tensors, Batch)
        context, is_control = contexts(self, batch, obs)
        return PairedBatches(
            tensors,
            Batch,
            context=torch.from_numpy(context),
            is_control=torch.from_numpy(is_control),
            seed=self.config.train.seed,
        )

    def _split(self, obs: pd.DataFrame, fraction: float, seed: int) -> tuple[Any, Any]:
        """Cells held out for early stopping, stratified by condition × context."""
        import torch

        from ...train import early_stopping_split

        keys = self.registry.conditions_of(obs).astype(str)
        for k in self.registry.covariate_keys:
            keys = keys + "|" + obs[k].astype(str).to_numpy()
        train, val = early_stopping_split(pd.factorize(keys)[0], fraction=fraction, seed=seed)
        return torch.from_numpy(train), torch.from_numpy(val)

    def _basal_means(self, batch: Batch) -> dict[str, Any]:
        """Mean basal latent per covariate context (used when no control cells are given)."""
        import torch

        with torch.no_grad():
            z = self._encode(batch)
        ctx = [tuple(r) for r in batch.covariates.numpy().tolist()]
        frame = pd.DataFrame({"ctx": ctx})
        means = {c: z[idx.to_numpy()].mean(0) for c, idx in frame.groupby("ctx").groups.items()}
        return {"contexts": means, "all": z.mean(0)}

    def _encode(self, batch: Batch, *, chunk: int = 8192) -> torch.Tensor:
        import torch

        assert self.module is not None
        with torch.no_grad():
            parts = [
                self.module.encode(batch.rows(i, i + chunk))[0]
                for i in range(0, batch.x.shape[0], chunk)
            ]
        return torch.cat(parts) if parts else torch.zeros(0, self.config.latent_dim)

    def _require_fitted(self) -> CompositionalModule:
        if self.module is None and self.anchor_ is not None:
            raise RuntimeError(
                f"This anchored model is its baseline {self.anchor_.baseline!r} (α = 0; "
                f"{self.anchor_.note}) and trained no network: predict_mean gives the "
                "baseline's means; per-cell predictions, latents, screens, dose-responses and "
                "saving need a network, so fit Compositional with anchor=None."
            )
        if self.module is None:
            raise RuntimeError(
                "The model is not fitted; call fit(adata) or Compositional.load(dir)."
            )
        return self.module

    # ------------------------------------------------------------------ predict
    def screen_predictor(
        self,
        *,
        mode: Literal["auto", "per-cell"] = "auto",
        time: float | None = None,
        block: int = 1 << 23,
    ) -> CompositionalPredictor:
        """The vectorised predictor :func:`phenocast.screen.run` drives: blocks of encoded
        conditions (component indices, numeric doses) in one context at once.

        ``mode="auto"`` computes the exact mean over start cells where the decoder allows it,
        ``"per-cell"`` always decodes every cell × condition; ``time`` is the time every
        condition is predicted at; ``block`` bounds the cell × condition × width elements
        held at once.
        """
        from ._screen import CompositionalPredictor

        return CompositionalPredictor(self, mode=mode, time=time, block=block)

    def latent(self, adata: AnnData) -> np.ndarray:
        """Basal latent of each cell, ``(n_obs, latent_dim)``."""
        self._require_fitted()
        self.registry.check_genes(adata)
        batch = self._batch(dense_rows(self.registry.matrix(adata)), adata.obs)
        return self._encode(batch).numpy()

    def predict(
        self,
        controls: AnnData,
        conditions: pd.DataFrame,
        *,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        cross_context: bool = False,
        extrapolate: bool = False,
        residual: bool = False,
    ) -> AnnData:
        """Counterfactuals: the start cells of each condition's context under that condition.

        Parameters
        ----------
        controls
            Cells to start from (usually control cells). A condition that gives a covariate
            (e.g. ``cell_type="T"``) starts from the cells whose covariate is that value
            only; one that does not keeps every cell, each in its own context.
        conditions
            One row per condition with the registry's perturbation column and, optionally, dose,
            time and covariate columns. A model trained with a dose column needs it here.
        out
            With ``out`` (``*.h5ad`` or ``*.zarr``) the predictions are written there block by
            block (``X`` the mean, layer ``variance``), never all in memory, and the file is
            returned opened on disk; ``controls`` may then be on disk too. An existing file
            is replaced only with ``overwrite``.
        overwrite
            Replace an existing ``out``.
        cross_context
            Start every condition from every cell, its covariates replaced by the
            condition's (e.g. a K562 condition from cells of other lines); without it, a
            condition none of whose start cells share its context is an error.
        extrapolate
            Allow doses outside each perturbation's trained range (marked in the
            ``extrapolated`` column); without it they are an error
            (:func:`phenocast.models.check_dose_range`).
        residual
            Make ``X`` realistic cells rather than means: each predicted mean plus its start
            cell's own residual (the cell's values minus the model's reconstruction of it,
            centred over the condition's start cells), so the cells keep the start cells'
            cell-to-cell variation and average to :meth:`predict_mean`'s answer (unless the
            data are ``continuous``, clipped at 0 and rescaled gene by gene back to that
            mean). Start from control cells. Not with ``out``.

        Returns
        -------
        AnnData
            One cell per (start cell, condition) pair: ``X`` and ``layers["mean"]`` hold the
            predicted mean, never below 0 unless the data are ``continuous`` (``X`` the
            cells with ``residual``), ``layers["variance"]`` the
            predicted variance; ``obs`` has the
            condition's columns, ``condition_index``, ``control_cell``,
            ``source_<covariate>`` (the start cell's own value) and, for a model with a dose
            column, ``extrapolated``.
        """
        from ._counterfactual import predict_cells

        return predict_cells(
            self, controls, conditions, out=out, overwrite=overwrite,
            cross_context=cross_context, extrapolate=extrapolate, residual=residual,
        )  # fmt: skip

    def predict_mean(
        self,
        controls: AnnData | None,
        conditions: pd.DataFrame,
        *,
        cross_context: bool = False,
        extrapolate: bool = False,
    ) -> np.ndarray:
        """Mean predicted profile per condition, ``(n_conditions, n_genes)``: the mean over
        the start cells of the condition's context (see :meth:`predict` for
        ``cross_context`` and ``extrapolate``; :meth:`check_doses` gives which rows
        extrapolate), or from the context's stored basal state when ``controls`` is ``None``.
        Expression (counts, log-normalised) is never predicted below 0: the means are clipped
        there unless the data are ``continuous``. A combination started from cells is those
        cells plus each component's change plus the model's interaction term, so it does not
        depend on where the model put its zero state (:meth:`zero_state_bias`).
        """
        from ._counterfactual import check_context_match, check_doses

        check_doses(self, conditions, extrapolate=extrapolate)
        if controls is not None:
            check_context_match(self, controls.obs, conditions, cross_context=cross_context)
        if self.module is None and self.anchor_ is not None:  # the baseline alone (α = 0)
            from ._anchor import by_context

            baseline = self._anchor_model
            means = by_context(self, controls, conditions, baseline.predict_mean, cross_context)
            return at_least_zero(self.registry, means)  # NaN: a condition it cannot answer
        from ._anchor import anchor_shift

        raw = self._predict_mean_raw(controls, conditions, cross_context=cross_context)
        shift = anchor_shift(self, controls, conditions, raw, cross_context=cross_context)
        return readout_values(self.registry, raw + shift)

    def zero_state_bias(self, controls: AnnData) -> np.ndarray:
        """How far the model's own zero-perturbation state sits from ``controls``, ``(n_genes,)``:
        the mean over the cells of their reconstruction (basal latent and own covariates
        decoded with no perturbation) minus their values.

        The zero state and the components' effects are learned together and only control
        cells tell them apart, so a fit can move its zero state by ``b`` while every effect
        trained alone carries ``−b``: singles are unaffected, a combination of ``k`` of them
        would count ``−b`` ``k`` times. Predictions from start cells add
        ``(Σ charges − 1) · b`` (Gaussian likelihood; ``zero_charges_``: 1 for a component
        trained alone, nothing for a trained combination), which removes that dependence;
        this returns ``b`` for inspection.
        """
        from ._counterfactual import start_residuals

        self._require_fitted()
        self.registry.check_genes(controls)
        x = dense_rows(self.registry.matrix(controls))
        cells = self._batch(x, controls.obs, allow_unseen=True)
        return -start_residuals(self, x, cells, self._encode(cells)).mean(axis=0)

    def check_doses(self, conditions: pd.DataFrame, *, extrapolate: bool = False) -> np.ndarray:
        """Which conditions ask for a dose outside their perturbation's trained range.

        Raises :class:`~phenocast.models.DoseRangeError` for any such dose unless
        ``extrapolate``, and a :class:`~phenocast.data.RegistrationError` when the model was
        trained with a dose column that ``conditions`` lacks. Returns ``(n_conditions,)``
        booleans (the ``extrapolated`` column of :meth:`predict`).
        """
        from ._counterfactual import check_doses

        return check_doses(self, conditions, extrapolate=extrapolate)

    def _predict_mean_raw(
        self, controls: AnnData | None, conditions: pd.DataFrame, *, cross_context: bool = False
    ) -> np.ndarray:
        from ._counterfactual import counterfactuals
        from ._large import control_blocks

        out = np.zeros((len(conditions), self.registry.n_vars))
        counts = np.zeros(len(conditions))
        parts = [None] if controls is None else control_blocks(controls, self.registry)
        for part in parts:
            for i, mean, _, rows in counterfactuals(
                self, part, conditions, cross_context=cross_context
            ):
                out[i] += mean.sum(0).numpy()
                counts[i] += 1 if rows is None else len(rows)
        return finite(out / np.maximum(counts, 1)[:, None])

    def dose_response(
        self,
        perturbation: str,
        doses: Any,
        *,
        controls: AnnData | None = None,
        extrapolate: bool = False,
        **covariates: str,
    ) -> pd.DataFrame:
        """Predicted mean profile of ``perturbation`` at each dose (rows) per gene (columns).

        Covariates (e.g. ``cell_type="CD14 Mono"``) select the context (and the start cells
        of ``controls`` in it); without ``controls`` the context's mean basal state is used.
        Doses outside the trained range need ``extrapolate=True``, as in :meth:`predict`.
        """
        reg = self.registry
        unknown = sorted(set(covariates) - set(reg.covariate_keys))
        if unknown:
            raise ValueError(
                f"Unknown covariate(s) {unknown}; registered: {list(reg.covariate_keys)}."
            )
        doses = np.atleast_1d(np.asarray(doses, dtype=float))
        frame = pd.DataFrame({reg.perturbation_key: [perturbation] * len(doses)})
        if reg.dose_key is not None:
            n = len(reg.parse(perturbation).components)
            frame[reg.dose_key] = pd.Series([(float(d),) * n for d in doses], dtype=object)
        for k, v in covariates.items():
            frame[k] = v
        if controls is None:
            for k in reg.covariate_keys:
                if k not in frame:
                    raise ValueError(
                        f"Give {k}=... (one of {list(reg.covariate_categories[k])[:10]})."
                    )
        means = self.predict_mean(controls, frame, extrapolate=extrapolate)
        return pd.DataFrame(means, index=pd.Index(doses, name="dose"), columns=list(reg.var_names))

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write ``config.json``, ``registry.json`` and ``weights.pt`` (a plain state dict)."""
        from ._persist import save_model

        return save_model(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, featuriser: Any = None) -> Compositional:
        """Load a model saved by :meth:`save`; weights are read with ``weights_only=True``.

        A model fitted with perturbation features rebuilds its featuriser from the config (or
        takes ``featuriser``) and refuses features whose content hash differs.
        """
        from ._persist import load_model

        return load_model(cls, path, featuriser=featuriser)
