"""One self-contained HTML page summarising a model and its results.

Figures are embedded as base64 PNG, the style sheet is inline, and the page holds no script and
no external address, so it can be mailed, archived or opened offline. Every section is optional.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data import RegistrationError, atomic_write_text
from ._bench import _benchmark_section
from ._inputs import (
    _check_adata,
    _check_benchmark,
    _check_calibration,
    _check_design,
    _check_dose_response,
    _check_heldout,
    _check_model,
    _check_screen,
)
from ._markup import Cell, _cells, _esc, _figure_html, _fmt, _format_column, _short, _table

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..models import Compositional

__all__ = ["write_report"]

Heldout = Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]]

#: Nominal levels of the central intervals in the calibration plot.
COVERAGE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
_MAX_CELLS = 5000  # cells drawn on the latent map (a seeded subsample of larger data)
_MAX_PANELS = 20
_MAX_SCREEN_ROWS = 100
_SCREEN_BARS = 20
_DOSE_POINTS = 25
# Columns phenocast's screen writes; any other text column is a context (e.g. cell_type).
_SCREEN_KNOWN = frozenset(
    "rank perturbation dose order score effect uncertainty non_additivity target_similarity "
    "target_distance extrapolated".split()
)

# What each argument adds, for the list of sections that were not provided.
_ARGUMENTS = {
    "model": "model summary and latent map of perturbations",
    "adata": "latent map of cells",
    "heldout": "predicted vs observed Δ per held-out condition",
    "dose_response": "dose-response curves",
    "benchmark": "benchmark table",
    "calibration": "calibration (interval coverage)",
    "design": "active-learning curves",
    "screen": "screen hits",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1.5rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.meta{color:#666;font-size:.9rem}nav ul{columns:2;font-size:.95rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.table-scroll{max-width:100%;overflow-x:auto;margin:.6rem 0 1rem}.table-scroll table{margin:0}
td{max-width:28rem;overflow-wrap:break-word}td.cut{cursor:help}
table[data-table="screen-hits"] td{white-space:nowrap}
td.best{font-weight:700;background:#e6f2e6}tr.ceiling td{color:#777;font-style:italic}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444;margin-top:.3rem}
.missing{background:#fafafa;border-left:4px solid #ccc;padding:.5rem 1rem}
.note{color:#666;font-size:.85rem}
"""


# ---------------------------------------------------------------------------- sections
def _kv_table(
    rows: Iterable[tuple[str, object]], header: tuple[str, str] = ("item", "value")
) -> str:
    return _table(header, [_cells(r) for r in rows])


def _model_section(model: Compositional) -> str:
    reg, hist = model.registry, model.history_
    summary: list[tuple[str, object]] = [
        ("perturbations (components)", len(reg.components)),
        ("trained perturbations", len(model.trained_components_)),
        ("conditions", reg.summary.get("n_conditions", len(reg.conditions))),
        ("genes", reg.n_vars),
        ("cells at registration", reg.summary.get("n_obs")),
        ("data kind / likelihood", f"{reg.x_kind} / {model.likelihood}"),
        ("control label", reg.control),
        ("dose / time column", f"{reg.dose_key or '—'} / {reg.time_key or '—'}"),
    ]
    for key in reg.covariate_keys:
        cats = reg.covariate_categories[key]
        more = f", … ({len(cats)} in all)" if len(cats) > 8 else ""
        summary.append((f"covariate {key}", ", ".join(cats[:8]) + more))
    if hist is not None:
        summary.append(("epochs trained (best)", f"{len(hist.epochs)} ({hist.best_epoch})"))
    cfg = model.config.to_dict()
    train = cfg.pop("train")
    config = [
        (k, ", ".join(map(str, v)) if isinstance(v, tuple | list) else v)
        for k, v in [*cfg.items(), *((f"train.{k}", v) for k, v in train.items())]
    ]
    parts = ["<h3>Registry</h3>", _kv_table(summary)]
    parts += ["<h3>Configuration</h3>", _kv_table(config, ("option", "value"))]
    if (a := model.anchor_) is not None:
        rows = [
            ("baseline", a.baseline),
            ("alpha", float(a.alpha)),
            ("held-out groups", a.n_groups),
        ]
        parts += [
            "<h3>Anchor</h3>",
            '<p class="note">Predictions are baseline + α (model − baseline).</p>',
            _kv_table(rows + ([("note", a.note)] if a.note else [])),
        ]
    return "".join(parts)


def _latent_section(model: Compositional, adata: AnnData | None) -> str:
    cells = "" if adata is None else _latent_cells(model, adata)
    return cells + _latent_perturbations(model)


