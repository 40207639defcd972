"""``phenocast multimodal``: fit, predict, generate and measure shared information across
several readouts of the same perturbations (a thin layer over :mod:`phenocast.multimodal`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._util import DataDir
from ._util import console as _console
from ._util import fail as _fail

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..multimodal import MultiModalData

app = typer.Typer(
    name="multimodal",
    help="Several readouts (RNA, morphology, proteins ...) of the same perturbations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataArg = Annotated[
    str,
    typer.Argument(
        help="A MuData file (.h5mu, one modality per readout) or a bundled dataset name "
        "(cmea_cdrp_u2os, cellbox_korkut2015)."
    ),
]
ModelDir = Annotated[Path, typer.Argument(help="Model directory written by `train`.")]
ConditionsCsv = Annotated[
    Path, typer.Option(help="CSV with 'perturbation' and 'dose' columns (A+B, 1+0.5).")
]
Perturbation = Annotated[str, typer.Option(help="obs column of perturbations.")]
Dose = Annotated[str | None, typer.Option(help="obs column of doses; omit for dose 1.")]
Control = Annotated[str | None, typer.Option(help="Control label, if the data have controls.")]


def _read_data(
    source: str,
    *,
    perturbation: str = "perturbation",
    dose: str | None = "dose",
    control: str | None = None,
    data_dir: Path | None = None,
) -> MultiModalData:
    from ..multimodal import DATASETS, MultiModalData, MultiModalDataError, load

    if source in DATASETS:
        try:
            return load(source, data_dir=data_dir)
        except FileNotFoundError as err:
            raise _fail(str(err)) from None
    path = Path(source)
    if not path.is_file():
        raise _fail(
            f"{source} is neither a file nor a bundled dataset ({', '.join(sorted(DATASETS))})."
        )
    import mudata

    try:
        with mudata.set_options(pull_on_update=False):  # keep obs as written, no pulled copies
            mdata = mudata.read_h5mu(path)
    except Exception as err:  # h5py / mudata raise many types for a bad file
        raise _fail(f"{path} is not a readable .h5mu file ({err}).") from None
    try:
        return MultiModalData.from_mudata(
            mdata, perturbation=perturbation, dose=dose, control=control
        )
    except (MultiModalDataError, ValueError) as err:
        raise _fail(f"{path}: {err}") from None


def _load_model(model_dir: Path):
    from ..multimodal import MultiModalModel

    try:
        return MultiModalModel.load(model_dir)
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None


def _read_conditions(path: Path) -> pd.DataFrame:
    """A CSV of conditions; without a ``dose`` column every component is at dose 1."""
    import pandas as pd

    if not path.is_file():
        raise _fail(f"conditions file {path} does not exist.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "dose" not in table.columns and "perturbation" in table.columns:
        table["dose"] = ["+".join(["1"] * len(p.split("+"))) for p in table["perturbation"]]
    return table


def _write_profiles(out: Path, mean: pd.DataFrame, var: pd.DataFrame) -> None:
    """Means as ``X`` and predictive variances as ``layers["variance"]``, written atomically."""
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
    atomic_write(out, lambda p: result.write_h5ad(p))
    _console().print(f"wrote {result.n_obs} × {result.n_vars} predicted profiles to {out}")


@app.command()
def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    perturbation: Perturbation = "perturbation",
    dose: Dose = "dose",
    control: Control = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON file of MultiModalConfig options.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override train.max_epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override train.seed.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Fit the multimodal model on every sample of DATA and write a model directory."""
    import json

    from ..multimodal import MultiModalConfig, MultiModalModel

    try:
        options = json.loads(config.read_text()) if config is not None else {}
        cfg = MultiModalConfig.from_dict(options)
        changes = {k: v for k, v in (("max_epochs", epochs), ("seed", seed)) if v is not None}
        cfg = cfg.with_train(progress=True, **changes)
    except FileNotFoundError:
        raise _fail(f"config file {config} does not exist.") from None
    except json.JSONDecodeError as err:
        raise _fail(f"config file {config} is not valid JSON ({err}).") from None
    except ValueError as err:
        raise _fail(str(err)) from None
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise _fail(f"{out} is not empty; pass --overwrite to replace it.")
    mm = _read_data(data, perturbation=perturbation, dose=dose, control=control, data_dir=data_dir)
    try:
        model = MultiModalModel(cfg).fit(mm)
    except ValueError as err:
        raise _fail(str(err)) from None
    model.save(out, overwrite=overwrite)
    h = model.history_
    assert h is not None  # set by fit
    counts = ", ".join(f"{m} {int(mm.mask(m).sum())}" for m in mm.modalities)
    console = _console()
    console.print(
        f"fitted on {len(mm)} samples ({counts}): {len(h.epochs)} epochs (best "
        f"{h.best_epoch}), {h.seconds:.1f} s"
    )
    console.print(f"[bold green]model written to[/bold green] {out}")


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
    perturbation: Perturbation = "perturbation",
    dose: Dose = "dose",
    control: Control = None,
    data_dir: DataDir = None,
) -> None:
    """Predict the TARGET readout of DATA's samples from their SOURCE readout(s).

    Writes an .h5ad: predictive means in X, predictive variances in layers["variance"]; one
    row per sample with a source measured.
    """
    model = _load_model(model_dir)
    mm = _read_data(data, perturbation=perturbation, dose=dose, control=control, data_dir=data_dir)
    from ..multimodal import MultiModalDataError

    try:
        mean, var = model.predict_modality(
            mm, source=source, target=target, use_perturbation=use_perturbation
        )
    except (MultiModalDataError, ValueError) as err:
        raise _fail(str(err)) from None
    except KeyError as err:  # an unknown readout
        raise _fail(str(err.args[0])) from None
    _write_profiles(out, mean, var)


