"""``phenocast train`` and ``phenocast predict``: the compositional model on an .h5ad."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._util import (
    CheckpointDir,
    ModelDir,
    Resume,
    check_output_file,
    console,
    fail,
    failing,
    interrupted,
    load_model,
    read_config,
    read_h5ad,
    refuse_to_overwrite,
)


def train(
    data: Annotated[Path, typer.Argument(help="Training data (.h5ad).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    perturbation: Annotated[
        str, typer.Option(help="obs column of perturbations.")
    ] = "perturbation",
    control: Annotated[
        str | None, typer.Option(help="Control label; omit for data already relative to control.")
    ] = "control",
    dose: Annotated[str | None, typer.Option(help="obs column of doses.")] = None,
    time: Annotated[str | None, typer.Option(help="obs column of times.")] = None,
    covariate: Annotated[
        list[str] | None, typer.Option("--covariate", "-c", help="obs column; repeatable.")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer to model instead of X.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON file of CompositionalConfig options.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override train.max_epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override train.seed.")] = None,
    features: Annotated[
        str | None,
        typer.Option(
            help="Perturbation featuriser (go_svd, spectral, random_walk, graph_smooth, "
            "morgan ...), so perturbations absent from the data can be predicted; reads its "
            "prior from PHENOCAST_DATA_DIR."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
    checkpoint_dir: CheckpointDir = None,
    resume: Resume = False,
) -> None:
    """Register an .h5ad and fit the compositional model; write a model directory.

    Ctrl-C stops training and writes no model directory; with --checkpoint-dir the last
    finished epoch is kept there, and the same command with --resume continues from it.
    """
    from ..data import register
    from ..models import Compositional, CompositionalConfig
    from ..train import TrainingError, TrainingInterrupted

    cfg = read_config(
        CompositionalConfig,
        config,
        epochs=epochs,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        features=features,
    )
    refuse_to_overwrite(out, overwrite)
    adata = read_h5ad(data, "training data")
    with failing(ValueError):
        reg = register(
            adata,
            perturbation=perturbation,
            control=control,
            dose=dose,
            time=time,
            covariates=tuple(covariate or ()),
            layer=layer,
        )
    try:
        # data the model cannot learn, a failed run, a checkpoint that cannot be resumed
        with failing(ValueError, TrainingError):
            model = Compositional(reg, cfg).fit(adata)
    except TrainingInterrupted as err:
        raise interrupted(f"{err} The model directory {out} was not written.") from None
    with failing(RuntimeError, suffix=f" The model directory {out} was not written."):
        model.save(out, overwrite=overwrite)  # an anchor that could not train has no network
    h = model.history_
    assert h is not None  # set by fit
    printer = console()
    printer.print(
        f"fitted on {adata.n_obs} cells × {adata.n_vars} genes: {len(h.epochs)} epochs "
        f"(best {h.best_epoch}), {h.seconds:.1f} s, {h.cells_per_second:.0f} cells/s"
    )
    if model.anchor_ is not None:
        printer.print(f"anchored to {model.anchor_.baseline}: α = {model.anchor_.alpha}")
    printer.print(f"[bold green]model written to[/bold green] {out}")


def predict(
    model_dir: ModelDir,
    conditions: Annotated[
        Path, typer.Option(help="CSV: one row per condition (perturbation, dose, covariates).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad.")],
    controls: Annotated[
        Path | None,
        typer.Option(help="Cells to start from (.h5ad); without it, one mean row per condition."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    cross_context: Annotated[
        bool,
        typer.Option(
            help="Start a condition that names a covariate (e.g. cell_type) from every control "
            "cell, relabelled, instead of only the controls of that value."
        ),
    ] = False,
    extrapolate: Annotated[
        bool,
        typer.Option(
            help="Predict doses outside each perturbation's trained range (marked in the "
            "'extrapolated' column) instead of refusing them."
        ),
    ] = False,
    residual: Annotated[
        bool,
        typer.Option(
            help="Write realistic cells: each predicted mean plus its start cell's own residual "
            "(needs --controls; the means stay in layer 'mean')."
        ),
    ] = False,
) -> None:
    """Predict counterfactuals for the conditions of a CSV and write them as .h5ad.

    A condition naming a covariate value (e.g. cell_type K562) starts from the control cells
    of that value only; obs column source_<covariate> shows each start cell's own value.
    """
    import anndata as ad
    import pandas as pd

    from ..data import RegistrationError, atomic_write
    from ..models import DoseRangeError
    from ..train import DENSE_LIMIT_BYTES

    check_output_file(out, overwrite)
    model = load_model(model_dir)
    if not conditions.is_file():
        raise fail(f"conditions file {conditions} does not exist.")
    table = pd.read_csv(conditions, dtype=str, keep_default_na=False)
    reg = model.registry
    if reg.time_key is not None and reg.time_key in table:
        table[reg.time_key] = pd.to_numeric(table[reg.time_key])
    start = read_h5ad(controls, "controls") if controls is not None else None
    size = 0 if start is None else start.n_obs * len(table) * len(reg.var_names) * 4
    options = {"cross_context": cross_context, "extrapolate": extrapolate}
    if residual:
        if start is None:
            raise fail("--residual adds each start cell's residual: give --controls.")
        if size > DENSE_LIMIT_BYTES:
            raise fail(
                f"--residual holds the predictions in memory ({size / 2**30:.1f} GiB); "
                "predict fewer start cells or conditions at a time, or drop --residual."
            )
        options["residual"] = True
    with failing(RegistrationError, DoseRangeError):
        if size > DENSE_LIMIT_BYTES:  # too large to hold: written block by block
            result = model.predict(start, table, out=out, overwrite=True, **options)
            console().print(f"wrote {result.n_obs} predicted profiles to {out}")
            return
        if start is not None:
            result = model.predict(start, table, **options)
        else:
            mean = model.predict_mean(None, table, extrapolate=extrapolate)
            obs = table.copy()
            obs.index = [f"condition{i}" for i in range(len(obs))]
            if reg.dose_key is not None:
                obs["extrapolated"] = model.check_doses(table, extrapolate=True)
            result = ad.AnnData(mean, obs=obs, var=pd.DataFrame(index=list(reg.var_names)))
    atomic_write(out, lambda p: result.write_h5ad(p))
    console().print(f"wrote {result.n_obs} predicted profiles to {out}")
