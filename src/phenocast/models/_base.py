"""The model protocol every phenocast model follows, configs, and the model registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from ..registries import NameRegistry

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from anndata import AnnData

    from ..data import Registry

__all__ = [
    "MODELS",
    "Config",
    "PerturbationModel",
    "UnsupportedConditionError",
    "create_model",
    "model_inputs",
    "model_names",
    "predict_rows",
    "register_model",
]


class UnsupportedConditionError(ValueError):
    """A model cannot predict a condition (e.g. a baseline that never saw a needed single)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Base of model configs: frozen, keyword-only, rejecting unknown keys."""

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None) -> Config:
        values = dict(values or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for {cls.__name__}; valid options: {sorted(fields)}."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class PerturbationModel(Protocol):
    """What the benchmark runner, screens and design loops need from a model.

    ``fit`` learns from registered training data; ``predict_mean`` returns, for each row of
    ``conditions`` (a DataFrame with the registry's perturbation / dose / time / covariate
    columns), the mean profile of ``controls`` under that condition. ``controls`` may be
    ``None`` for data without control cells (values already relative to control).
    """

    name: ClassVar[str]

    def fit(self, adata: AnnData) -> PerturbationModel: ...

    def predict_mean(self, controls: AnnData | None, conditions: pd.DataFrame) -> np.ndarray: ...


MODELS: NameRegistry[type] = NameRegistry("model", name_attr="name")
_M = TypeVar("_M", bound=type)


def register_model(name: str) -> Callable[[_M], _M]:
    """Class decorator adding a model to :data:`MODELS` under its command-line name (sets
    ``cls.name``; a name taken by another class is refused)."""
    return MODELS.register(name)


def model_inputs(cls: type) -> str:
    """What a model class learns from: ``"anndata"`` (a registered AnnData, the default) or
    another kind its class declares as ``inputs`` (``"multimodal"``)."""
    return str(getattr(cls, "inputs", "anndata"))


def model_names(*, inputs: str | None = None) -> list[str]:
    """Names of the registered models (importing the built-in ones first); with ``inputs``,
    only those learning from that kind of data (see :func:`model_inputs`)."""
    from . import baselines, compositional, multimodal  # noqa: F401  (registering imports)

    return [n for n, cls in MODELS.items() if inputs is None or model_inputs(cls) == inputs]


def create_model(name: str, registry: Registry, config: dict[str, Any] | None = None) -> Any:
    """Instantiate the model registered as ``name`` for ``registry``."""
    model_names()  # registers the built-in models
    cls = MODELS[name]
    if model_inputs(cls) != "anndata":
        raise TypeError(
            f"Model {name!r} learns from {cls.inputs} data, not a registry of one AnnData: "
            f"build it as {cls.__name__}(config) and call fit() on its data."
        )
    cfg_cls = getattr(cls, "config_class", Config)
    return cls(registry, cfg_cls.from_dict(config))


def accepted_options(method: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The keyword ``options`` that ``method`` accepts, the others left out: a wrapper or
    the runner passes ``extrapolate`` / ``cross_context`` only to a model that takes them (a
    baseline takes neither)."""
    import inspect

    accepted = inspect.signature(method).parameters
    return {k: v for k, v in options.items() if k in accepted}


def predict_rows(
    model: Any,
    controls: AnnData | None,
    conditions: pd.DataFrame,
    *,
    n_genes: int,
    reasons: dict[str, str] | None = None,
    extrapolate: bool = False,
) -> np.ndarray:
    """``model.predict_mean(controls, conditions)`` as ``(n, n_genes)`` float64, with NaN
    rows for the conditions the model cannot answer (:class:`UnsupportedConditionError`):
    after a table it refuses, it is asked condition by condition. ``reasons``, when given,
    receives each refused condition's index label → the error's message. ``extrapolate``
    reaches the models whose ``predict_mean`` checks doses against their trained range
    (:func:`~phenocast.models.check_dose_range`)."""
    import numpy as np

    options = accepted_options(model.predict_mean, {"extrapolate": True} if extrapolate else {})
    try:
        return np.asarray(model.predict_mean(controls, conditions, **options), dtype=np.float64)
    except UnsupportedConditionError:
        out = np.full((len(conditions), n_genes), np.nan)
        for i, label in enumerate(conditions.index):
            try:
                out[i] = model.predict_mean(controls, conditions.iloc[i : i + 1], **options)[0]
            except UnsupportedConditionError as err:
                if reasons is not None:
                    reasons[str(label)] = str(err)
        return out
