"""``phenocast report``: one self-contained HTML page of a model and its results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..report import write_report
from ._util import (
    ModelDir,
    check_output_file,
    console,
    defaults,
    fail,
    failing,
    load_model,
    read_h5ad,
    read_list,
)


def _read_json(path: Path | None, what: str) -> object:
    import json

    if path is None:
        return None
    if not path.is_file():
        raise fail(f"{what} file {path} does not exist.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise fail(f"{what} file {path} is not valid JSON ({err}).") from None


def report(
    model_dir: ModelDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    data: Annotated[
        Path | None, typer.Option(help="Cells (.h5ad) for the latent map (up to 5,000 used).")
    ] = None,
    benchmark_json: Annotated[
        Path | None, typer.Option("--benchmark", help="JSON from `phenocast benchmark --json`.")
    ] = None,
    screen_csv: Annotated[
        Path | None, typer.Option("--screen", help="Hits CSV from `phenocast screen`.")
    ] = None,
    design_json: Annotated[
        Path | None,
        typer.Option(
            "--design",
            help="JSON {strategy: \\[cumulative hits after each cycle]}, as "
            "`phenocast design --json` writes it.",
        ),
    ] = None,
    dose_response: Annotated[
        str | None, typer.Option(help="Comma list of perturbations for dose-response curves.")
    ] = None,
    title: Annotated[str, typer.Option(help="Page title.")] = defaults(write_report)["title"],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing HTML file.")] = False,
) -> None:
    """Write one self-contained HTML report of a model and its results."""
    import numpy as np

    from ..data import read_user_csv

    check_output_file(out, overwrite)
    model = load_model(model_dir)
    adata = None
    if data is not None:
        adata = read_h5ad(data, "data")
        if adata.n_obs > 5000:
            rows = np.sort(np.random.default_rng(0).choice(adata.n_obs, 5000, replace=False))
            adata = adata[rows].copy()
    hits = None
    if screen_csv is not None:
        with failing(ValueError):
            hits = read_user_csv(screen_csv, what="screen")
    names = read_list(dose_response, "dose-response perturbations") if dose_response else None
    with failing(TypeError, ValueError):
        path = write_report(
            out,
            title=title,
            model=model,
            adata=adata,
            dose_response=names,
            benchmark=_read_json(benchmark_json, "benchmark"),
            screen=hits,
            design=_read_json(design_json, "design"),
        )
    console().print(f"wrote {path}")
