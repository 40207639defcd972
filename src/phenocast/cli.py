"""The ``phenocast`` command line: a thin layer over the package's own functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="phenocast",
    help="Forecast how cells respond to perturbations; benchmark models honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding the datasets (default: $PHENOCAST_DATA_DIR, else ~/.cache/phenocast).",
    ),
]


def _console():
    from rich.console import Console

    return Console()


def _fail(message: str) -> typer.Exit:
    _console().print(f"[bold red]error:[/bold red] {message}")
    return typer.Exit(code=2)


@app.command()
def datasets(data_dir: DataDir = None) -> None:
    """List the datasets phenocast can load, their provenance and whether they are present."""
    from rich.table import Table

    from .data import data_dir as resolve
    from .data import list_datasets

    frame = list_datasets(data_dir=data_dir)
    table = Table(title=f"Datasets in {resolve(data_dir)}", title_justify="left")
    for col in ("name", "kind", "present", "description", "source", "licence"):
        table.add_column(col, overflow="fold")
    for _, row in frame.iterrows():
        present = "[green]yes[/green]" if row["present"] else "[red]missing[/red]"
        table.add_row(
            row["name"], row["kind"], present, row["description"], row["source"], row["licence"]
        )
    _console().print(table)


@app.command()
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
    from .data import atomic_write_text
    from .evaluate import get_tasks, markdown_summary, rich_tables, run_benchmark

    try:
        tasks = get_tasks(task)
        from .evaluate import expand_models

        if model != "baselines":
            expand_models(model)  # fail fast on an unknown name
    except KeyError as err:
        raise _fail(str(err.args[0])) from None
    try:
        result = run_benchmark(tasks, model, data_dir=data_dir)
    except FileNotFoundError as err:
        raise _fail(str(err)) from None
    console = _console()
    for table in rich_tables(result, per_fold=per_fold):
        console.print(table)
    if json_path is not None:
        result.write_json(json_path)
        console.print(f"wrote {json_path}")
    if markdown is not None:
        atomic_write_text(markdown, markdown_summary(result))
        console.print(f"wrote {markdown}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path(
        "phenocast-report"
    ),
    data_dir: DataDir = None,
) -> None:
    """The main job: fit on real data, predict held-out conditions, compare with the
    baselines, and write a report folder (Markdown, JSON, figures)."""
    from .evaluate._demo import run_demo

    try:
        path = run_demo(out, data_dir=data_dir, console=_console())
    except FileNotFoundError as err:
        raise _fail(str(err)) from None
    _console().print(f"[bold green]report written to[/bold green] {path}")


@app.command()
def version() -> None:
    """Print the phenocast version."""
    from . import __version__

    typer.echo(__version__)


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
