"""Figures (matplotlib is imported only when a figure is drawn)."""

from __future__ import annotations

from ._figures import delta_scatter, metric_bars
from ._report_figures import (
    active_learning_curves,
    dose_curves,
    latent_map,
    pca_2d,
    plain_text,
    reliability_plot,
    screen_bars,
)

__all__ = [
    "active_learning_curves",
    "delta_scatter",
    "dose_curves",
    "latent_map",
    "metric_bars",
    "pca_2d",
    "plain_text",
    "reliability_plot",
    "screen_bars",
]
