"""Figures of the HTML report: latent maps, dose-response curves, calibration, active-learning
curves and screen hits. Each function takes arrays and returns a :class:`~matplotlib.figure.Figure`
(object-oriented API only: no pyplot state, no GUI backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._figures import LEGEND_FONTSIZE, _figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "active_learning_curves",
    "dose_curves",
    "latent_map",
    "pca_2d",
    "plain_text",
    "reliability_plot",
    "screen_bars",
]

_OTHER = "other"


def plain_text(value: object) -> str:
    """``value`` as text matplotlib draws literally (``$`` would start mathtext)."""
    return str(value).replace("$", r"\$")


def _legend(value: object) -> str:
    # matplotlib drops legend entries whose label starts with "_"; a leading space keeps them.
    text = plain_text(value)
    return " " + text if text.startswith("_") else text


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of the rows of ``x`` (numpy SVD, centred).

    Parameters
    ----------
    x
        ``(n, d)`` matrix.

    Returns
    -------
    coords
        ``(n, 2)`` scores; a component the data cannot support (``n < 3`` or ``d < 2``) is 0.
    explained
        Fraction of the total variance carried by each of the two components.

    Examples
    --------
    >>> coords, explained = pca_2d(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.1]]))
    >>> coords.shape, bool(explained[0] > 0.9)
    ((3, 2), True)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"pca_2d needs a 2-D matrix, got shape {x.shape}.")
    coords = np.zeros((x.shape[0], 2))
    explained = np.zeros(2)
    if x.shape[0] < 2 or x.shape[1] == 0:
        return coords, explained
    centred = x - x.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(2, s.size)
    coords[:, :k] = u[:, :k] * s[:k]
    total = float(np.sum(s**2))
    if total > 0:
        explained[:k] = s[:k] ** 2 / total
    return coords, explained


def latent_map(
    x: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    max_groups: int = 10,
    max_labels: int = 25,
    title: str = "",
) -> Figure:
    """Rows of ``x`` on their first two principal components.

    Parameters
    ----------
    x
        ``(n, d)`` latent vectors (cells or perturbation embeddings).
    groups
        A category per row used for colour; the ``max_groups`` most frequent keep their own
        colour, the rest are drawn grey as ``"other"``.
    labels
        A text label per row. Rows are labelled from the farthest from the centre inwards, each
        label at the first of a few positions around its point where it overlaps no label
        already placed and stays inside the axes; rows whose label fits nowhere stay unlabelled,
        and at most ``max_labels`` are labelled, so dense maps stay readable.
    """
    coords, explained = pca_2d(x)
    n = coords.shape[0]
    fig = _figure(figsize=(6.4, 5.0))
    ax = fig.subplots()
    size = 6 if n > 2000 else 14 if n > 200 else 30
    if groups is not None:
        if len(groups) != n:
            raise ValueError(f"latent_map: {len(groups)} groups for {n} rows.")
        names = np.asarray([str(g) for g in groups], dtype=object)
        values, counts = np.unique(names, return_counts=True)
        keep = list(values[np.argsort(-counts, kind="stable")][:max_groups])
        if len(values) > max_groups:
            rest = ~np.isin(names, keep)
            ax.scatter(
                coords[rest, 0], coords[rest, 1], s=size, c="#bbbbbb", alpha=0.5, label=_OTHER, lw=0
            )
        for name in sorted(keep):
            rows = names == name
            ax.scatter(
                coords[rows, 0], coords[rows, 1], s=size, alpha=0.7, lw=0, label=_legend(name)
            )
        ax.legend(fontsize=LEGEND_FONTSIZE, markerscale=1.5, loc="best", framealpha=0.8)
    else:
        ax.scatter(coords[:, 0], coords[:, 1], s=size, alpha=0.8, color="#4c72b0", lw=0)
    if labels is not None and len(labels) != n:
        raise ValueError(f"latent_map: {len(labels)} labels for {n} rows.")
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}% of variance)")
    ax.set_title(plain_text(title), fontsize=10)
    fig.tight_layout()
    if labels is not None and n and max_labels > 0:
        # Labels are placed after the layout is final: their offsets are in points, so a later
        # change of the axes' size would move them against each other.
        order = np.argsort(-np.linalg.norm(coords, axis=1), kind="stable")[: 8 * max_labels]
        _place_labels(ax, coords[order], [labels[i] for i in order], max_labels=max_labels)
    return fig


# Candidate positions of a label around its point: (dx, dy) in points, alignment.
_SPOTS = (
    (3, 3, "left", "bottom"),
    (-3, 3, "right", "bottom"),
    (3, -3, "left", "top"),
    (-3, -3, "right", "top"),
    (5, 0, "left", "center"),
    (-5, 0, "right", "center"),
    (0, 5, "center", "bottom"),
    (0, -5, "center", "top"),
)


def _place_labels(ax: Any, xy: np.ndarray, labels: Sequence[str], *, max_labels: int) -> None:
    """Greedily label the points ``xy`` in order, skipping a label that fits nowhere."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = ax.figure
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())  # freeze the view: labels must not rescale it
    ax.set_ylim(ax.get_ylim())
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []
    for point, label in zip(xy, labels, strict=True):
        if len(placed) == max_labels:
            break
        for dx, dy, ha, va in _SPOTS:
            text = ax.annotate(
                plain_text(label),
                point,
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=LEGEND_FONTSIZE,
            )
            box = text.get_window_extent(renderer)
            inside = (
                box.x0 >= frame.x0
                and box.x1 <= frame.x1
                and box.y0 >= frame.y0
                and box.y1 <= frame.y1
            )
            if inside and not any(_overlap(box, other) for other in placed):
                placed.append(box)
                break
            text.remove()