@app.command()
def generate(
    model_dir: ModelDir,
    conditions: ConditionsCsv,
    target: Annotated[str, typer.Option("--target", "-t", help="Readout to generate.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad.")],
) -> None:
    """Generate the TARGET readout of perturbations from the perturbation alone.

    Any combination of trained components works, e.g. a drug pair never measured.
    """
    model = _load_model(model_dir)
    table = _read_conditions(conditions)
    try:
        mean, var = model.generate(table, target=target)
    except ValueError as err:
        raise _fail(f"{conditions}: {err}") from None
    except KeyError as err:  # an unknown readout
        raise _fail(str(err.args[0])) from None
    _write_profiles(out, mean, var)


@app.command()
def sample(
    model_dir: ModelDir,
    conditions: ConditionsCsv,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5mu.")],
    n_draws: Annotated[int, typer.Option(help="Draws per condition.")] = 100,
    seed: Annotated[int | None, typer.Option(help="Seed of the draws.")] = None,
) -> None:
    """Joint draws of every readout of the conditions (one latent per draw), as .h5mu."""
    import mudata

    from ..data import atomic_write

    model = _load_model(model_dir)
    table = _read_conditions(conditions)
    try:
        draws = model.sample(table, n_draws=n_draws, seed=seed)
    except ValueError as err:
        raise _fail(f"{conditions}: {err}") from None

    def write(path: Path) -> None:
        with mudata.set_options(pull_on_update=False):
            draws.write_h5mu(path)

    atomic_write(out, write)
    _console().print(
        f"wrote {n_draws} joint draws of {len(table)} condition(s) × "
        f"{', '.join(draws.mod)} to {out}"
    )


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
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 200,
    n_perm: Annotated[int, typer.Option(help="Permutations for a p-value (0: none).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of folds, bootstrap and permutations.")] = 0,
    perturbation: Perturbation = "perturbation",
    dose: Dose = "dose",
    control: Control = None,
    data_dir: DataDir = None,
) -> None:
    """Mutual information between readouts A and B, in nats.

    On the samples measured in both: the cross-fitted canonical-correlation estimate
    (gaussian_mi) with its bootstrap interval.
    """
    import numpy as np

    from ..multimodal import gaussian_mi

    if groups not in ("perturbation", "none"):
        raise _fail(f"--groups must be 'perturbation' or 'none', got {groups!r}.")
    mm = _read_data(data, perturbation=perturbation, dose=dose, control=control, data_dir=data_dir)
    for name, m in (("--a", a), ("--b", b)):
        if m not in mm.modalities:
            raise _fail(f"{name} {m!r} is not a readout of the data ({', '.join(mm.modalities)}).")
    both = mm.mask(a) & mm.mask(b)
    labels = np.array([c.perturbation for c in mm.conditions], dtype=object)[both]
    try:
        est = gaussian_mi(
            mm.matrix(a)[both],
            mm.matrix(b)[both],
            n_boot=n_boot,
            n_perm=n_perm,
            groups=labels if groups == "perturbation" else None,
            seed=seed,
        )
    except ValueError as err:
        raise _fail(str(err)) from None
    line = (
        f"I({a}; {b}) = {est.value:.3f} nats, 95 % CI [{est.ci_low:.3f}, {est.ci_high:.3f}] "
        f"on {est.n} samples ({est.details['n_groups']} groups), PCA components "
        f"{est.details['n_components'][0]}/{est.details['n_components'][1]}"
    )
    if "p_value" in est.details:
        line += f", permutation p = {est.details['p_value']:.3f}"
    _console().print(line)
