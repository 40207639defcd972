"""``phenocast design``: one lab cycle, the next batch of genes to measure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..design import DesignError, gene_priors, hit_curve, propose
from ._util import DataDir, check_output_file, console, defaults, fail, failing, read_list

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
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Also write the hits found so far per lab cycle (the results' optional "
            "'cycle' column) as JSON for `phenocast report --design`.",
        ),
    ] = None,
    hit_threshold: Annotated[
        float | None,
        typer.Option(
            help="A measured value at or above it is a hit in the --json curve "
            "(default: the top decile of the measured values)."
        ),
    ] = None,
    pairs: Annotated[
        bool,
        typer.Option(
            "--pairs",
            help="A combination screen: candidates and results name gene pairs 'A+B' (either "
            "order), featurised from their members' features (and --singles); the pair "
            "acquisitions strong-singles, pair-neighbours and pair-portfolio can be used.",
        ),
    ] = False,
    singles: Annotated[
        Path | None,
        typer.Option(help="With --pairs: CSV gene,value of the members' single results."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Propose the next batch of genes to measure, each with its prediction, uncertainty and
    the reason it was chosen. Candidates without features are listed and skipped."""

    from ..data import atomic_write_text, read_user_csv

    check_output_file(out, overwrite)
    if json_path is not None:
        check_output_file(json_path, overwrite, option="--json")
    names = read_list(f"@{candidates}", "candidates")
    with failing(ValueError):
        measured = read_user_csv(results, what="results")
    if singles is not None and not pairs:
        raise fail("--singles gives the members' results of gene pairs; it needs --pairs.")
    with failing(DesignError), failing(FileNotFoundError, suffix=" (or pass --features)."):
        feats, graph, essential = gene_priors(features, data_dir=data_dir)
    if pairs:  # the gene-level graph and essential genes say nothing about pairs
        with failing(DesignError, ValueError):
            feats, graph, essential = _pair_pool(names, measured, feats, singles), None, []
    with failing(DesignError, KeyError):
        batch = propose(
            names, measured, feats, mode=mode, batch_size=batch_size,  # type: ignore[arg-type]
            acquisition=acquisition, graph=graph, essential=essential, seed=seed,
        )  # fmt: skip
        curve = None if json_path is None else hit_curve(
            measured, strategy=str(batch["criterion"].iloc[0]), threshold=hit_threshold
        )  # fmt: skip
    con = console()
    skipped = batch.attrs["skipped"]
    if skipped:
        more = f" and {len(skipped) - 30} more" if len(skipped) > 30 else ""
        con.print(
            f"skipped {len(skipped)} candidate(s) with {batch.attrs['skipped_reason']}: "
            f"{', '.join(skipped[:30])}{more}",
            markup=False,
        )
    atomic_write_text(out, batch.to_csv(index=False))
    con.print(f"wrote {len(batch)} proposals ({batch['criterion'].iloc[0]}) to {out}")
    if curve is not None and json_path is not None:
        import json

        atomic_write_text(json_path, json.dumps(curve, indent=1) + "\n")
        con.print(f"wrote the hits per cycle to {json_path} (for `phenocast report --design`)")


def _pair_pool(names: list[str], measured: Any, feats: Any, singles: Path | None) -> Any:
    """The pairs of the candidates and the results, from the members' features."""
    import pandas as pd

    from ..data import read_user_csv
    from ..design import PairPool

    single = None
    if singles is not None:
        table = read_user_csv(singles, what="singles", error=DesignError)
        lacking = sorted({"gene", "value"} - set(table.columns))
        if lacking:
            raise DesignError(
                f"{singles} needs columns gene and value (one row per gene); it lacks {lacking}."
            )
        single = pd.Series(table["value"].to_numpy(), index=table["gene"].astype(str).str.strip())
    done = measured["gene"].astype(str).str.strip().tolist() if "gene" in measured else []
    return PairPool.covering([*names, *done], feats, singles=single)
