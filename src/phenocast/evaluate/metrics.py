"""The metrics under their earlier name: :mod:`phenocast.metrics` is their home.

``phenocast.evaluate.metrics.r2`` and ``from phenocast.evaluate.metrics import r2`` keep
working; new code imports :mod:`phenocast.metrics`.
"""

from __future__ import annotations

from ..metrics import *  # noqa: F403  (the same public names)
from ..metrics import __all__  # noqa: F401
