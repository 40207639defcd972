# ruff: noqa: E501  (the cases are a table: one case per line reads best)
"""The bad-input suite: every command, given a wrong input, stops with a one-line error that
names the problem and writes nothing.

Each case is the command line a user might type and the words the message must contain. The
suite asserts, for every case: a non-zero exit code, no traceback (the error is the CLI's own
exit, not an exception), the named words in the message, and no output file left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import synthetic
from phenocast.multimodal import synthetic_multimodal

runner = CliRunner()


@dataclass
class Files:
    """The shared inputs (``root``: a trained model, data, conditions) and a fresh folder."""

    root: Path
    tmp: Path

    def __getattr__(self, name: str) -> str:  # f.model, f.train, f.ctrl ... as strings
        known = {
            "model": "model", "train": "train.h5ad", "ctrl": "ctrl.h5ad", "cond": "cond.csv",
            "mm": "data.h5mu", "mm_model": "mm_model", "cands": "candidates.txt",
            "results": "results.csv", "feats": "features.csv",
        }  # fmt: skip
        if name not in known:
            raise AttributeError(name)
        return str(self.root / known[name])

    @property
    def out(self) -> str:
        return str(self.tmp / "out")

    def text(self, name: str, content: str) -> str:
        path = self.tmp / name
        path.write_text(content)
        return str(path)

    def h5ad(self, name: str, adata: ad.AnnData) -> str:
        path = self.tmp / name
        adata.write_h5ad(path)
        return str(path)

    def data(self) -> ad.AnnData:
        return ad.read_h5ad(self.root / "train.h5ad")

    def controls(self) -> ad.AnnData:
        return ad.read_h5ad(self.root / "ctrl.h5ad")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    data = synthetic(
        n_genes=20, n_cell_types=2, n_perturbations=3, doses=(0.1, 1), cells_per_condition=8, seed=4
    )
    data.write_h5ad(root / "train.h5ad")
    data[data.obs["is_control"].to_numpy()][:12].copy().write_h5ad(root / "ctrl.h5ad")
    pd.DataFrame(
        {"perturbation": ["P0", "P1+P2"], "dose": ["1", "1+0.1"], "cell_type": ["T0", "T0"]}
    ).to_csv(root / "cond.csv", index=False)
    train = ["train", str(root / "train.h5ad"), "--out", str(root / "model"), "--dose", "dose"]
    result = runner.invoke(app, [*train, "-c", "cell_type", "--epochs", "2"])
    assert result.exit_code == 0, result.stdout

    mm, _ = synthetic_multimodal(
        n_samples=60, dims={"rna": 8, "morphology": 5}, n_components=4, missing=0.2, seed=1
    )
    with mudata.set_options(pull_on_update=False):  # mudata 0.3 warns of a future default
        mm.to_mudata().write_h5mu(root / "data.h5mu")
    mm_train = ["multimodal", "train", str(root / "data.h5mu"), "--out", str(root / "mm_model")]
    result = runner.invoke(app, [*mm_train, "--epochs", "2"])
    assert result.exit_code == 0, result.stdout

    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(40)]
    feats = pd.DataFrame(rng.standard_normal((40, 3)), columns=["f0", "f1", "f2"])
    feats.insert(0, "gene", genes)
    feats.to_csv(root / "features.csv", index=False)
    pd.DataFrame({"gene": genes[:10], "value": rng.standard_normal(10)}).to_csv(
        root / "results.csv", index=False
    )
    (root / "candidates.txt").write_text("\n".join(genes) + "\n")
    return root


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Files], list[str]]
    says: tuple[str, ...]


def _design(f: Files, *extra: str, cands: str | None = None, results: str | None = None,
            feats: str | None = None) -> list[str]:  # fmt: skip
    return [
        "design", "--candidates", cands or f.cands, "--results", results or f.results,
        "--features", feats or f.feats, "--out", f.out + ".csv", *extra,
    ]  # fmt: skip


def _predict(f: Files, *extra: str, cond: str | None = None) -> list[str]:
    return ["predict", f.model, "--conditions", cond or f.cond, "--out", f.out + ".h5ad", *extra]


def _screen(f: Files, *extra: str) -> list[str]:
    return ["screen", f.model, "--out", f.out + ".csv", *extra]


def _train(f: Files, *extra: str, data: str | None = None) -> list[str]:
    return ["train", data or f.train, "--out", f.out, "--dose", "dose", "--epochs", "1", *extra]


def _obs_changed(f: Files, name: str, column: str, values) -> str:
    data = f.data()
    data.obs[column] = values(data)
    return f.h5ad(name, data)


def _x_changed(f: Files, name: str, change) -> str:
    data = f.data()
    x = np.asarray(data.X, dtype=np.float32).copy()
    change(x, data)
    data.X = x
    return f.h5ad(name, data)


def _ctrl_changed(f: Files, change) -> str:
    ctrl = f.controls()
    ctrl = change(ctrl)
    return f.h5ad("ctrl_bad.h5ad", ctrl)


def _nan_first(x, data) -> None:
    x[0, 0] = np.nan


CASES = [
    # --- train -------------------------------------------------------------------------------
    Case("train-missing-file", lambda f: _train(f, data=str(f.tmp / "none.h5ad")), ("does not exist",)),
    Case("train-not-h5ad", lambda f: _train(f, data=f.text("cells.csv", "a,b\n1,2\n")), ("cells.csv",)),
    Case("train-no-perturbation-column", lambda f: _train(f, "--perturbation", "drug"), ("'drug'",)),
    Case("train-control-absent", lambda f: _train(f, "--control", "DMSO"), ("Control label 'DMSO' does not occur",)),
    Case("train-no-dose-column", lambda f: ["train", f.train, "--out", f.out, "--dose", "conc"], ("'conc'",)),
    Case("train-no-covariate-column", lambda f: _train(f, "-c", "cell_line"), ("'cell_line'",)),
    Case("train-no-layer", lambda f: _train(f, "--layer", "counts"), ("'counts'",)),
    Case("train-unknown-config-option", lambda f: _train(f, "--config", f.text("c.json", '{"latent_dims": 4}')), ("Unknown option(s) ['latent_dims']",)),
    Case("train-config-not-json", lambda f: _train(f, "--config", f.text("c.json", "{latent")), ("c.json",)),
    Case("train-unknown-featuriser", lambda f: _train(f, "--features", "gos"), ("features must name a featuriser", "go_svd")),
    Case("train-out-is-a-file", lambda f: ["train", f.train, "--out", f.text("taken", "x"), "--dose", "dose"], ("is a file, not a directory",)),
    Case("train-out-exists", lambda f: ["train", f.train, "--out", f.model, "--dose", "dose"], ("--overwrite",)),
    Case("train-nb-on-log-data", lambda f: _train(f, "--config", f.text("c.json", '{"likelihood": "nb"}')), ("nb", "count")),
    Case("train-nan-in-x", lambda f: _train(f, data=_x_changed(f, "nan.h5ad", _nan_first)), ("NaN",)),
    Case("train-negative-dose", lambda f: _train(f, data=_obs_changed(f, "d.h5ad", "dose", lambda d: np.where(d.obs["is_control"], 0.0, -1.0).astype(str))), ("dose",)),
    Case("train-text-dose", lambda f: _train(f, data=_obs_changed(f, "d.h5ad", "dose", lambda d: ["high"] * d.n_obs)), ("'high'",)),
    Case("train-all-controls", lambda f: _train(f, data=_obs_changed(f, "c.h5ad", "perturbation", lambda d: ["control"] * d.n_obs)), ("perturbation",)),
    Case("train-diverging-lr", lambda f: _train(f, "--config", f.text("c.json", '{"train": {"lr": 1e30}}')), ("became nan", "learning rate", "no model was kept")),
    Case("train-zero-epochs", lambda f: _train(f, "--epochs", "0"), ("max_epochs must be an integer >= 1, got 0",)),
    Case("train-zero-genes", lambda f: _train(f, data=f.h5ad("g0.h5ad", f.data()[:, []].copy())), ("gene",)),
    # --- predict -----------------------------------------------------------------------------
    Case("predict-not-a-model", lambda f: ["predict", str(f.tmp), "--conditions", f.cond, "--out", f.out + ".h5ad"], ("config.json is missing",)),
    Case("predict-conditions-missing", lambda f: _predict(f, cond=str(f.tmp / "none.csv")), ("does not exist",)),
    Case("predict-unknown-perturbation", lambda f: _predict(f, cond=f.text("c.csv", "perturbation,dose,cell_type\nP7,1,T0\n")), ("'P7'", "Known components")),
    Case("predict-no-perturbation-column", lambda f: _predict(f, cond=f.text("c.csv", "drug,dose\nP0,1\n")), ("perturbation",)),
    Case("predict-text-dose", lambda f: _predict(f, cond=f.text("c.csv", "perturbation,dose,cell_type\nP0,high,T0\n")), ("'high'",)),
    Case("predict-dose-count-mismatch", lambda f: _predict(f, cond=f.text("c.csv", "perturbation,dose,cell_type\nP0+P1,1,T0\n")), ("dose",)),
    Case("predict-unknown-cell-type", lambda f: _predict(f, cond=f.text("c.csv", "perturbation,dose,cell_type\nP0,1,T9\n")), ("'T9'",)),
    Case("predict-empty-conditions", lambda f: _predict(f, cond=f.text("c.csv", "perturbation,dose,cell_type\n")), ("has no rows",)),
    Case("predict-nan-controls", lambda f: _predict(f, "--controls", _ctrl_changed(f, _with_nan)), ("NaN",)),
    Case("predict-perturbed-controls", lambda f: _predict(f, "--controls", f.h5ad("p.h5ad", _perturbed(f))), ("perturbed",)),
    Case("predict-zero-controls", lambda f: _predict(f, "--controls", _ctrl_changed(f, lambda c: c[:0].copy())), ("0 ",)),
    Case("predict-controls-other-genes", lambda f: _predict(f, "--controls", _ctrl_changed(f, _renamed_genes)), ("gene",)),
    Case("predict-out-exists", lambda f: ["predict", f.model, "--conditions", f.cond, "--out", f.text("taken.h5ad", "mine")], ("exists; pass --overwrite",)),
    Case("predict-out-is-a-directory", lambda f: ["predict", f.model, "--conditions", f.cond, "--out", str(f.tmp)], ("is a directory",)),
    Case("predict-out-under-a-file", lambda f: ["predict", f.model, "--conditions", f.cond, "--out", f.text("file", "x") + "/p.h5ad"], ("is a file, not a folder",)),
    # --- screen ------------------------------------------------------------------------------
    Case("screen-order-zero", lambda f: _screen(f, "--order", "0"), ("order",)),
    Case("screen-min-order-above-order", lambda f: _screen(f, "--order", "1", "--min-order", "2"), ("min",)),
    Case("screen-too-many-conditions", lambda f: _screen(f, "--max-conditions", "3"), ("--max-conditions",)),
    Case("screen-unknown-perturbation", lambda f: _screen(f, "-p", "P0,P9"), ("P9",)),
    Case("screen-negative-dose", lambda f: _screen(f, "--doses", "1,-2"), ("-2",)),
    Case("screen-text-dose", lambda f: _screen(f, "--doses", "1,lots"), ("lots",)),
    Case("screen-dose-outside-training", lambda f: _screen(f, "--doses", "100"), ("outside", "--extrapolate")),
    Case("screen-unknown-cell-type", lambda f: _screen(f, "--cell-type", "T9"), ("T9",)),
    Case("screen-unknown-score", lambda f: _screen(f, "--score", "fun"), ("fun",)),
    Case("screen-top-zero", lambda f: _screen(f, "--top", "0"), ("top",)),
    Case("screen-target-text-value", lambda f: _screen(f, "--target", f.text("t.csv", "gene,value\nG1,1\nG2,lots\n")), ("'value' is not a number",)),
    Case("screen-target-twice", lambda f: _screen(f, "--target", f.text("t.csv", "gene,value\nG1,1\nG1,2\n")), ("genes listed twice",)),
    Case("screen-target-no-gene-column", lambda f: _screen(f, "--target", f.text("t.csv", "name,value\nG1,1\n")), ("needs a 'gene' column",)),
    Case("screen-bad-shard", lambda f: _screen(f, "--shard", "3/2"), ("shard",)),
    Case("screen-out-exists", lambda f: ["screen", f.model, "--out", f.text("hits.csv", "mine")], ("exists; pass --overwrite",)),
    Case("screen-merge-no-shard-file", lambda f: ["screen-merge", str(f.tmp / "s0.json"), "--out", f.out + ".csv"], ("s0.json",)),
    Case("screen-merge-not-json", lambda f: ["screen-merge", f.text("s0.json", "{x"), "--out", f.out + ".csv"], ("s0.json",)),
    # --- design ------------------------------------------------------------------------------
    Case("design-candidates-missing", lambda f: _design(f, cands=str(f.tmp / "none.txt")), ("none.txt",)),
    Case("design-results-no-value", lambda f: _design(f, results=f.text("r.csv", "gene,score\nG1,1\n")), ("value",)),
    Case("design-results-text-value", lambda f: _design(f, results=f.text("r.csv", "gene,value\nG1,1\nG2,big\n")), ("G2",)),
    Case("design-unknown-mode", lambda f: _design(f, "--mode", "exploot"), ("exploot",)),
    Case("design-batch-zero", lambda f: _design(f, "--batch-size", "0"), ("batch",)),
    Case("design-unknown-acquisition", lambda f: _design(f, "--acquisition", "bald2"), ("bald2",)),
    Case("design-features-no-gene-column", lambda f: _design(f, feats=f.text("x.csv", "name,f0\nG1,1\n")), ("gene",)),
    Case("design-exploit-constant", lambda f: _design(f, "--mode", "exploit", results=f.text("r.csv", "gene,value\nG1,1\nG2,1\nG3,1\n")), ("explore",)),
    # --- report ------------------------------------------------------------------------------
    Case("report-not-a-model", lambda f: ["report", str(f.tmp), "--out", f.out + ".html"], ("config.json is missing",)),
    Case("report-benchmark-missing", lambda f: ["report", f.model, "--out", f.out + ".html", "--benchmark", str(f.tmp / "b.json")], ("does not exist",)),
    Case("report-design-not-json", lambda f: ["report", f.model, "--out", f.out + ".html", "--design", f.text("d.json", "{x")], ("is not valid JSON",)),
    Case("report-unknown-dose-response", lambda f: ["report", f.model, "--out", f.out + ".html", "--dose-response", "P9"], ("P9",)),
    Case("report-screen-no-columns", lambda f: ["report", f.model, "--out", f.out + ".html", "--screen", f.text("h.csv", "a,b\n1,2\n")], ("lacks the column(s) ['rank', 'perturbation', 'score']",)),
    Case("report-screen-empty-file", lambda f: ["report", f.model, "--out", f.out + ".html", "--screen", f.text("h.csv", "")], ("h.csv", "is empty")),
    # --- benchmark, data ---------------------------------------------------------------------
    Case("benchmark-unknown-task", lambda f: ["benchmark", "-t", "kang", "-m", "additive"], ("Unknown task 'kang'",)),
    Case("benchmark-unknown-model", lambda f: ["benchmark", "-t", "norman-combos", "-m", "addtive"], ("Unknown model 'addtive'",)),
    Case("benchmark-no-data", lambda f: ["benchmark", "-t", "norman-combos", "--data-dir", str(f.tmp)], ("PHENOCAST_DATA_DIR",)),
    Case("convert-missing-source", lambda f: ["convert", str(f.tmp / "none.h5ad"), f.out + ".zarr"], ("none.h5ad",)),
    Case("convert-bad-suffix", lambda f: ["convert", f.train, f.out + ".csv"], (".csv",)),
    Case("synthetic-negative-cells", lambda f: ["synthetic", "--out", f.out + ".h5ad", "--cells", "-5"], ("cells",)),
    Case("synthetic-zero-genes", lambda f: ["synthetic", "--out", f.out + ".h5ad", "--genes", "0"], ("n_genes must be an integer >= 1",)),
    Case("convert-onto-itself", lambda f: ["convert", f.h5ad("t.h5ad", f.controls()), str(f.tmp / "t.h5ad")], ("is the input",)),
    Case("synthetic-unknown-output", lambda f: ["synthetic", "--out", f.out + ".h5ad", "--output", "tpm"], ("tpm",)),
    # --- multimodal --------------------------------------------------------------------------
    Case("mm-train-missing-file", lambda f: ["multimodal", "train", str(f.tmp / "m.h5mu"), "--out", f.out], ("m.h5mu",)),
    Case("mm-predict-unknown-readout", lambda f: ["multimodal", "predict", f.mm_model, f.mm, "-s", "rna", "-t", "protein", "-o", f.out + ".h5ad"], ("protein",)),
    Case("mm-mi-unknown-readout", lambda f: ["multimodal", "mi", f.mm, "--a", "rna", "--b", "nope"], ("'nope' is not a readout",)),
    Case("mm-mi-bad-groups", lambda f: ["multimodal", "mi", f.mm, "--a", "rna", "--b", "morphology", "--groups", "x"], ("--groups must be",)),
    Case("mm-generate-unknown-perturbation", lambda f: ["multimodal", "generate", f.mm_model, "--conditions", f.text("c.csv", "perturbation,dose\nZZ9,1\n"), "-t", "rna", "-o", f.out + ".h5ad"], ("ZZ9",)),
    Case("mm-not-h5mu", lambda f: ["multimodal", "mi", f.text("bad.h5mu", "not hdf5"), "--a", "rna", "--b", "morphology"], ("not a readable .h5mu",)),
]  # fmt: skip


def _with_nan(ctrl: ad.AnnData) -> ad.AnnData:
    x = np.asarray(ctrl.X, dtype=np.float32).copy()
    x[1, 2] = np.nan
    ctrl.X = x
    return ctrl


def _perturbed(f: Files) -> ad.AnnData:
    data = f.data()
    return data[~data.obs["is_control"].to_numpy()][:5].copy()


def _renamed_genes(ctrl: ad.AnnData) -> ad.AnnData:
    ctrl.var_names = [f"other{i}" for i in range(ctrl.n_vars)]
    return ctrl


def test_the_suite_is_large_and_names_are_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_named_and_writes_nothing(case: Case, root: Path, tmp_path: Path):
    f = Files(root, tmp_path)
    argv = [str(a) for a in case.argv(f)]
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    result = runner.invoke(app, argv, terminal_width=400)
    said = " ".join(result.output.split())
    assert result.exit_code not in (0, None), f"exit 0 for {argv}: {said}"
    assert isinstance(result.exception, SystemExit), f"a traceback for {argv}: {result.exception!r}"
    for words in case.says:
        assert words in said, f"{words!r} not in the message of {argv}: {said}"
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert after == before, f"{argv} changed files: {set(after) ^ set(before)}"
