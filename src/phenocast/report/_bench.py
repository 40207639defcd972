"""The report's benchmark: one table per task leading with the headline metric, with the
spread across folds, and a bar chart of that same metric (error bars from the folds). The demo's
figure files are drawn by the same function, so the page and the files always agree."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics import HIGHER_IS_BETTER
from ._markup import Cell, _esc, _figure_html, _is_real, _num, _number_format, _slug, _table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__: list[str] = []

NOISE_CEILING = "noise-ceiling"
#: The metric every table leads with and every bar chart draws, when a task scores it.
LEAD_METRIC = "pearson_delta"
_LABELS = {
    "pearson_delta": "Pearson r of Δ",
    "pearson_delta_top100": "Pearson r of Δ, top 100 genes",
    "r2": "R² of profiles",
    "r2_top100": "R² of profiles, top 100 genes",
    "r2_delta": "R² of Δ",
    "mse_top20_deg": "MSE, top 20 DE genes",
    "l2": "L2 distance",
}


def lead_metric(metrics: Sequence[str]) -> str:
    """The metric a task's table leads with and its bar chart draws: Pearson r of Δ where the
    task scores it, else the task's first metric."""
    if not metrics:
        raise ValueError("a benchmark task needs at least one metric.")
    return LEAD_METRIC if LEAD_METRIC in metrics else metrics[0]


def metric_label(metric: str) -> str:
    """Axis label of ``metric``: its plain name with the column name, e.g.
    ``"Pearson r of Δ (pearson_delta)"``."""
    name = _LABELS.get(metric)
    return f"{name} ({metric})" if name else metric


def _stats(entry: Mapping[str, Any], metric: str) -> tuple[float, float, int]:
    """Mean, standard deviation across folds (NaN with fewer than two) and number of folds."""
    value = (entry.get("metrics") or {}).get(metric)
    if not isinstance(value, Mapping):
        mean = float(value) if isinstance(value, int | float) else math.nan
        return mean, math.nan, 0
    raw = value.get("mean")
    mean = float(raw) if isinstance(raw, int | float) else math.nan
    per_fold = value.get("per_fold") or {}
    folds = np.array([v for v in per_fold.values() if isinstance(v, int | float)], dtype=float)
    folds = folds[np.isfinite(folds)]
    sd = float(np.std(folds, ddof=1)) if folds.size > 1 else math.nan
    return mean, sd, len(per_fold)


def _n_folds(info: Mapping[str, Any]) -> int:
    folds = info.get("folds")
    if isinstance(folds, Sequence) and not isinstance(folds, str):
        return len(folds)
    return max(
        (_stats(e, m)[2] for e in info["models"].values() for m in (e.get("metrics") or {})),
        default=0,
    )


def _metrics(info: Mapping[str, Any]) -> list[str]:
    models: Mapping[str, Any] = info["models"]
    metrics = list(
        info.get("metrics") or sorted({k for e in models.values() for k in e.get("metrics", {})})
    )
    if not metrics:
        return []
    lead = lead_metric(metrics)
    return [lead, *(m for m in metrics if m != lead)]


def benchmark_bars(task: str, info: Mapping[str, Any]) -> tuple[Figure, str] | None:
    """The bar chart of a task's lead metric per model (noise ceiling dashed, error bars the
    standard deviation across folds), and that metric; ``None`` if no model scored it."""
    from ..plot import metric_bars, plain_text

    metrics = _metrics(info)
    if not metrics:
        return None
    metric = metrics[0]
    stats = {m: _stats(e, metric) for m, e in info["models"].items()}
    ok = {
        m: s
        for m, s in stats.items()
        if m != NOISE_CEILING
        and info["models"][m].get("status", "ok") == "ok"
        and math.isfinite(s[0])
    }
    if not ok:
        return None
    ceiling = stats.get(NOISE_CEILING, (math.nan, math.nan, 0))[0]
    fig = metric_bars(
        {plain_text(m): s[0] for m, s in ok.items()},
        metric=metric,
        xlabel=plain_text(metric_label(metric)),
        title=plain_text(task),
        ceiling=ceiling,
        errors={plain_text(m): s[1] for m, s in ok.items()},
    )
    return fig, metric


@dataclass
class _Cells:
    """A task's table before markup: metrics (lead first), models (the ceiling last), the text
    of each metric cell, and the best models per metric."""

    metrics: list[str]
    order: list[str]
    texts: dict[str, list[str]]
    best: dict[str, set[str]]
    n_folds: int


