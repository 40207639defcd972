"""``phenocast screen``: every combination in silico, the top hits as CSV; with ``--shard I/N``
one shard of the screen, and ``phenocast screen-merge`` joins the shards into the hits CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..screen import ScreenError, merge, parse_shard, read_target, run
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

RUN = defaults(run)


def screen(
    model_dir: ModelDir,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Hits CSV to write (with --shard: the shard's .json)."),
    ],
    perturbations: Annotated[
        str | None,
        typer.Option(
            "--perturbations", "-p", help="Comma list or a file (one per line); default: all."
        ),
    ] = None,
    order: Annotated[int, typer.Option("--order", help="Largest combination size.")] = RUN[
        "max_order"
    ],
    min_order: Annotated[int, typer.Option(help="Smallest combination size.")] = RUN["min_order"],
    doses: Annotated[
        str | None, typer.Option(help="Comma list of doses; default: each one's trained doses.")
    ] = None,
    cell_type: Annotated[
        list[str] | None,
        typer.Option("--cell-type", help="Context value of the model's covariate; repeatable."),
    ] = None,
    controls: Annotated[
        Path | None, typer.Option(help="Start cells (.h5ad); default: the stored basal state.")
    ] = None,
    n_cells: Annotated[int, typer.Option(help="Start cells per context.")] = RUN["n_cells"],
    target: Annotated[
        Path | None, typer.Option(help="CSV: gene,value or gene,direction (up/down).")
    ] = None,
    score: Annotated[
        str | None,
        typer.Option(
            help="effect, target, target-distance, non-additivity or uncertainty "
            "(default: target with --target, else effect)."
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Hits kept.")] = RUN["top_k"],
    time: Annotated[float | None, typer.Option(help="Time point (models with time).")] = None,
    extrapolate: Annotated[
        bool, typer.Option(help="Allow doses outside the trained range (marked in the output).")
    ] = RUN["extrapolate"],
    seed: Annotated[int, typer.Option(help="Seed for sampling start cells.")] = RUN["seed"],
    max_conditions: Annotated[
        int,
        typer.Option(help="Refuse a larger screen before starting (0: no limit)."),
    ] = RUN["max_conditions"],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="I/N: screen only shard I of N (counted from 0) and write it as JSON for "
            "`phenocast screen-merge`; 'auto': RANK/WORLD_SIZE (torchrun)."
        ),
    ] = None,
) -> None:
    """Screen every combination in silico and write the top hits as CSV.

    A large screen can run as N processes, each with --shard I/N (I = 0 … N−1) and its own
    --out shards/I.json; `phenocast screen-merge shards/*.json --out hits.csv` then writes the
    same hits one process would. With a SLURM array (--array=0-(N−1)): --shard
    $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.
    """
    part = None
    if shard is not None:
        with failing(ScreenError, prefix="--shard: "):
            part = parse_shard(shard)
        if out.suffix != ".json":
            raise fail(
                f"--shard writes the shard's result as JSON for `phenocast screen-merge`; give "
                f"--out a .json file (e.g. shards/0.json), not {out}."
            )
    check_output_file(out, overwrite)
    model = load_model(model_dir)
    names = read_list(perturbations, "perturbations") if perturbations else None
    dose_list = None
    if doses is not None:
        try:
            dose_list = [float(d) for d in read_list(doses, "doses")]
        except ValueError:
            raise fail(f"--doses must be numbers separated by commas, got {doses!r}.") from None
    with failing(ScreenError):
        signature = read_target(target) if target is not None else None
    start = read_h5ad(controls, "controls") if controls is not None else None
    with failing(ScreenError):
        result = run(
            model,
            names,
            max_order=order,
            min_order=min_order,
            doses=dose_list,
            cell_types=cell_type,
            controls=start,
            n_cells=n_cells,
            time=time,
            score=score or ("target" if signature is not None else RUN["score"]),  # type: ignore[arg-type]
            target=signature,
            top_k=top,
            extrapolate=extrapolate,
            seed=seed,
            shard=part,
            max_conditions=max_conditions or None,
            progress=True,
        )
    if part is None:
        result.to_csv(out)
    else:
        result.write_json(out)
    console().print(result.summary())
    console().print(f"wrote {len(result.hits)} hits to {out}")


def screen_merge(
    shards: Annotated[
        list[Path],
        typer.Argument(help="Every shard's .json from `phenocast screen --shard I/N`."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Hits CSV to write.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Merge the shards of a screen into its top hits CSV (as one process would write it).

    Refuses shards of different screens (naming what differs), a shard given twice and
    missing shards (naming their indices).
    """
    check_output_file(out, overwrite)
    with failing(ScreenError):
        result = merge(shards)
    result.to_csv(out)
    console().print(result.summary())
    console().print(f"wrote {len(result.hits)} hits to {out}")
