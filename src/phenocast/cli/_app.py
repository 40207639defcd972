"""The ``phenocast`` application: each command group's module, assembled."""

from __future__ import annotations

import typer

from ._benchmark import benchmark, demo
from ._data import convert, datasets, synthetic
from ._design import design
from ._model import predict, train
from ._multimodal import app as multimodal_app
from ._report import report
from ._screen import screen, screen_merge
from ._util import new_app

app = new_app(
    "phenocast", "Forecast how cells respond to perturbations; benchmark models honestly."
)
app.add_typer(multimodal_app, name="multimodal")
for command in (
    datasets,
    convert,
    synthetic,
    benchmark,
    demo,
    train,
    predict,
    screen,
    screen_merge,
    report,
    design,
):
    app.command()(command)


@app.command()
def version() -> None:
    """Print the phenocast version."""
    from .. import __version__

    typer.echo(__version__)


def main() -> None:  # pragma: no cover - entry point
    app()
