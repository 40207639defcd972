"""``phenocast benchmark`` and ``phenocast demo``: models on the benchmark tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._util import DataDir, check_output_file, check_output_folder, console, failing


def benchmark(
    task: Annotated[
        str, typer.Option("--task", "-t", help="Task name, group, comma list or 'all'.")
    ] = "all",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Comma list of models, or 'baselines' for each task's own baselines.",
        ),
    ] = "baselines",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write all results (per condition) here.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the summary tables as Markdown.")
    ] = None,
    per_fold: Annotated[bool, typer.Option(help="Show per-fold rows.")] = True,
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            help="Comma list of yardsticks: 'means' (the task's metrics on condition means, "
            "always shown), 'cell-eval' (cell-eval's scores of the held-out cells, as "
            "ce:<metric> columns; needs the eval extra) and 'distributions' (energy distance "
            "and per-gene variance R² of the predicted vs the observed cells, as dist:energy "
            "and dist:var_r2 columns).",
        ),
    ] = "means",
    cell_eval_profile: Annotated[
        str, typer.Option(help="cell-eval's metric profile ('vcc': the challenge's).")
    ] = "vcc",
    cell_eval_ceiling: Annotated[
        bool, typer.Option(help="Also score cell-eval's data ceiling (the noise-ceiling row).")
    ] = True,
    dist_max_cells: Annotated[
        int,
        typer.Option(
            min=2,
            help="Cap on the cells of each side of an energy distance (a seeded subsample).",
        ),
    ] = 300,
    folds: Annotated[
        int | None, typer.Option(min=1, help="Keep only each task's first N folds.")
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option(min=1, help="Cap the compositional model's training epochs (a quick look)."),
    ] = None,
    data_dir: DataDir = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace existing --json / --markdown files.")
    ] = False,
) -> None:
    """Run models on the benchmark tasks of BENCHMARKS.md and print a table per task."""
    from ..data import atomic_write_text
    from ..evaluate import expand_models, get_tasks, markdown_summary, rich_tables, run_benchmark

    for option, path in (("--json", json_path), ("--markdown", markdown)):
        if path is not None:
            check_output_file(path, overwrite, option=option)
    with failing(KeyError):
        tasks = get_tasks(task)
        if model != "baselines":
            expand_models(model)  # fail fast on an unknown name
    with failing(ValueError, ImportError):
        scorer = _cell_eval_scorer(metrics, cell_eval_profile, ceiling=cell_eval_ceiling)
        dist = _distribution_scorer(metrics, max_cells=dist_max_cells)
    if folds is not None:
        from ..evaluate import first_folds

        tasks = [first_folds(t, folds) for t in tasks]
    overrides = (
        None if max_epochs is None else {"compositional": {"train": {"max_epochs": max_epochs}}}
    )
    with failing(FileNotFoundError):
        result = run_benchmark(
            tasks, model, data_dir=data_dir, overrides=overrides, on_fit=[scorer, dist]
        )
    out = console()
    if scorer is not None:
        scorer.attach(result)
        for name, why in scorer.unscored.items():
            out.print(f"[yellow]cell-eval did not score {name}:[/yellow] {why}")
    if dist is not None:
        dist.attach(result)
        for name, why in dist.unscored.items():
            out.print(f"[yellow]no distribution metrics for {name}:[/yellow] {why}")
    for table in rich_tables(result, per_fold=per_fold):
        out.print(table)
    if json_path is not None:
        result.write_json(json_path)
        out.print(f"wrote {json_path}")
    if markdown is not None:
        atomic_write_text(markdown, markdown_summary(result))
        out.print(f"wrote {markdown}")


_YARDSTICKS = ("means", "cell-eval", "distributions")
_PROFILES = ("vcc", "minimal", "full", "de", "anndata", "pds")


def _cell_eval_scorer(metrics: str, profile: str, *, ceiling: bool) -> Any:
    """A :class:`~phenocast.evaluate.CellEvalScorer` when ``metrics`` names cell-eval, else
    ``None``; an unknown yardstick or profile is a ValueError."""
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = [m for m in names if m not in _YARDSTICKS]
    if unknown:
        raise ValueError(f"Unknown --metrics {unknown}; choose from {', '.join(_YARDSTICKS)}.")
    if profile not in _PROFILES:
        raise ValueError(
            f"Unknown --cell-eval-profile {profile!r}; choose from {', '.join(_PROFILES)}."
        )
    if "cell-eval" not in names:
        return None
    from ..evaluate import CellEvalScorer

    return CellEvalScorer(profile=profile, ceiling=ceiling)  # type: ignore[arg-type]


def _distribution_scorer(metrics: str, *, max_cells: int) -> Any:
    """A :class:`~phenocast.evaluate.DistributionScorer` when ``metrics`` names
    distributions, else ``None`` (``metrics`` is checked by :func:`_cell_eval_scorer`)."""
    if "distributions" not in [m.strip() for m in metrics.split(",")]:
        return None
    from ..evaluate import DistributionScorer

    return DistributionScorer(max_cells=max_cells)


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path(
        "phenocast-report"
    ),
    data_dir: DataDir = None,
    max_epochs: Annotated[
        int | None,
        typer.Option(help="Cap the compositional model's training epochs (a quick look)."),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print only the result tables: no stage lines, no training progress.",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace the report files of an earlier demo in --out (report.html, "
            "report.md, results.json, figures/); other files there are left alone."
        ),
    ] = False,
) -> None:
    """The main job: fit on real data, predict held-out conditions, compare with the
    baselines, and write a report folder (HTML page, Markdown, JSON, figures).

    The folder may exist; a report already in it is replaced only with --overwrite. The
    report is written beside it and moved in once complete, so Ctrl-C leaves nothing partial.
    """
    import shutil
    import tempfile

    from ..report import run_demo

    check_output_folder(out, DEMO_FILES, overwrite)
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.absolute().parent))
    try:
        with failing(FileNotFoundError):
            run_demo(
                tmp,
                data_dir=data_dir,
                console=console(),
                max_epochs=max_epochs,
                progress=not quiet,
                shown_as=out,
            )
        _move_into(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    console().print(f"[bold green]report written to[/bold green] {out}")


#: What ``demo`` writes into its folder.
DEMO_FILES = ("report.html", "report.md", "results.json", "figures")


def _move_into(src: Path, dst: Path) -> None:
    """Move every file under ``src`` to the same place under ``dst`` (each by one rename,
    replacing a file of the same name); other files in ``dst`` stay."""
    import os

    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