def _latent_cells(model: Compositional, adata: AnnData) -> str:
    from ..plot import latent_map

    reg, n = model.registry, adata.n_obs
    if n > _MAX_CELLS:
        adata = adata[np.sort(np.random.default_rng(0).choice(n, _MAX_CELLS, replace=False))]
    try:
        z = model.latent(adata)
    except RegistrationError as err:
        raise ValueError(f"adata could not be encoded by the model: {err}") from None
    key = reg.covariate_keys[0] if reg.covariate_keys else "condition"
    groups = adata.obs[key] if reg.covariate_keys else reg.conditions_of(adata.obs)
    fig = latent_map(z, groups=groups.astype(str).tolist(), title=f"cells coloured by {key}")
    sub = f"a random {_MAX_CELLS} of {n}" if n > _MAX_CELLS else str(n)
    caption = (
        f"Basal latent of the cells ({sub} cells) on its first two principal components, "
        f"coloured by {key}. Perturbation information should be absent from this space."
    )
    return _figure_html(fig, "latent-cells", caption)


def _latent_perturbations(model: Compositional) -> str:
    from ..plot import latent_map

    comps = list(model.trained_components_)
    if len(comps) < 2 or model.module is None:
        return '<p class="note">Fewer than two trained perturbations: no embedding map.</p>'
    weight = model.module.pert_embedding.weight.detach().cpu().numpy()
    # Embedding row j belongs to the registry's j-th component.
    emb = weight[[model.registry.components.index(c) for c in comps]]
    fig = latent_map(emb, labels=comps, title="perturbation embeddings")
    n_labels = len(fig.axes[0].texts)
    caption = (
        f"Learned embeddings of the {len(comps)} trained perturbations on their first two "
        f"principal components; {n_labels} are labelled, from the farthest from the centre "
        "inwards, skipping any whose label would overlap another."
    )
    return _figure_html(fig, "latent-perturbations", caption)


def _heldout_section(panels: list[tuple[str, np.ndarray, dict[str, np.ndarray]]]) -> str:
    from ..plot import delta_scatter, plain_text

    shown = panels[:_MAX_PANELS]
    fig = delta_scatter(
        [(plain_text(t), o, {plain_text(k): v for k, v in p.items()}) for t, o, p in shown]
    )
    more = (
        f" The first {len(shown)} of {len(panels)} are shown." if len(panels) > len(shown) else ""
    )
    caption = (
        "Observed Δ (x) against predicted Δ (y) per gene for each held-out condition: "
        f"{', '.join(t for t, _, _ in shown)}. The dashed line is perfect prediction.{more}"
    )
    return _figure_html(fig, "heldout-scatter", caption)


def _dose_section(model: Compositional, names: list[str]) -> str:
    from ..plot import dose_curves

    reg = model.registry
    context = {k: reg.covariate_categories[k][0] for k in reg.covariate_keys}
    panels, notes = [], []
    for name in names:
        comps = reg.parse(name).components
        trained = [d for c in comps for d in model.trained_doses_.get(c, ()) if d > 0]
        if not trained:
            notes.append(f"{name}: no positive trained dose, so no curve.")
            continue
        lo, hi = min(trained), max(trained)
        if lo == hi:
            notes.append(f"{name} was trained at one dose ({lo:g}): the grid spans ±1 decade.")
            lo, hi = lo / 10, hi * 10
        grid = np.logspace(np.log10(lo), np.log10(hi), _DOSE_POINTS)
        # the grid may pass a component's own range (a pair's, or ±1 decade): the caption says so
        curve = model.dose_response(name, grid, extrapolate=True, **context)
        panels.append((name, grid, curve.to_numpy(), list(curve.columns)))
    if not panels:
        return "".join(f'<p class="note">{_esc(n)}</p>' for n in notes)
    where = ", ".join(f"{k}={v}" for k, v in context.items())
    caption = (
        f"Predicted dose-response of {', '.join(p[0] for p in panels)} over a log-spaced grid "
        "spanning each perturbation's trained dose range: the 8 genes that change most, "
        "relative to the lowest dose. "
        + (f"Context: {where} (the first category of each covariate). " if context else "")
        + " ".join(notes)
    )
    return _figure_html(dose_curves(panels), "dose-response", caption.strip())


