"""The ``phenocast`` command line: a thin layer over the package's own functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._multimodal import app as _multimodal_app
from ._util import DataDir
from ._util import console as _console
from ._util import fail as _fail

app = typer.Typer(
    name="phenocast",
    help="Forecast how cells respond to perturbations; benchmark models honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(_multimodal_app, name="multimodal")


@app.command()
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
    _console().print(table)


@app.command()
def benchmark(
    task: Annotated[
        str, typer.Option("--task", "-t", help="Task name, group, comma list or 'all'.")
    ] = "all",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Comma list of models, or 'baselines' for each task's own baselines.",
        ),
    ] = "baselines",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write all results (per condition) here.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the summary tables as Markdown.")
    ] = None,
    per_fold: Annotated[bool, typer.Option(help="Show per-fold rows.")] = True,
    data_dir: DataDir = None,
) -> None:
    """Run models on the benchmark tasks of BENCHMARKS.md and print a table per task."""
    from ..data import atomic_write_text
    from ..evaluate import get_tasks, markdown_summary, rich_tables, run_benchmark

    try:
        tasks = get_tasks(task)
        from ..evaluate import expand_models

        if model != "baselines":
            expand_models(model)  # fail fast on an unknown name
    except KeyError as err:
        raise _fail(str(err.args[0])) from None
    try:
        result = run_benchmark(tasks, model, data_dir=data_dir)
    except FileNotFoundError as err:
        raise _fail(str(err)) from None
    console = _console()
    for table in rich_tables(result, per_fold=per_fold):
        console.print(table)
    if json_path is not None:
        result.write_json(json_path)
        console.print(f"wrote {json_path}")
    if markdown is not None:
        atomic_write_text(markdown, markdown_summary(result))
        console.print(f"wrote {markdown}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path(
        "phenocast-report"
    ),
    data_dir: DataDir = None,
    max_epochs: Annotated[
        int | None,
        typer.Option(help="Cap the compositional model's training epochs (a quick look)."),
    ] = None,
) -> None:
    """The main job: fit on real data, predict held-out conditions, compare with the
    baselines, and write a report folder (HTML page, Markdown, JSON, figures)."""
    from ..evaluate import run_demo

    try:
        path = run_demo(out, data_dir=data_dir, console=_console(), max_epochs=max_epochs)
    except FileNotFoundError as err:
        raise _fail(str(err)) from None
    _console().print(f"[bold green]report written to[/bold green] {path}")


def _read_h5ad(path: Path, what: str):
    import anndata as ad

    if not path.is_file():
        raise _fail(f"{what} file {path} does not exist.")
    try:
        return ad.read_h5ad(path)
    except Exception as err:  # h5py / anndata raise many types for a bad file
        raise _fail(f"{what} file {path} is not a readable .h5ad file ({err}).") from None


@app.command()
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
) -> None:
    """Register an .h5ad and fit the compositional model; write a model directory."""
    import json

    from ..data import RegistrationError, register
    from ..models import Compositional, CompositionalConfig

    adata = _read_h5ad(data, "training data")
    try:
        options = json.loads(config.read_text()) if config is not None else {}
        if features is not None:
            options["features"] = features
        cfg = CompositionalConfig.from_dict(options)
        changes = {k: v for k, v in (("max_epochs", epochs), ("seed", seed)) if v is not None}
        cfg = cfg.with_train(progress=True, **changes)
        reg = register(
            adata,
            perturbation=perturbation,
            control=control,
            dose=dose,
            time=time,
            covariates=tuple(covariate or ()),
            layer=layer,
        )
    except FileNotFoundError:
        raise _fail(f"config file {config} does not exist.") from None
    except json.JSONDecodeError as err:
        raise _fail(f"config file {config} is not valid JSON ({err}).") from None
    except (RegistrationError, ValueError) as err:
        raise _fail(str(err)) from None
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise _fail(f"{out} is not empty; pass --overwrite to replace it.")
    console = _console()
    model = Compositional(reg, cfg).fit(adata)
    model.save(out, overwrite=overwrite)
    h = model.history_
    assert h is not None  # set by fit
    console.print(
        f"fitted on {adata.n_obs} cells × {adata.n_vars} genes: {len(h.epochs)} epochs "
        f"(best {h.best_epoch}), {h.seconds:.1f} s, {h.cells_per_second:.0f} cells/s"
    )
    if model.anchor_ is not None:
        console.print(f"anchored to {model.anchor_.baseline}: α = {model.anchor_.alpha}")
    console.print(f"[bold green]model written to[/bold green] {out}")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `train`.")],
    conditions: Annotated[
        Path, typer.Option(help="CSV: one row per condition (perturbation, dose, covariates).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad.")],
    controls: Annotated[
        Path | None,
        typer.Option(help="Cells to start from (.h5ad); without it, one mean row per condition."),
    ] = None,
) -> None:
    """Predict counterfactuals for the conditions of a CSV and write them as .h5ad."""
    import anndata as ad
    import pandas as pd

    from ..data import RegistrationError, atomic_write
    from ..models import Compositional
    from ..models.compositional import ModelDirectoryError

    try:
        model = Compositional.load(model_dir)
    except ModelDirectoryError as err:
        raise _fail(str(err)) from None
    if not conditions.is_file():
        raise _fail(f"conditions file {conditions} does not exist.")
    table = pd.read_csv(conditions, dtype=str, keep_default_na=False)
    reg = model.registry
    if reg.time_key is not None and reg.time_key in table:
        table[reg.time_key] = pd.to_numeric(table[reg.time_key])
    start = _read_h5ad(controls, "controls") if controls is not None else None
    try:
        if start is not None:
            result = model.predict(start, table)
        else:
            mean = model.predict_mean(None, table)
            obs = table.copy()
            obs.index = [f"condition{i}" for i in range(len(obs))]
            result = ad.AnnData(mean, obs=obs, var=pd.DataFrame(index=list(reg.var_names)))
    except RegistrationError as err:
        raise _fail(str(err)) from None
    atomic_write(out, lambda p: result.write_h5ad(p))
    _console().print(f"wrote {result.n_obs} predicted profiles to {out}")


def _read_list(value: str, what: str) -> list[str]:
    """A comma list, or ``@file`` / an existing file path with one name per line."""
    path = Path(value[1:] if value.startswith("@") else value)
    if value.startswith("@") or (path.suffix in {".txt", ".csv"} and path.is_file()):
        if not path.is_file():
            raise _fail(f"{what} file {path} does not exist.")
        items = [ln.split(",")[0].strip() for ln in path.read_text().splitlines()]
    else:
        items = [v.strip() for v in value.split(",")]
    items = [v for v in items if v and not v.startswith("#")]
    if not items:
        raise _fail(f"{what} lists nothing.")
    return items


def _read_target(path: Path) -> object:
    """Target signature CSV: columns ``gene`` + ``value`` (a signature) or ``gene`` +
    ``direction`` (up / down)."""
    import pandas as pd

    if not path.is_file():
        raise _fail(f"target file {path} does not exist.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "gene" not in table.columns:
        raise _fail(
            f"{path} needs a 'gene' column and a 'value' or 'direction' column; it has "
            f"{list(table.columns)}."
        )
    if "value" in table.columns:
        values = pd.to_numeric(table["value"], errors="coerce")
        bad = table.loc[values.isna(), "gene"].tolist()
        if bad:
            raise _fail(f"{path}: column 'value' is not a number for genes {bad[:10]}.")
        dup = table.loc[table["gene"].duplicated(), "gene"].tolist()
        if dup:
            raise _fail(f"{path}: genes listed twice: {dup[:10]}.")
        return pd.Series(values.to_numpy(), index=table["gene"].to_numpy())
    if "direction" in table.columns:
        direction = table["direction"].str.strip().str.lower()
        bad = sorted(set(direction) - {"up", "down"})
        if bad:
            raise _fail(f"{path}: column 'direction' must be 'up' or 'down', found {bad[:5]}.")
        return {d: table.loc[direction == d, "gene"].tolist() for d in ("up", "down")}
    raise _fail(f"{path} needs a 'value' or a 'direction' column beside 'gene'.")


@app.command()
def screen(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Hits CSV to write.")],
    perturbations: Annotated[
        str | None,
        typer.Option(
            "--perturbations", "-p", help="Comma list or a file (one per line); default: all."
        ),
    ] = None,
    order: Annotated[int, typer.Option("--order", help="Largest combination size.")] = 2,
    min_order: Annotated[int, typer.Option(help="Smallest combination size.")] = 1,
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
    n_cells: Annotated[int, typer.Option(help="Start cells per context.")] = 100,
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
    top: Annotated[int, typer.Option("--top", help="Hits kept.")] = 100,
    time: Annotated[float | None, typer.Option(help="Time point (models with time).")] = None,
    extrapolate: Annotated[
        bool, typer.Option(help="Allow doses outside the trained range (marked in the output).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for sampling start cells.")] = 0,
) -> None:
    """Screen every combination in silico and write the top hits as CSV."""
    from ..models import Compositional
    from ..models.compositional import ModelDirectoryError
    from ..screen import ScreenError, run

    try:
        model = Compositional.load(model_dir)
    except ModelDirectoryError as err:
        raise _fail(str(err)) from None
    names = _read_list(perturbations, "perturbations") if perturbations else None
    dose_list = None
    if doses is not None:
        try:
            dose_list = [float(d) for d in _read_list(doses, "doses")]
        except ValueError:
            raise _fail(f"--doses must be numbers separated by commas, got {doses!r}.") from None
    signature = _read_target(target) if target is not None else None
    start = _read_h5ad(controls, "controls") if controls is not None else None
    try:
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
            score=score or ("target" if signature is not None else "effect"),  # type: ignore[arg-type]
            target=signature,
            top_k=top,
            extrapolate=extrapolate,
            seed=seed,
            progress=True,
        )
    except ScreenError as err:
        raise _fail(str(err)) from None
    result.to_csv(out)
    _console().print(result.summary())
    _console().print(f"wrote {len(result.hits)} hits to {out}")


@app.command()
def report(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `train`.")],
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
        typer.Option("--design", help="JSON {strategy: [hits found after each cycle]}."),
    ] = None,
    dose_response: Annotated[
        str | None, typer.Option(help="Comma list of perturbations for dose-response curves.")
    ] = None,
    title: Annotated[str, typer.Option(help="Page title.")] = "phenocast report",
) -> None:
    """Write one self-contained HTML report of a model and its results."""
    import json

    import numpy as np
    import pandas as pd

    from ..evaluate import write_report
    from ..models import Compositional
    from ..models.compositional import ModelDirectoryError

    try:
        model = Compositional.load(model_dir)
    except ModelDirectoryError as err:
        raise _fail(str(err)) from None
    adata = None
    if data is not None:
        adata = _read_h5ad(data, "data")
        if adata.n_obs > 5000:
            rows = np.sort(np.random.default_rng(0).choice(adata.n_obs, 5000, replace=False))
            adata = adata[rows].copy()

    def _json(path: Path | None, what: str) -> object:
        if path is None:
            return None
        if not path.is_file():
            raise _fail(f"{what} file {path} does not exist.")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise _fail(f"{what} file {path} is not valid JSON ({err}).") from None

    hits = None
    if screen_csv is not None:
        if not screen_csv.is_file():
            raise _fail(f"screen file {screen_csv} does not exist.")
        hits = pd.read_csv(screen_csv)
    names = _read_list(dose_response, "dose-response perturbations") if dose_response else None
    try:
        path = write_report(
            out,
            title=title,
            model=model,
            adata=adata,
            dose_response=names,
            benchmark=_json(benchmark_json, "benchmark"),
            screen=hits,
            design=_json(design_json, "design"),
        )
    except (TypeError, ValueError) as err:
        raise _fail(str(err)) from None
    _console().print(f"wrote {path}")


@app.command()
def design(
    candidates: Annotated[Path, typer.Option(help="Genes that could be measured, one per line.")],
    results: Annotated[Path, typer.Option(help="CSV of measurements so far: gene,value.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of the next batch.")],
    mode: Annotated[str, typer.Option(help="explore (information gain) or exploit.")] = "explore",
    batch_size: Annotated[int, typer.Option(help="Genes to propose.")] = 64,
    acquisition: Annotated[
        str | None, typer.Option(help="Any registered acquisition, overriding --mode.")
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(help="CSV: gene + feature columns (default: GO features from the data dir)."),
    ] = None,
    data_dir: DataDir = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Propose the next batch of genes to measure, each with its prediction, uncertainty and
    the reason it was chosen."""
    import pandas as pd

    from ..data import atomic_write_text
    from ..design import DesignError, propose
    from ..featurize import GeneFeatures

    names = _read_list(f"@{candidates}", "candidates")
    if not results.is_file():
        raise _fail(f"results file {results} does not exist.")
    measured = pd.read_csv(results)
    graph = None
    essential: list[str] = []
    if features is not None:
        if not features.is_file():
            raise _fail(f"features file {features} does not exist.")
        table = pd.read_csv(features)
        if "gene" not in table.columns or table.shape[1] < 2:
            raise _fail(f"{features} needs a 'gene' column and at least one feature column.")
        try:
            feats = GeneFeatures(
                tuple(table["gene"].astype(str)),
                table.drop(columns="gene").to_numpy(dtype=float),
                source=str(features.name),
                method="user features",
            )
        except ValueError as err:
            raise _fail(f"{features}: {err}") from None
    else:
        from ..data import load_essential_genes, load_gene2go, load_go_graph
        from ..featurize import go_annotation_features
        from ..knowledge import GeneGraph

        try:
            feats = go_annotation_features(load_gene2go(data_dir=data_dir))
            graph = GeneGraph.from_edges(load_go_graph(data_dir=data_dir), name="GO")
            essential = load_essential_genes(data_dir=data_dir)
        except FileNotFoundError as err:
            raise _fail(f"{err} (or pass --features).") from None
    try:
        batch = propose(
            names, measured, feats, mode=mode, batch_size=batch_size,  # type: ignore[arg-type]
            acquisition=acquisition, graph=graph, essential=essential, seed=seed,
        )  # fmt: skip
    except (DesignError, KeyError) as err:
        raise _fail(str(err).strip('"')) from None
    atomic_write_text(out, batch.to_csv(index=False))
    _console().print(f"wrote {len(batch)} proposals ({batch['criterion'].iloc[0]}) to {out}")


@app.command()
def version() -> None:
    """Print the phenocast version."""
    from .. import __version__

    typer.echo(__version__)


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