def _overlap(a: Any, b: Any, pad: float = 1.0) -> bool:
    """Whether two display-space boxes overlap or come closer than ``pad`` pixels."""
    return not (
        a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0
    )


def dose_curves(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, Sequence[str]]],
    *,
    top: int = 8,
    max_cols: int = 3,
) -> Figure:
    """Change of the ``top`` most dose-responsive genes against log10 dose, one panel each.

    Parameters
    ----------
    panels
        ``(title, doses (k,), predicted profiles (k, n_genes), gene names)`` per perturbation.
        Each curve is drawn relative to its value at the lowest dose; genes are ranked by the
        range of their curve.
    """
    n = len(panels)
    if n == 0:
        raise ValueError("dose_curves needs at least one panel.")
    cols = min(max_cols, n)
    rows = int(np.ceil(n / cols))
    fig = _figure(figsize=(3.5 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (title, doses, values, genes) in zip(axes.ravel(), panels, strict=False):
        doses = np.asarray(doses, dtype=float)
        values = np.asarray(values, dtype=float)
        order = np.argsort(doses)
        doses, values = doses[order], values[order]
        change = values - values[:1]
        best = np.argsort(-np.ptp(change, axis=0), kind="stable")[:top]
        logd = np.log10(doses)
        for g in best:
            ax.plot(logd, change[:, g], lw=1.4, label=_legend(genes[g]))
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(plain_text(title), fontsize=9)
        ax.set_xlabel("log10 dose")
        ax.set_ylabel("predicted change vs lowest dose")
        ax.legend(fontsize=LEGEND_FONTSIZE, loc="best", framealpha=0.8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def reliability_plot(
    nominal: Sequence[float] | np.ndarray,
    empirical: Sequence[float] | np.ndarray,
    *,
    title: str = "",
) -> Figure:
    """Empirical coverage of central predictive intervals against their nominal level.

    Points on the diagonal are calibrated; below it the intervals are too narrow
    (over-confident), above it too wide.
    """
    nom = np.asarray(nominal, dtype=float)
    emp = np.asarray(empirical, dtype=float)
    if nom.shape != emp.shape:
        raise ValueError(f"reliability_plot: {nom.shape} nominal vs {emp.shape} empirical.")
    fig = _figure(figsize=(4.6, 4.4))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="ideal")
    ax.plot(nom, emp, marker="o", color="#4c72b0", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal coverage of central interval")
    ax.set_ylabel("empirical coverage")
    ax.set_title(plain_text(title), fontsize=10)
    ax.legend(fontsize=LEGEND_FONTSIZE + 1, loc="upper left")
    fig.tight_layout()
    return fig


def active_learning_curves(
    curves: Mapping[str, Sequence[float] | np.ndarray], *, xlabel: str = "cycle", title: str = ""
) -> Figure:
    """Cumulative hits found after each cycle, one line per strategy."""
    if not curves:
        raise ValueError("active_learning_curves needs at least one strategy.")
    fig = _figure(figsize=(5.6, 4.0))
    ax = fig.subplots()
    for name, hits in curves.items():
        y = np.asarray(hits, dtype=float)
        ax.plot(np.arange(1, y.size + 1), y, marker="o", ms=3, label=_legend(name))
    ax.set_xlabel(plain_text(xlabel))
    ax.set_ylabel("cumulative hits")
    ax.set_title(plain_text(title), fontsize=10)
    ax.legend(fontsize=LEGEND_FONTSIZE + 1, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def screen_bars(
    labels: Sequence[str],
    scores: Sequence[float],
    *,
    errors: Sequence[float] | None = None,
    xlabel: str = "score",
    title: str = "",
) -> Figure:
    """Horizontal bars of the top screen hits (best on top), with ``errors`` as error bars."""
    vals = np.asarray(scores, dtype=float)
    if len(labels) != vals.size:
        raise ValueError(f"screen_bars: {len(labels)} labels for {vals.size} scores.")
    xerr = None
    if errors is not None:
        err = np.asarray(errors, dtype=float)
        if err.shape != vals.shape:
            raise ValueError(f"screen_bars: {err.shape} errors for {vals.shape} scores.")
        xerr = np.where(np.isfinite(err), np.abs(err), 0.0)
    fig = _figure(figsize=(6.4, 0.32 * max(vals.size, 1) + 1.4))
    ax = fig.subplots()
    ys = np.arange(vals.size)
    ax.barh(ys, vals, xerr=xerr, color="#4c72b0", ecolor="#333333", capsize=2)
    ax.set_yticks(ys, [plain_text(x) for x in labels], fontsize=LEGEND_FONTSIZE)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel(plain_text(xlabel))
    ax.set_title(plain_text(title), fontsize=10)
    fig.tight_layout()
    return fig
