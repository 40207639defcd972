"""Figures for reports: predicted vs observed Δ, and metric bars per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["delta_scatter", "metric_bars"]


def _figure(**kw: Any) -> Figure:
    # The object-oriented API needs no pyplot state or GUI backend: safe in library code.
    from matplotlib.figure import Figure

    return Figure(**kw)


#: Smallest font size (points) of a legend or tick label: readable when the page scales the
#: figure down to its column width.
LEGEND_FONTSIZE = 8


def delta_scatter(
    panels: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    *,
    max_cols: int = 3,
) -> Figure:
    """Observed Δ (x) against each model's predicted Δ (y), one panel per condition (a grid of
    small multiples, ``max_cols`` wide).

    Parameters
    ----------
    panels
        ``(title, observed Δ, {model: predicted Δ})`` per condition.
    """
    n = len(panels)
    if n == 0:
        raise ValueError("delta_scatter needs at least one panel.")
    cols = min(max_cols, n)
    rows = int(np.ceil(n / cols))
    fig = _figure(figsize=(3.4 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (title, obs, preds) in zip(axes.ravel(), panels, strict=False):
        lim = float(np.max(np.abs(obs))) if obs.size else 1.0
        for name, pred in preds.items():
            r = np.corrcoef(obs, pred)[0, 1] if np.std(pred) > 0 and np.std(obs) > 0 else np.nan
            ax.scatter(obs, pred, s=5, alpha=0.6, label=f"{name} (r={r:.2f})")
            lim = max(lim, float(np.max(np.abs(pred))))
        ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8, ls="--")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("observed Δ")
        ax.set_ylabel("predicted Δ")
        ax.legend(fontsize=LEGEND_FONTSIZE, loc="upper left", framealpha=0.8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def metric_bars(
    values: Mapping[str, float],
    *,
    metric: str,
    title: str = "",
    ceiling: float | None = None,
    errors: Mapping[str, float] | None = None,
    xlabel: str | None = None,
) -> Figure:
    """Horizontal bars of one metric per model, with the noise ceiling as a dashed line.

    Parameters
    ----------
    values
        Model → value of ``metric``.
    metric
        The metric drawn; the x label unless ``xlabel`` is given.
    errors
        Model → half-width of its error bar (e.g. the standard deviation across folds); models
        without a finite error get no bar.
    """
    names = list(values)
    fig = _figure(figsize=(5.5, 0.45 * len(names) + 1.3))
    ax = fig.subplots()
    vals = [values[n] for n in names]
    xerr = None
    if errors is not None:
        err = np.array([errors.get(n, np.nan) for n in names], dtype=float)
        if np.isfinite(err).any():
            xerr = np.where(np.isfinite(err), np.abs(err), 0.0)
    ax.barh(names, vals, xerr=xerr, color="#4c72b0", ecolor="#333333", capsize=3)
    if ceiling is not None and np.isfinite(ceiling):
        ax.axvline(ceiling, color="#c44e52", ls="--", label=f"noise ceiling ({ceiling:.3f})")
        # Above the axes, right of the title: inside, it would hide the first bar.
        ax.legend(
            fontsize=LEGEND_FONTSIZE + 1,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            frameon=False,
            borderaxespad=0.2,
        )
    ax.set_xlabel(metric if xlabel is None else xlabel)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=LEGEND_FONTSIZE + 1)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
