"""What every ``phenocast`` command shares: the console, the error exit, the data-dir option."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding the datasets (default: $PHENOCAST_DATA_DIR, else ~/.cache/phenocast).",
    ),
]


def console():
    from rich.console import Console

    return Console()


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned exit (code 2)."""
    console().print(f"[bold red]error:[/bold red] {message}")
    return typer.Exit(code=2)