def _task_cells(info: Mapping[str, Any]) -> _Cells:
    models: Mapping[str, Any] = info["models"]
    metrics = _metrics(info)
    order = sorted(models, key=lambda m: m == NOISE_CEILING)
    stats = {m: {k: _stats(models[m], k) for k in metrics} for m in order}
    n_folds = _n_folds(info)
    best, texts = {}, {}
    for k in metrics:  # the best on each metric (ties at 3 decimals all count)
        sign = 1 if HIGHER_IS_BETTER.get(k, True) else -1
        scored = {
            m: round(sign * stats[m][k][0], 3)
            for m in order
            if m != NOISE_CEILING
            and models[m].get("status", "ok") == "ok"
            and math.isfinite(stats[m][k][0])
        }
        best[k] = {m for m, v in scored.items() if v == max(scored.values())}
        spec = _number_format(stats[m][k][0] for m in order)
        texts[k] = []
        for m in order:  # with several folds, the spread across them in the mean's format
            mean, sd, _ = stats[m][k]
            spread = n_folds > 1 and math.isfinite(mean) and math.isfinite(sd)
            texts[k].append(
                f"{_num(mean, spec)} ± {_num(sd, spec)}" if spread else _num(mean, spec)
            )
    return _Cells(metrics, order, texts, best, n_folds)


def _arrow(metric: str) -> str:
    return f"{metric} {'↑' if HIGHER_IS_BETTER.get(metric, True) else '↓'}"


def _spread_note(n_folds: int) -> str:
    return (
        f"Mean ± standard deviation across the {n_folds} folds "
        "(each fold's mean over its held-out conditions)."
    )


def markdown_tables(benchmark: Mapping[str, Any]) -> str:
    """The report's benchmark tables in Markdown: per task, the lead metric first, mean ± sd
    across folds where there are several, the best model per metric in bold."""
    out = []
    for task, info in benchmark["tasks"].items():
        c = _task_cells(info)
        if not c.metrics:
            continue
        models: Mapping[str, Any] = info["models"]
        head = f"**{task}**" + (f" — {info['description']}" if info.get("description") else "")
        if info.get("n_conditions") is not None:
            head += f", {info['n_conditions']} held-out conditions"
        arrows = " | ".join(map(_arrow, c.metrics))
        out += [
            head,
            "",
            f"| model | {arrows} | fit s | note |",
            "|---" * (len(c.metrics) + 3) + "|",
        ]
        for i, m in enumerate(c.order):
            cells = [f"**{c.texts[k][i]}**" if m in c.best[k] else c.texts[k][i] for k in c.metrics]
            note = str(models[m].get("note", "")).replace("|", "/").replace("\n", " ")
            fit = [v for v in (models[m].get("fit_seconds") or {}).values() if _is_real(v)]
            seconds = f"{sum(fit):.2f}" if fit else ""
            out.append(f"| {m} | " + " | ".join(cells) + f" | {seconds} | {note} |")
        out += ["", f"_{_spread_note(c.n_folds)}_", ""] if c.n_folds > 1 else [""]
    return "\n".join(out)


def _benchmark_task(task: str, info: Mapping[str, Any], figure_name: str) -> str:
    models: Mapping[str, Any] = info["models"]
    c = _task_cells(info)
    metrics, order, n_folds = c.metrics, c.order, c.n_folds
    columns: list[list[Cell]] = [
        [
            (t, "num best" if m in c.best[k] else "num")
            for t, m in zip(c.texts[k], order, strict=True)
        ]
        for k in metrics
    ]
    rows = []
    for i, m in enumerate(order):
        status, note = str(models[m].get("status", "ok")), str(models[m].get("note", ""))
        cells: list[Cell] = [(m, ""), *(col[i] for col in columns)]
        rows.append([*cells, (f"{status}: {note}" if note else status, "")])
    head = task + (f" — {info['description']}" if info.get("description") else "")
    if info.get("n_conditions") is not None:
        head += f" ({info['n_conditions']} held-out conditions)"
    arrows = [_arrow(k) for k in metrics]
    classes = ["ceiling" if m == NOISE_CEILING else "" for m in order]
    out = f"<h3>{_esc(head)}</h3>" + _table(
        ["model", *arrows, "status"], rows, row_classes=classes, name=figure_name
    )
    if n_folds > 1:
        out += f'<p class="note">{_esc(_spread_note(n_folds))}</p>'
    bars = benchmark_bars(task, info)
    if bars is None:
        return out
    fig, metric = bars
    caption = (
        f"Mean {metric_label(metric)} per model on {task}, the metric the table leads with; "
        "the dashed line is the noise ceiling"
        + (f"; error bars are ± one standard deviation across the {n_folds} folds" * (n_folds > 1))
        + "."
    )
    return out + _figure_html(fig, figure_name, caption)


def _benchmark_section(benchmark: Mapping[str, Any]) -> str:
    parts = [
        '<p class="note">Means over held-out conditions; the best model per metric is '
        "highlighted (noise ceiling excluded; ↑ higher is better, ↓ lower is better)."
        + (
            f" phenocast {_esc(benchmark['phenocast_version'])}, "
            f"Python {_esc(benchmark.get('python', '?'))}."
            if "phenocast_version" in benchmark
            else ""
        )
        + "</p>"
    ]
    used: set[str] = set()
    for task, info in benchmark["tasks"].items():
        name = f"benchmark-{_slug(task)}"
        while name in used:  # distinct task names may share a slug
            name += "-x"
        used.add(name)
        parts.append(_benchmark_task(str(task), info, name))
    return "".join(parts)
