"""``phenocast datasets``, ``phenocast convert`` and ``phenocast synthetic``: the datasets
phenocast can load, and data files larger than memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data import convert as convert_file
from ..data import synthetic as make_synthetic
from ._util import DataDir, check_output_file, console, defaults, failing

CONVERT = defaults(convert_file)
SYNTHETIC = defaults(make_synthetic)


def datasets(data_dir: DataDir = None) -> None:
    """List the datasets phenocast can load, their provenance and whether they are present."""
    from rich.table import Table

    from ..data import data_dir as resolve
    from ..data import list_datasets

    frame = list_datasets(data_dir=data_dir)
    table = Table(title=f"Datasets in {resolve(data_dir)}", title_justify="left")
    for col in ("name", "kind", "present", "description", "source", "licence"):
        table.add_column(col, overflow="fold")
    for _, row in frame.iterrows():
        present = "[green]yes[/green]" if row["present"] else "[red]missing[/red]"
        table.add_row(
            row["name"], row["kind"], present, row["description"], row["source"], row["licence"]
        )
    console().print(table)


def _summary(adata: Any, path: Path, started: float, *details: str) -> None:
    """One line: shape, storage, details, path and seconds; closes an .h5ad left open."""
    import scipy.sparse as sp

    storage = "CSR" if sp.issparse(adata.X[:1]) else "dense"
    what = ", ".join([storage, *details])
    console().print(
        f"wrote {adata.n_obs:,} × {adata.n_vars:,} ({what}) to {path} in "
        f"{time.perf_counter() - started:.1f} s"
    )
    if adata.isbacked:
        adata.file.close()


def convert(
    src: Annotated[Path, typer.Argument(help="An .h5ad file or an AnnData zarr store.")],
    dst: Annotated[Path, typer.Argument(help="The output: *.zarr (a directory) or *.h5ad.")],
    chunk_rows: Annotated[
        int, typer.Option(help="Rows per stored chunk of a dense output.")
    ] = CONVERT["chunk_rows"],
    shuffle: Annotated[
        bool,
        typer.Option(
            help="Write the rows in a seeded random order: pieces of rows in random order, "
            "mixed within windows of --block rows (see phenocast.data.convert)."
        ),
    ] = CONVERT["shuffle"],
    seed: Annotated[int, typer.Option(help="Seed of the shuffle.")] = CONVERT["seed"],
    layer: Annotated[
        str | None,
        typer.Option(help="Write this layer as X and no other matrix; default: X and every layer."),
    ] = CONVERT["layer"],
    sparse: Annotated[
        bool | None,
        typer.Option(
            "--sparse/--dense",
            help="Store CSR or dense chunks; default: as the source.",
            show_default=False,
        ),
    ] = CONVERT["sparse"],
    block: Annotated[
        int, typer.Option(help="Rows held in memory at once (bounds the memory used).")
    ] = CONVERT["block"],
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing output (once the new one is complete).")
    ] = CONVERT["overwrite"],
) -> None:
    """Rewrite a large .h5ad / zarr store block by block into the layout that trains fastest:
    chunked dense or CSR, optionally pre-shuffled."""
    if src.resolve() != dst.resolve():  # the library names that mistake itself
        check_output_file(dst, overwrite, option="DST")
    started = time.perf_counter()
    with failing(ValueError, FileExistsError):
        out = convert_file(
            src,
            dst,
            layer=layer,
            chunk_rows=chunk_rows,
            shuffle=shuffle,
            seed=seed,
            sparse=sparse,
            block=block,
            overwrite=overwrite,
            progress=True,
        )
    _summary(out, dst, started, f"shuffled, seed {seed}" if shuffle else "in order")


def synthetic(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The file to write: *.zarr (a directory) or *.h5ad.")
    ],
    cells: Annotated[
        int | None,
        typer.Option(
            help="About this many cells in all; default: "
            f"{SYNTHETIC['cells_per_condition']} per perturbed condition."
        ),
    ] = SYNTHETIC["n_cells"],
    genes: Annotated[int, typer.Option(help="Genes.")] = SYNTHETIC["n_genes"],
    perturbations: Annotated[
        int, typer.Option(help="Single perturbations (P0, P1, ...); some pairs are added.")
    ] = SYNTHETIC["n_perturbations"],
    cell_types: Annotated[int, typer.Option(help="Cell types.")] = SYNTHETIC["n_cell_types"],
    output: Annotated[str, typer.Option(help="counts or log-normalized.")] = SYNTHETIC["output"],
    seed: Annotated[int, typer.Option(help="Seed.")] = SYNTHETIC["seed"],
    block: Annotated[
        int, typer.Option(help="Cells generated and written at once (the values depend on it).")
    ] = SYNTHETIC["block"],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = SYNTHETIC[
        "overwrite"
    ],
) -> None:
    """Write a synthetic perturbation screen with known effects, generated block by block, so
    it can be larger than memory."""
    check_output_file(out, overwrite)
    started = time.perf_counter()
    with failing(ValueError, FileExistsError):
        adata = make_synthetic(
            n_cells=cells,
            n_genes=genes,
            n_perturbations=perturbations,
            n_cell_types=cell_types,
            output=output,  # type: ignore[arg-type]
            seed=seed,
            out=out,
            block=block,
            overwrite=overwrite,
        )
    _summary(adata, out, started, output)
