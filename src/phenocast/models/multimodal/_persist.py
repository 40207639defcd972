"""Saving and loading the multimodal model in the shared save format (``models/_persist``).

``config.json`` holds the directory's format and version, the config and the network's sizes
(the array-level state of :func:`array_state`), ``registry.json`` what the model knows of its
data and ``weights.pt`` the tensors. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._persist import ModelDirectoryError, read_model_dir, write_model_dir
from ._config import MultiModalConfig

if TYPE_CHECKING:  # pragma: no cover
    from ._core import ArrayCore
    from ._model import MultiModalModel

__all__ = ["array_state", "from_array_state", "load_model", "save_model"]

_STATE_FORMAT = "phenocast.multimodal_vae"
_STATE_VERSION = 2  # 2: decoders have a private covariance factor (private_dim)
_FORMAT = "phenocast.multimodal_model"
_FORMAT_VERSION = 2  # 2: what the model knows of its data moved to registry.json

C = TypeVar("C", bound="ArrayCore")


def array_state(core: ArrayCore) -> dict[str, Any]:
    """The fitted array-level core as plain data: JSON-able ``config`` / ``meta`` and
    ``tensors`` (no pickled objects)."""
    import torch

    module = core._require_fitted()
    tensors = {f"module.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    for m in core.modalities_:
        tensors[f"mean.{m}"] = torch.from_numpy(core.means_[m].copy())
        tensors[f"sd.{m}"] = torch.from_numpy(core.sds_[m].copy())
    if core.n_features_:
        tensors["feature_mean"] = torch.from_numpy(core.feature_mean_.copy())
        tensors["feature_sd"] = torch.from_numpy(core.feature_sd_.copy())
    tensors["marginal_prior.mu"] = core._marginal_prior[0].clone()
    tensors["marginal_prior.logvar"] = core._marginal_prior[1].clone()
    meta = {
        "format": _STATE_FORMAT,
        "format_version": _STATE_VERSION,
        "modalities": list(core.modalities_),
        "dims": dict(core.dims_),
        "n_components": core.n_components_,
        "n_features": core.n_features_,
        "use_doses": core.use_doses_,
    }
    config = json.loads(json.dumps(core.config.to_dict()))
    return {"config": config, "meta": meta, "tensors": tensors}


def from_array_state(cls: type[C], state: dict[str, Any]) -> C:
    """Rebuild a ``cls`` written by :func:`array_state`."""
    from ._module import MultiModalModule

    meta = state.get("meta", {})
    version = meta.get("format_version")
    if meta.get("format") != _STATE_FORMAT or version not in (1, _STATE_VERSION):
        raise ValueError(
            f"Not a {_STATE_FORMAT} state of version 1 or {_STATE_VERSION}: got format "
            f"{meta.get('format')!r} version {version!r}."
        )
    config = dict(state["config"])
    if version == 1:  # written before private latents: diagonal decoder covariances
        config.setdefault("private_dim", 0)
    model = cls(MultiModalConfig.from_dict(config))
    tensors = state["tensors"]
    model.modalities_ = tuple(meta["modalities"])
    model.dims_ = {m: int(d) for m, d in meta["dims"].items()}
    model.n_components_ = int(meta["n_components"])
    model.n_features_ = int(meta["n_features"])
    model.use_doses_ = bool(meta["use_doses"])
    model.means_ = {m: tensors[f"mean.{m}"].numpy().copy() for m in model.modalities_}
    model.sds_ = {m: tensors[f"sd.{m}"].numpy().copy() for m in model.modalities_}
    if model.n_features_:
        model.feature_mean_ = tensors["feature_mean"].numpy().copy()
        model.feature_sd_ = tensors["feature_sd"].numpy().copy()
    module = MultiModalModule(
        dims=model.dims_,
        config=model.config,
        n_components=model.n_components_,
        n_features=model.n_features_,
        use_doses=model.use_doses_,
    )
    prefix = "module."
    module.load_state_dict(
        {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    )
    module.eval()
    model.module = module
    model._marginal_prior = (
        tensors["marginal_prior.mu"].clone(),
        tensors["marginal_prior.logvar"].clone(),
    )
    return model


def save_model(
    model: MultiModalModel, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """:meth:`MultiModalModel.save`."""
    state = array_state(model)
    features = model._features
    registry = {
        "modalities": list(model.modalities_),
        "feature_names": model.feature_names_,
        "components": list(model.components_),
        "control": model.control_,
        "trained_doses": None
        if model.trained_doses_ is None
        else {c: list(v) for c, v in model.trained_doses_.items()},
        "featuriser": None
        if features is None and model.feature_hash_ is None
        else {
            "name": None if features is None else features.name,
            "content_hash": model.feature_hash_,
        },
    }
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "config": state["config"],
        "vae": state["meta"],
    }
    return write_model_dir(
        path,
        meta=meta,
        registry=json.dumps(registry, indent=1),
        tensors=state["tensors"],
        overwrite=overwrite,
    )


def load_model(cls: type[MultiModalModel], path: str | os.PathLike[str]) -> MultiModalModel:
    """:meth:`MultiModalModel.load`."""
    meta, registry_text, tensors = read_model_dir(
        path,
        format=_FORMAT,
        versions=(1, _FORMAT_VERSION),
        writer="MultiModalModel.save",
        registry_since=2,
    )
    try:
        registry = meta if registry_text is None else json.loads(registry_text)
    except json.JSONDecodeError as err:
        raise ModelDirectoryError(f"{path}/registry.json is corrupt ({err}).") from None
    state = {"config": meta["config"], "meta": meta["vae"], "tensors": tensors}
    model = from_array_state(cls, state)
    model.modalities_ = tuple(registry["modalities"])
    model.feature_names_ = {m: list(v) for m, v in registry["feature_names"].items()}
    model.components_ = tuple(registry["components"])
    model.control_ = registry["control"]
    doses = registry.get("trained_doses")  # absent from directories saved before
    model.trained_doses_ = (
        None if doses is None else {str(c): tuple(map(float, v)) for c, v in doses.items()}
    )
    feat = registry.get("featuriser")
    model.feature_hash_ = None if feat is None else feat["content_hash"]
    return model
