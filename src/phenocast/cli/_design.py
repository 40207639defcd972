"""``phenocast design``: one lab cycle, the next batch of genes to measure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..design import DesignError, gene_priors, propose
from ._util import DataDir, console, defaults, fail, failing, read_list

PROPOSE = defaults(propose)


def design(
    candidates: Annotated[Path, typer.Option(help="Genes that could be measured, one per line.")],
    results: Annotated[Path, typer.Option(help="CSV of measurements so far: gene,value.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of the next batch.")],
    mode: Annotated[
        str, typer.Option(help="explore (information gain) or exploit (portfolio of strategies).")
    ] = PROPOSE["mode"],
    batch_size: Annotated[int, typer.Option(help="Genes to propose.")] = PROPOSE["batch_size"],
    acquisition: Annotated[
        str | None, typer.Option(help="Any registered acquisition, overriding --mode.")
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(help="CSV: gene + feature columns (default: GO features from the data dir)."),
    ] = None,
    data_dir: DataDir = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = PROPOSE["seed"],
) -> None:
    """Propose the next batch of genes to measure, each with its prediction, uncertainty and
    the reason it was chosen."""
    import pandas as pd

    from ..data import atomic_write_text

    names = read_list(f"@{candidates}", "candidates")
    if not results.is_file():
        raise fail(f"results file {results} does not exist.")
    measured = pd.read_csv(results)
    with failing(DesignError), failing(FileNotFoundError, suffix=" (or pass --features)."):
        feats, graph, essential = gene_priors(features, data_dir=data_dir)
    with failing(DesignError, KeyError):
        batch = propose(
            names, measured, feats, mode=mode, batch_size=batch_size,  # type: ignore[arg-type]
            acquisition=acquisition, graph=graph, essential=essential, seed=seed,
        )  # fmt: skip
    atomic_write_text(out, batch.to_csv(index=False))
    console().print(f"wrote {len(batch)} proposals ({batch['criterion'].iloc[0]}) to {out}")