def _calibration_section(arrays: dict[str, np.ndarray]) -> str:
    from ..metrics import interval_coverage, uncertainty_spearman
    from ..plot import reliability_plot

    mean, var, truth = (arrays[k].ravel() for k in ("mean", "variance", "truth"))
    ok = np.isfinite(mean) & np.isfinite(var) & np.isfinite(truth) & (var > 0)
    m, v, t = mean[ok], var[ok], truth[ok]
    coverage = [interval_coverage(m, v, t, level=lv) for lv in COVERAGE_LEVELS]
    rho = uncertainty_spearman(m, v, t) if ok.sum() >= 3 else float("nan")
    fig = reliability_plot(COVERAGE_LEVELS, coverage, title="interval coverage")
    dropped = (
        f" ({int((~ok).sum())} non-finite or non-positive-variance entries ignored)"
        if (~ok).any()
        else ""
    )
    caption = (
        f"Empirical coverage of central Gaussian predictive intervals against their nominal "
        f"level over {int(ok.sum())} values{dropped}; the dashed line is ideal calibration "
        "(below it: over-confident). Spearman ρ between predicted std and absolute error: "
        + ("undefined (constant input)." if math.isnan(rho) else f"{rho:.3f}.")
    )
    table = _table(
        ["nominal", *[f"{100 * lv:g}%" for lv in COVERAGE_LEVELS]],
        [[("empirical", ""), *((f"{100 * c:.1f}%", "num") for c in coverage)]],
    )
    return _figure_html(fig, "calibration", caption) + table


def _design_section(curves: dict[str, np.ndarray]) -> str:
    from ..plot import active_learning_curves

    fig = active_learning_curves(curves, title="hits found per cycle")
    final = ", ".join(f"{k}: {_fmt(v[-1])} after {v.size} cycles" for k, v in curves.items())
    caption = f"Cumulative hits found after each active-learning cycle, per strategy ({final})."
    return _figure_html(fig, "active-learning", caption)


def _screen_section(screen: pd.DataFrame) -> str:
    from ..plot import screen_bars

    if screen.empty:
        return '<p class="note">The screen returned no hits.</p>'
    frame = screen.sort_values("rank", kind="stable")
    columns = [c for c in frame.columns if not str(c).startswith("_")]
    contexts = [
        c for c in columns if c not in _SCREEN_KNOWN and not pd.api.types.is_numeric_dtype(frame[c])
    ]
    bars, top = frame.head(_SCREEN_BARS), frame.head(_MAX_SCREEN_ROWS)
    labels = [
        _short_label(
            str(r["perturbation"])
            + (f" @ {r['dose']}" if "dose" in bars.columns else "")
            + "".join(f" · {r[c]}" for c in contexts)
        )
        for _, r in bars.iterrows()
    ]
    errors, constant = None, None
    if "uncertainty" in frame.columns:
        values = frame["uncertainty"].to_numpy(float)
        constant = _constant(values)
        if constant is None and np.isfinite(values).any():
            errors = bars["uncertainty"].to_numpy(float)
    score_name = str(screen.attrs.get("score", "score"))
    fig = screen_bars(labels, bars["score"].to_numpy(float), errors=errors, xlabel=score_name)
    caption = f"Top {len(bars)} of {len(frame)} hits by {score_name}"
    if errors is not None:
        caption += "; error bars are the predicted uncertainty"
    if constant is not None:
        caption += (
            f"; no error bars: the uncertainty column is one value ({constant:.3g}) for every "
            "hit, because a single model has no uncertainty estimate of its own (the value is "
            "its noise level) — screen with an ensemble of models fitted with different seeds "
            "(phenocast.models.Ensemble) to get one"
        )
    if "extrapolated" in frame.columns:
        n_ext = int(frame["extrapolated"].astype(bool).sum())
        caption += f"; {n_ext} of {len(frame)} hits extrapolate beyond the trained doses"
    note = f"Top {len(top)} of {len(frame)} hits." if len(frame) > len(top) else ""
    return (
        _figure_html(fig, "screen-hits", caption + ".")
        + (f'<p class="note">{_esc(note)}</p>' if note else "")
        + _table([str(c) for c in columns], _screen_rows(top[columns]), name="screen-hits")
    )


