"""Saving and loading a compositional model: a directory of ``config.json``,
``registry.json`` and ``weights.pt`` (a plain tensor state dict read with
``weights_only=True``, so loading never executes code from the file)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...data import Registry, atomic_write, atomic_write_text
from ._config import CompositionalConfig
from ._model import _FORMAT, _FORMAT_VERSION, ModelDirectoryError

if TYPE_CHECKING:  # pragma: no cover
    from ._model import Compositional

__all__ = ["load_model", "restore_anchor", "save_model"]


def save_model(
    model: Compositional, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``config.json``, ``registry.json`` and ``weights.pt`` (a plain state dict)."""
    import torch

    module = model._require_fitted()
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is not empty; pass overwrite=True to replace the model.")
    from ... import __version__

    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "phenocast_version": __version__,
        "likelihood": model.likelihood,
        "config": model.config.to_dict(),
        "basal_contexts": [list(c) for c in model._basal["contexts"]],
        "anchor": None,
        "trained_components": list(model.trained_components_),
        "trained_doses": {k: list(v) for k, v in model.trained_doses_.items()},
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
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / "weights.pt", lambda p: torch.save(state, p))
    model.registry.to_json(path / "registry.json")
    atomic_write_text(path / "config.json", json.dumps(meta, indent=1))
    return path


def load_model(
    cls: type[Compositional], path: str | os.PathLike[str], *, featuriser: Any = None
) -> Compositional:
    """Load a model saved by :meth:`save`; weights are read with ``weights_only=True``."""
    import torch

    path = Path(path)
    for name in ("config.json", "registry.json", "weights.pt"):
        if not (path / name).is_file():
            raise ModelDirectoryError(
                f"{path} is not a saved phenocast model: {name} is missing (expected "
                "config.json, registry.json and weights.pt, as written by model.save)."
            )
    try:
        meta = json.loads((path / "config.json").read_text())
        registry = Registry.from_json(path / "registry.json")
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as err:
        raise ModelDirectoryError(
            f"{path}: config.json or registry.json is corrupt ({err})."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ModelDirectoryError(
            f"{path}/config.json was not written by phenocast's Compositional.save "
            f"(format {meta.get('format') if isinstance(meta, dict) else None!r})."
        )
    if meta.get("format_version", 0) > _FORMAT_VERSION:
        raise ModelDirectoryError(f"{path} was saved by a newer phenocast; upgrade to load it.")
    model = cls(registry, CompositionalConfig.from_dict(meta["config"]), featuriser=featuriser)
    feats = meta.get("features")
    if feats:
        if model.config.features is None and featuriser is None:
            raise ModelDirectoryError(
                f"{path} was fitted with perturbation features given as an object "
                f"({feats.get('name')!r}, hash {feats.get('content_hash')}); pass the same "
                "featuriser: Compositional.load(path, featuriser=...)."
            )
        model._resolve_features()
        assert model.features_ is not None
        model.features_.check_hash(feats.get("content_hash"), where=str(path))
    try:
        state = torch.load(path / "weights.pt", weights_only=True, map_location="cpu")
    except Exception as err:  # unpickling refused or file damaged
        first = str(err).splitlines()[0] if str(err) else ""
        raise ModelDirectoryError(
            f"{path}/weights.pt could not be read as a plain tensor state dict "
            f"({type(err).__name__}: {first}). It may be corrupt or not a phenocast file; "
            "nothing in it was executed."
        ) from None
    if not isinstance(state, dict):
        raise ModelDirectoryError(f"{path}/weights.pt does not hold a state dict.")
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
