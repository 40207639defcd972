"""Saving and loading a compositional model in the shared save format (``models/_persist``):
``config.json`` (config, likelihood, basal contexts, anchor, features' hash),
``registry.json`` (the data :class:`~phenocast.data.Registry`) and ``weights.pt``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...data import Registry
from .._persist import ModelDirectoryError, read_model_dir, write_model_dir
from ._config import CompositionalConfig
from ._model import _FORMAT, _FORMAT_VERSION

if TYPE_CHECKING:  # pragma: no cover
    from ._model import Compositional

__all__ = ["load_model", "restore_anchor", "save_model"]


def save_model(
    model: Compositional, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``config.json``, ``registry.json`` and ``weights.pt`` (a plain state dict)."""
    import torch

    module = model._require_fitted()
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "likelihood": model.likelihood,
        "config": model.config.to_dict(),
        "basal_contexts": [list(c) for c in model._basal["contexts"]],
        "anchor": None,
        "trained_components": list(model.trained_components_),
        "trained_doses": {k: list(v) for k, v in model.trained_doses_.items()},
        "zero_charges": [float(q) for q in model.zero_charges_],
        "trained_combinations": [list(t) for t in model.trained_combinations_],
        "features": None,
    }
    if model.features_ is not None:
        meta["features"] = {
            "name": model.features_.name,
            "content_hash": model.features_.content_hash,
            "dim": model.features_.dim,
            "featureless_components": list(model.featureless_components_),
        }
    if model.anchor_ is not None:
        a = model.anchor_
        meta["anchor"] = {
            "baseline": a.baseline,
            "alpha": a.alpha,
            "scores": {str(k): v for k, v in a.scores.items()},
            "n_groups": a.n_groups,
            "note": a.note,
            "candidates": {b: {str(k): v for k, v in sc.items()} for b, sc in a.candidates.items()},
            "table_obs": model._anchor_table.obs.astype(object).to_dict(orient="list"),
        }
    state = {f"module.{k}": v for k, v in module.state_dict().items()}
    state["basal.all"] = model._basal["all"]
    for j, z in enumerate(model._basal["contexts"].values()):
        state[f"basal.context.{j}"] = z
    if model.anchor_ is not None:
        state["anchor.means"] = torch.from_numpy(np.asarray(model._anchor_table.X))
    registry = model.registry.to_json()
    return write_model_dir(path, meta=meta, registry=registry, tensors=state, overwrite=overwrite)


def load_model(
    cls: type[Compositional], path: str | os.PathLike[str], *, featuriser: Any = None
) -> Compositional:
    """Load a model saved by :meth:`save`; weights are read with ``weights_only=True``."""
    meta, registry_text, state = read_model_dir(
        path,
        format=_FORMAT,
        versions=tuple(range(1, _FORMAT_VERSION + 1)),
        writer="phenocast's Compositional.save",
    )
    path = Path(path)
    try:
        registry = Registry.from_json(registry_text or "")
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as err:
        raise ModelDirectoryError(f"{path}/registry.json is corrupt ({err}).") from None
    model = cls(registry, CompositionalConfig.from_dict(meta["config"]), featuriser=featuriser)
    feats = meta.get("features")
    if feats:
        if model.config.features is None and featuriser is None:
            raise ModelDirectoryError(
                f"{path} was fitted with perturbation features given as an object "
                f"({feats.get('name')!r}, hash {str(feats.get('content_hash')).split('~')[0]}); "
                "pass the same featuriser: Compositional.load(path, featuriser=...)."
            )
        model._resolve_features()
        assert model.features_ is not None
        model.features_.check_hash(feats.get("content_hash"), where=str(path))
    module = model._new_module()
    mstate = {k.removeprefix("module."): v for k, v in state.items() if k.startswith("module.")}
    try:
        module.load_state_dict(mstate)
    except RuntimeError as err:
        raise ModelDirectoryError(
            f"{path}/weights.pt does not match config.json / registry.json: "
            f"{str(err).splitlines()[0]}"
        ) from None
    if model.features_ is not None:
        module.set_component_features(model._vocabulary_features(list(registry.components)))
    module.eval()
    model.module = module
    contexts = [tuple(c) for c in meta.get("basal_contexts", [])]
    model._basal = {
        "all": state["basal.all"],
        "contexts": {c: state[f"basal.context.{j}"] for j, c in enumerate(contexts)},
    }
    model.trained_components_ = tuple(meta.get("trained_components", registry.components))
    model.trained_doses_ = {
        str(k): tuple(float(d) for d in v) for k, v in meta.get("trained_doses", {}).items()
    }
    # a model saved before the charges were kept has none and predicts as it did
    charges = meta.get("zero_charges")
    model.zero_charges_ = None if charges is None else np.asarray(charges, dtype=float)
    model.trained_combinations_ = [tuple(t) for t in meta.get("trained_combinations", [])]
    if meta.get("anchor"):
        restore_anchor(model, meta["anchor"], state.get("anchor.means"), path)
    return model


def restore_anchor(model: Compositional, info: dict[str, Any], means: Any, path: Path) -> None:
    import anndata as ad

    from ._anchor import AnchorFit, fit_baseline

    if means is None:
        raise ModelDirectoryError(f"{path}/weights.pt lacks the anchor table its config names.")
    obs = pd.DataFrame(info["table_obs"])
    obs.index = [f"group{i}" for i in range(len(obs))]
    table = ad.AnnData(
        means.numpy().astype(np.float64),
        obs=obs,
        var=pd.DataFrame(index=list(model.registry.var_names)),
    )
    model._anchor_table = table
    model._anchor_model = fit_baseline(info["baseline"], table, model.registry)
    scores = {float(k): float(v) for k, v in info.get("scores", {}).items()}
    model.anchor_ = AnchorFit(
        info["baseline"],
        float(info["alpha"]),
        scores,
        int(info.get("n_groups", 0)),
        info.get("note", ""),
        {
            b: {float(k): float(v) for k, v in sc.items()}
            for b, sc in info.get("candidates", {}).items()
        },
    )
