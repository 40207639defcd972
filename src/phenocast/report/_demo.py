"""``phenocast demo``: the main job for a new user, on real data, written to a report folder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data import atomic_write, atomic_write_text
from ..evaluate import (
    NOISE_CEILING,
    BenchmarkResult,
    get_tasks,
    rich_tables,
    run_benchmark,
)
from ._bench import lead_metric, markdown_tables

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = ["DEMO_MODELS", "DEMO_TASKS", "run_demo"]

#: Two questions a new user asks first: unseen combinations, and an unseen cell type.
DEMO_TASKS = "norman-combos,kang-ood-celltype"
DEMO_MODELS = (
    "no-change,mean-shift,transfer,additive,entity-additive,linear,compositional[anchored]"
)


def _save_figure(fig: Any, path: Path) -> None:
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format=path.suffix.lstrip(".")))


def _figures(result: BenchmarkResult, out: Path) -> list[Path]:
    from ..plot import delta_scatter
    from ._bench import benchmark_bars

    written = []
    tasks = result.to_dict()["tasks"]
    for tr in result.tasks:
        # The bar chart of the report's page: the metric its table leads with, fold error bars.
        bars = benchmark_bars(tr.task.name, tasks[tr.task.name])
        metric = lead_metric(tr.task.metrics)
        if bars is not None:
            fig, metric = bars
            path = out / "figures" / f"{tr.task.name}_{metric}.png"
            _save_figure(fig, path)
            written.append(path)
        panels = _task_panels(tr, metric, n_conditions=10)
        fig = delta_scatter(panels)
        path = out / "figures" / f"{tr.task.name}_pred_vs_obs.png"
        _save_figure(fig, path)
        written.append(path)
    return written


def _task_panels(
    tr: Any, metric: str, *, n_conditions: int, prefix: str = ""
) -> list[tuple[str, np.ndarray, dict[str, np.ndarray]]]:
    """Observed vs predicted Δ of held-out conditions, for the two models with the best mean
    ``metric``: every fold's first condition, then more of each fold in turn, up to
    ``n_conditions`` (more when the task has more folds: every fold is shown)."""
    values = {
        n: r.mean(metric) for n, r in tr.models.items() if n != NOISE_CEILING and r.status == "ok"
    }
    ranked = sorted((n for n in values if np.isfinite(values[n])), key=lambda n: -values[n])
    per_fold = []
    for fold in tr.fold_data:
        items = []
        for g, group in enumerate(fold.groups):
            for i, label in enumerate(group.conditions.index):
                preds = {
                    n: tr.models[n].predictions[fold.name][g][i] - group.ctrl
                    for n in ranked[:2]
                    if fold.name in tr.models[n].predictions
                }
                several = len(tr.fold_data) > 1 and str(fold.name) not in str(label)
                title = f"{prefix}{fold.name} · {label}" if several else f"{prefix}{label}"
                items.append((title, group.truth[i] - group.ctrl, preds))
        per_fold.append(items)
    panels = []
    for depth in range(max(map(len, per_fold), default=0)):
        for items in per_fold:
            if depth < len(items) and (depth == 0 or len(panels) < n_conditions):
                panels.append(items[depth])
    return panels


def _heldout_panels(result: BenchmarkResult) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """The report's panels: six conditions per task (one per fold if it has more folds)."""
    return [
        panel
        for tr in result.tasks
        for panel in _task_panels(
            tr, lead_metric(tr.task.metrics), n_conditions=6, prefix=f"{tr.task.name}: "
        )
    ]


def _html_report(result: BenchmarkResult, out: Path, *, title: str) -> Path:
    import json

    from ._html import write_report

    bench = json.loads((out / "results.json").read_text())
    return write_report(
        out / "report.html", title=title, benchmark=bench, heldout=_heldout_panels(result)
    )


def _stages(console: Console, t0: float, enabled: bool) -> Callable[[str], None]:
    """A printer of one line per stage, stamped with the time since ``t0``."""

    def say(text: str) -> None:
        if enabled:
            stamp = f"[{time.perf_counter() - t0:6.1f} s]"
            console.print(f"{stamp} {text}", markup=False, highlight=False)

    return say


def run_demo(
    out: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    tasks: str = DEMO_TASKS,
    models: str = DEMO_MODELS,
    max_epochs: int | None = None,
    progress: bool = True,
    shown_as: str | os.PathLike[str] | None = None,
) -> Path:
    """Fit every model on real data, predict held-out conditions, score them beside the
    baselines and the noise ceiling, and write ``report.html`` (one self-contained page),
    ``report.md``, ``results.json`` and figures.

    Parameters
    ----------
    out
        The report folder.
    data_dir
        The datasets folder (default: ``$PHENOCAST_DATA_DIR``).
    console
        Where the stage lines and the result tables are printed (default: a new Rich console).
    tasks, models
        Comma lists of benchmark tasks and models.
    max_epochs
        Caps the compositional model's training (a quick look; the benchmark scripts never
        cap it).
    progress
        Print one line per stage (loading each task, fitting each model on each fold,
        scoring, writing the report), each with the time since the start, and show the
        compositional model's training progress; ``False`` prints only the result tables.
    shown_as
        The folder the stage lines name (default: ``out``): the CLI writes into a temporary
        folder beside the user's and moves the files in once complete.

    Returns
    -------
    Path
        ``out``.
    """
    from rich.console import Console

    console = console or Console()
    out = Path(out)
    t0 = time.perf_counter()
    say = _stages(console, t0, progress)
    console.print(f"[bold]phenocast demo[/bold]: tasks {tasks}; models {models}")
    train: dict[str, Any] = {} if progress else {"progress": False}
    if max_epochs is not None:
        train["max_epochs"] = max_epochs
    overrides = {"compositional": {"train": train}} if train else {}
    result = run_benchmark(
        get_tasks(tasks),
        models,
        data_dir=data_dir,
        progress=False,
        on_step=say,
        keep_predictions=True,
        overrides=overrides,
    )
    for table in rich_tables(result, per_fold=False):
        console.print(table)
    seconds = time.perf_counter() - t0
    shown = Path(shown_as) if shown_as is not None else out
    say(f"drawing the figures into {shown / 'figures'}")
    figures = _figures(result, out)
    say(f"writing results.json, report.html and report.md to {shown}")
    result.write_json(out / "results.json")
    _html_report(result, out, title=f"phenocast demo: {tasks}")
    lines = [
        "# phenocast demo report",
        "",
        f"Tasks: {tasks}. Models: {models}. Wall time {seconds:.1f} s.",
        "Each model was fitted on the training split and predicted the held-out conditions",
        "from control cells; metrics are on per-condition mean profiles (BENCHMARKS.md).",
        "The noise ceiling scores one random half of each held-out condition's cells",
        "against the other half.",
        "",
        markdown_tables(result.to_dict()),
        "## Figures",
        "",
        *[f"![{p.stem}](figures/{p.name})" for p in figures],
        "",
    ]
    atomic_write_text(out / "report.md", "\n".join(lines))
    say(f"done in {time.perf_counter() - t0:.0f} s")
    return out
