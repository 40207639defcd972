"""``phenocast multimodal``: fit, predict, generate and measure shared information across
several readouts of the same perturbations (a thin layer over :mod:`phenocast.multimodal`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..multimodal import MultiModalData, MultiModalModel, gaussian_mi
from ._util import (
    CheckpointDir,
    DataDir,
    ModelDir,
    Resume,
    check_output_file,
    console,
    defaults,
    fail,
    failing,
    interrupted,
    new_app,
    read_config,
    refuse_to_overwrite,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

app = new_app(
    "multimodal", "Several readouts (RNA, morphology, proteins ...) of the same perturbations."
)

DataArg = Annotated[
    str,
    typer.Argument(
        help="A MuData file (.h5mu, one modality per readout) or a bundled dataset name "
        "(cmea_cdrp_u2os, cellbox_korkut2015)."
    ),
]
ConditionsCsv = Annotated[
    Path, typer.Option(help="CSV with 'perturbation' and 'dose' columns (A+B, 1+0.5).")
]
Perturbation = Annotated[str, typer.Option(help="obs column of perturbations.")]
Dose = Annotated[
    str | None,
    typer.Option(help="obs column of doses ('1+0.5' for a pair); --dose '' for dose 1 everywhere."),
]
Control = Annotated[str | None, typer.Option(help="Control label, if the data have controls.")]
Extrapolate = Annotated[
    bool,
    typer.Option(
        help="Allow doses outside each component's trained range (marked 'extrapolated') "
        "instead of refusing them."
    ),
]
MUDATA = defaults(MultiModalData.from_mudata)
SAMPLE = defaults(MultiModalModel.sample)
MI = defaults(gaussian_mi)


def _read_data(
    source: str, *, perturbation: str, dose: str | None, control: str | None, data_dir: Path | None
) -> MultiModalData:
    from ..multimodal import DATASETS, load

    dose = dose or None  # --dose '': no dose column, every component at dose 1
    if source in DATASETS:
        with failing(FileNotFoundError):
            data = load(source, data_dir=data_dir)
        if (perturbation, dose) == ("perturbation", "dose") and control in (None, data.control):
            return data
        import mudata

        # other columns of the bundled data: read them as from a file, so that a column
        # that does not exist is refused by name rather than ignored
        with mudata.set_options(pull_on_update=False):
            mdata = data.to_mudata()
        with failing(ValueError, prefix=f"{source}: "):
            data = MultiModalData.from_mudata(
                mdata,
                perturbation=perturbation,
                dose=dose,
                control=data.control if control is None else control,
            )
        return data
    path = Path(source)
    if not path.is_file():
        raise fail(
            f"{source} is neither a file nor a bundled dataset ({', '.join(sorted(DATASETS))})."
        )
    import mudata

    try:
        with mudata.set_options(pull_on_update=False):  # keep obs as written, no pulled copies
            mdata = mudata.read_h5mu(path)
    except Exception as err:  # h5py / mudata raise many types for a bad file
        raise fail(f"{path} is not a readable .h5mu file ({err}).") from None
    with failing(ValueError, prefix=f"{path}: "):
        data = MultiModalData.from_mudata(
            mdata, perturbation=perturbation, dose=dose, control=control
        )
    return data


def _load_model(model_dir: Path) -> MultiModalModel:
    with failing(FileNotFoundError, ValueError):
        model = MultiModalModel.load(model_dir)
    return model


def _read_conditions(path: Path, model: MultiModalModel) -> pd.DataFrame:
    """A CSV of conditions. Without a ``dose`` column every component is at dose 1, which
    only a model trained at dose 1 alone accepts."""
    import pandas as pd

    if not path.is_file():
        raise fail(f"conditions file {path} does not exist.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "dose" not in table.columns and "perturbation" in table.columns:
        if model.trained_with_doses:
            raise fail(
                f"{path} has no 'dose' column (columns: {', '.join(table.columns)}), but the "
                "model was trained at several doses, so a condition must state its own. Add "
                "a 'dose' column: one dose per component, e.g. 1 or 1+0.5 for a pair."
            )
        table["dose"] = ["+".join(["1"] * len(p.split("+"))) for p in table["perturbation"]]
    return table


def _write_profiles(
    out: Path, mean: pd.DataFrame, var: pd.DataFrame, *, extrapolated: Any = None
) -> None:
    """Means as ``X`` and predictive variances as ``layers["variance"]``, written atomically;
    ``extrapolated`` (one flag per row), when given, as an obs column."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    from ..data import atomic_write

    result = ad.AnnData(
        mean.to_numpy(dtype=np.float32),
        obs=pd.DataFrame(index=[str(i) for i in mean.index]),
        var=pd.DataFrame(index=[str(c) for c in mean.columns]),
        layers={"variance": var.to_numpy(dtype=np.float32)},
    )
    if extrapolated is not None:
        result.obs["extrapolated"] = np.asarray(extrapolated, dtype=bool)
    atomic_write(out, lambda p: result.write_h5ad(p))
    console().print(f"wrote {result.n_obs} × {result.n_vars} predicted profiles to {out}")