def _short_label(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _constant(values: np.ndarray) -> float | None:
    """The one value of ``values`` if every finite entry equals it (to 1 part in 10⁶) and
    there are at least two; else ``None``."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return None
    scale = float(np.max(np.abs(finite)))
    return float(finite[0]) if float(np.ptp(finite)) <= 1e-6 * scale else None


def _screen_rows(frame: pd.DataFrame) -> list[list[Cell]]:
    """The screen table's cells: each numeric column in one format, long text cut (full text
    in the tooltip)."""
    columns: list[list[Cell]] = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col):
            columns.append([(_fmt(bool(v)), "") for v in col])
        elif pd.api.types.is_numeric_dtype(col):
            columns.append([(t, "num") for t in _format_column(col.tolist())])
        else:
            columns.append([_short(str(v)) for v in col])
    return [list(row) for row in zip(*columns, strict=True)]


# ---------------------------------------------------------------------------- page
def write_report(
    path: str | os.PathLike[str],
    *,
    title: str = "phenocast report",
    model: Compositional | None = None,
    adata: AnnData | None = None,
    heldout: Heldout | None = None,
    dose_response: Sequence[str] | None = None,
    benchmark: Mapping[str, Any] | object = None,
    screen: pd.DataFrame | None = None,
    calibration: Mapping[str, np.ndarray] | None = None,
    design: Mapping[str, Sequence[float]] | object = None,
) -> Path:
    """Write one self-contained HTML page summarising a model and its results.

    Figures are embedded PNG images and the style sheet is inline: the page has no script and
    loads nothing from elsewhere. Each section appears only when its input is given; the page
    lists the sections that were not provided. Inputs are all checked before anything is drawn.

    Parameters
    ----------
    path
        The ``.html`` file to write (atomically; parent directories are created).
    title
        Page title.
    model
        A fitted :class:`phenocast.models.Compositional`: registry and configuration summary,
        anchor choice, and a map of its perturbation embeddings.
    adata
        Cells registered like ``model.registry``: map of their basal latent (needs ``model``).
    heldout
        ``(label, observed Δ, {model name: predicted Δ})`` per held-out condition.
    dose_response
        Perturbation names whose predicted dose-response curves are drawn (needs ``model``).
    benchmark
        The dict of a ``run_benchmark`` JSON file (:meth:`BenchmarkResult.to_dict`).
    screen
        Screen hits: columns ``rank``, ``perturbation``, ``score`` and optionally ``dose``,
        ``uncertainty``, ``effect``, ``non_additivity``, ``extrapolated`` and context columns.
    calibration
        Arrays ``"mean"``, ``"variance"`` and ``"truth"`` of one shape: coverage of central
        Gaussian intervals against their nominal level.
    design
        Strategy → cumulative number of hits after each active-learning cycle.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError, ValueError
        An input of the wrong type or shape; the message names the argument.
    """
    model = None if model is None else _check_model(model)
    cells = None if adata is None else _check_adata(adata, model)
    panels = None if heldout is None else _check_heldout(heldout)
    doses = None if dose_response is None else _check_dose_response(dose_response, model)
    bench = None if benchmark is None else _check_benchmark(benchmark)
    calib = None if calibration is None else _check_calibration(calibration)
    curves = None if design is None else _check_design(design)
    hits = None if screen is None else _check_screen(screen)
    given = [model, cells, panels, doses, bench, calib, curves, hits]  # the order of _ARGUMENTS

    sections: list[tuple[str, str, str]] = []  # (id, heading, body html)
    if model is not None:
        sections.append(("model", "Model summary", _model_section(model)))
        sections.append(("latent", "Latent maps", _latent_section(model, cells)))
    if panels is not None:
        sections.append(("heldout", "Predicted vs observed", _heldout_section(panels)))
    if doses is not None and model is not None:
        sections.append(("dose-response", "Dose-response curves", _dose_section(model, doses)))
    if bench is not None:
        sections.append(("benchmark", "Benchmark", _benchmark_section(bench)))
    if calib is not None:
        sections.append(("calibration", "Calibration", _calibration_section(calib)))
    if curves is not None:
        sections.append(("design", "Active learning", _design_section(curves)))
    if hits is not None:
        sections.append(("screen", "Screen hits", _screen_section(hits)))
    missing = [arg for arg, value in zip(_ARGUMENTS, given, strict=True) if value is None]
    return atomic_write_text(Path(path), _page(title, sections, missing))


def _page(title: str, sections: list[tuple[str, str, str]], missing: list[str]) -> str:
    from .. import __version__

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="meta">Written by phenocast {_esc(__version__)} on {stamp}.</p></header>',
    ]
    if sections:
        out.append("<nav><ul>")
        out += [f'<li><a href="#{sid}">{_esc(head)}</a></li>' for sid, head, _ in sections]
        if missing:
            out.append('<li><a href="#not-provided">Not provided</a></li>')
        out.append("</ul></nav>")
    for sid, head, body in sections:
        out.append(f'<section id="{sid}"><h2>{_esc(head)}</h2>{body}</section>')
    if missing:
        items = "".join(f"<li><code>{k}</code>: {_esc(_ARGUMENTS[k])}</li>" for k in missing)
        out.append(
            '<section id="not-provided" class="missing"><h2>Not provided</h2>'
            f"<p>These inputs were not given, so their sections are absent:</p><ul>{items}</ul>"
            "</section>"
        )
    out.append("</body></html>\n")
    return "\n".join(out)
