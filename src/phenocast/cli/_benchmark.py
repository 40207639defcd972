"""``phenocast benchmark`` and ``phenocast demo``: models on the benchmark tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._util import DataDir, console, failing


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
    data_dir: DataDir = None,
) -> None:
    """Run models on the benchmark tasks of BENCHMARKS.md and print a table per task."""
    from ..data import atomic_write_text
    from ..evaluate import expand_models, get_tasks, markdown_summary, rich_tables, run_benchmark

    with failing(KeyError):
        tasks = get_tasks(task)
        if model != "baselines":
            expand_models(model)  # fail fast on an unknown name
    with failing(FileNotFoundError):
        result = run_benchmark(tasks, model, data_dir=data_dir)
    out = console()
    for table in rich_tables(result, per_fold=per_fold):
        out.print(table)
    if json_path is not None:
        result.write_json(json_path)
        out.print(f"wrote {json_path}")
    if markdown is not None:
        atomic_write_text(markdown, markdown_summary(result))
        out.print(f"wrote {markdown}")


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
) -> None:
    """The main job: fit on real data, predict held-out conditions, compare with the
    baselines, and write a report folder (HTML page, Markdown, JSON, figures)."""
    from ..report import run_demo

    with failing(FileNotFoundError):
        path = run_demo(
            out, data_dir=data_dir, console=console(), max_epochs=max_epochs, progress=not quiet
        )
    console().print(f"[bold green]report written to[/bold green] {path}")
