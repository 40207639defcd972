"""Figures (matplotlib is imported only when a figure is drawn)."""

from __future__ import annotations

from ._figures import delta_scatter, metric_bars

__all__ = ["delta_scatter", "metric_bars"]