@app.command()
def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    perturbation: Perturbation = MUDATA["perturbation"],
    dose: Dose = MUDATA["dose"],
    control: Control = MUDATA["control"],
    config: Annotated[
        Path | None, typer.Option(help="JSON file of MultiModalConfig options.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override train.max_epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override train.seed.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
    checkpoint_dir: CheckpointDir = None,
    resume: Resume = False,
    data_dir: DataDir = None,
) -> None:
    """Fit the multimodal model on every sample of DATA and write a model directory.

    Ctrl-C stops training and writes no model directory; with --checkpoint-dir the last
    finished epoch is kept there, and the same command with --resume continues from it.
    """
    from ..multimodal import MultiModalConfig
    from ..train import TrainingInterrupted

    cfg = read_config(
        MultiModalConfig,
        config,
        epochs=epochs,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
    )
    refuse_to_overwrite(out, overwrite)
    mm = _read_data(data, perturbation=perturbation, dose=dose, control=control, data_dir=data_dir)
    try:
        with failing(ValueError):
            model = MultiModalModel(cfg).fit(mm)
    except TrainingInterrupted as err:
        raise interrupted(f"{err} The model directory {out} was not written.") from None
    model.save(out, overwrite=overwrite)
    h = model.history_
    assert h is not None  # set by fit
    counts = ", ".join(f"{m} {int(mm.mask(m).sum())}" for m in mm.modalities)
    printer = console()
    printer.print(
        f"fitted on {len(mm)} samples ({counts}): {len(h.epochs)} epochs (best "
        f"{h.best_epoch}), {h.seconds:.1f} s"
    )
    printer.print(f"[bold green]model written to[/bold green] {out}")


@app.command()
def predict(
    model_dir: ModelDir,
    data: DataArg,
    source: Annotated[
        list[str], typer.Option("--source", "-s", help="Readout(s) to predict from; repeatable.")
    ],
    target: Annotated[str, typer.Option("--target", "-t", help="Readout to predict.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad.")],
    use_perturbation: Annotated[
        bool,
        typer.Option(help="Also use each sample's perturbation prior (trained components only)."),
    ] = False,
    perturbation: Perturbation = MUDATA["perturbation"],
    dose: Dose = MUDATA["dose"],
    control: Control = MUDATA["control"],
    data_dir: DataDir = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Predict the TARGET readout of DATA's samples from their SOURCE readout(s).

    Writes an .h5ad: predictive means in X, predictive variances in layers["variance"]; one
    row per sample with a source measured.
    """
    check_output_file(out, overwrite)
    model = _load_model(model_dir)
    mm = _read_data(data, perturbation=perturbation, dose=dose, control=control, data_dir=data_dir)
    with failing(ValueError, KeyError):  # KeyError: an unknown readout
        mean, var = model.predict_modality(
            mm, source=source, target=target, use_perturbation=use_perturbation
        )
    _write_profiles(out, mean, var)


@app.command()
def generate(
    model_dir: ModelDir,
    conditions: ConditionsCsv,
    target: Annotated[str, typer.Option("--target", "-t", help="Readout to generate.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    extrapolate: Extrapolate = False,
) -> None:
    """Generate the TARGET readout of perturbations from the perturbation alone.

    Any combination of trained components works, e.g. a drug pair never measured, at doses
    within each component's trained range (--extrapolate allows others, marked in obs
    column 'extrapolated').
    """
    check_output_file(out, overwrite)
    model = _load_model(model_dir)
    table = _read_conditions(conditions, model)
    with failing(KeyError), failing(ValueError, prefix=f"{conditions}: "):
        flags = model.check_doses(table, extrapolate=extrapolate)
        mean, var = model.generate(table, target=target, extrapolate=extrapolate)
    _write_profiles(out, mean, var, extrapolated=flags)


@app.command()
def sample(
    model_dir: ModelDir,
    conditions: ConditionsCsv,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5mu.")],
    n_draws: Annotated[int, typer.Option(help="Draws per condition.")] = SAMPLE["n_draws"],
    seed: Annotated[int | None, typer.Option(help="Seed of the draws.")] = SAMPLE["seed"],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    extrapolate: Extrapolate = False,
) -> None:
    """Joint draws of every readout of the conditions (one latent per draw), as .h5mu."""
    import mudata

    from ..data import atomic_write

    check_output_file(out, overwrite)
    model = _load_model(model_dir)
    table = _read_conditions(conditions, model)
    with failing(ValueError, prefix=f"{conditions}: "):
        draws = model.sample(table, n_draws=n_draws, seed=seed, extrapolate=extrapolate)

    def write(path: Path) -> None:
        with mudata.set_options(pull_on_update=False):
            draws.write_h5mu(path)

    atomic_write(out, write)
    console().print(
        f"wrote {n_draws} joint draws of {len(table)} condition(s) × "
        f"{', '.join(draws.mod)} to {out}"
    )


def _informative(mm: MultiModalData, m: str, rows: np.ndarray) -> np.ndarray:
    """Readout ``m`` on ``rows`` without its constant features, which are named in a warning
    (a readout wholly constant is kept whole, for the estimator's own error)."""
    import numpy as np

    x = mm.matrix(m)[rows]
    const = (x == x[:1]).all(axis=0) if len(x) else np.zeros(x.shape[1], bool)
    if const.any() and not const.all():
        names = list(np.asarray(mm.feature_names(m))[const])
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        console().print(
            f"[bold yellow]warning:[/bold yellow] readout {m!r} has {len(names)} constant "
            f"feature(s) on these samples ({shown}); they carry no information and are left out."
        )
        return x[:, ~const]
    return x


@app.command()
def mi(
    data: DataArg,
    a: Annotated[str, typer.Option("--a", help="First readout.")],
    b: Annotated[str, typer.Option("--b", help="Second readout.")],
    groups: Annotated[
        str,
        typer.Option(
            help="'perturbation': samples of one perturbation (a drug's doses) are resampled "
            "together; 'none': every sample is independent."
        ),
    ] = "perturbation",
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = MI["n_boot"],
    n_perm: Annotated[int, typer.Option(help="Permutations for a p-value (0: none).")] = MI[
        "n_perm"
    ],
    seed: Annotated[int, typer.Option(help="Seed of folds, bootstrap and permutations.")] = MI[
        "seed"
    ],
    perturbation: Perturbation = MUDATA["perturbation"],
    dose: Dose = MUDATA["dose"],
    control: Control = MUDATA["control"],
    data_dir: DataDir = None,
) -> None:
    """Mutual information between readouts A and B, in nats.

    On the samples measured in both: the cross-fitted canonical-correlation estimate
    (gaussian_mi) with its bootstrap interval.
    """
    import numpy as np

    if groups not in ("perturbation", "none"):
        raise fail(f"--groups must be 'perturbation' or 'none', got {groups!r}.")
    mm = _read_data(data, perturbation=perturbation, dose=dose, control=control, data_dir=data_dir)
    for name, m in (("--a", a), ("--b", b)):
        if m not in mm.modalities:
            raise fail(f"{name} {m!r} is not a readout of the data ({', '.join(mm.modalities)}).")
    if a == b:
        raise fail(
            f"--a and --b are both {a!r}: a readout shares infinite information with itself; "
            "give two different readouts."
        )
    both = mm.mask(a) & mm.mask(b)
    labels = np.array([c.perturbation for c in mm.conditions], dtype=object)[both]
    views = {m: _informative(mm, m, both) for m in (a, b)}
    with failing(ValueError):
        est = gaussian_mi(
            views[a],
            views[b],
            n_boot=n_boot,
            n_perm=n_perm,
            groups=labels if groups == "perturbation" else None,
            seed=seed,
        )
    line = (
        f"I({a}; {b}) = {est.value:.3f} nats, 95 % CI [{est.ci_low:.3f}, {est.ci_high:.3f}] "
        f"on {est.n} samples ({est.details['n_groups']} groups), PCA components "
        f"{est.details['n_components'][0]}/{est.details['n_components'][1]}"
    )
    if "p_value" in est.details:
        line += f", permutation p = {est.details['p_value']:.3f}"
    console().print(line)
