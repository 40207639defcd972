"""The report layer, above :mod:`phenocast.evaluate` and :mod:`phenocast.plot`: one
self-contained HTML page of a model, its benchmark, calibration, screen and design
(:func:`write_report`), and the demo that fits, scores and reports on real data
(:func:`run_demo`)."""

from __future__ import annotations

from ._demo import DEMO_MODELS, DEMO_TASKS, run_demo
from ._html import write_report

__all__ = ["DEMO_MODELS", "DEMO_TASKS", "run_demo", "write_report"]
