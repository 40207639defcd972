"""phenocast: forecast how cells respond to perturbations and design the next experiment.

Submodules are imported lazily so that ``import phenocast`` stays cheap: torch, scanpy and
matplotlib are only loaded when a model, a loader or a figure needs them.

Examples
--------
>>> import phenocast as pc
>>> reg = pc.data.register  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


__all__ = [
    "__version__",
    "data",
    "design",
    "evaluate",
    "featurize",
    "knowledge",
    "metrics",
    "models",
    "multimodal",
    "plot",
    "registries",
    "report",
    "screen",
    "train",
]
_SUBMODULES = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:  # pragma: no cover
    from . import (
        data,
        design,
        evaluate,
        featurize,
        knowledge,
        metrics,
        models,
        multimodal,
        plot,
        registries,
        report,
        screen,
        train,
    )


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'phenocast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
