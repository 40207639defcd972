"""`phenocast train` and `phenocast predict` on synthetic data, and their errors."""

from __future__ import annotations

import anndata as ad
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = synthetic(
        n_genes=30,
        n_cell_types=2,
        n_perturbations=3,
        doses=(0.1, 1, 10),
        cells_per_condition=15,
        seed=2,
    )
    data.write_h5ad(root / "train.h5ad")
    data[data.obs["is_control"].to_numpy()][:10].copy().write_h5ad(root / "ctrl.h5ad")
    pd.DataFrame(
        {"perturbation": ["P0", "P1+P2"], "dose": ["1", "1+0.1"], "cell_type": ["T0", "T1"]}
    ).to_csv(root / "cond.csv", index=False)
    result = runner.invoke(
        app,
        [
            "train",
            str(root / "train.h5ad"),
            "--out",
            str(root / "model"),
            "--dose",
            "dose",
            "-c",
            "cell_type",
            "--epochs",
            "3",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.stdout
    return root


def test_train_writes_a_model_directory(files):
    assert {p.name for p in (files / "model").iterdir()} == {
        "config.json",
        "registry.json",
        "weights.pt",
    }


def test_predict_per_cell_and_mean(files):
    out = files / "pred.h5ad"
    args = ["predict", str(files / "model"), "--conditions", str(files / "cond.csv")]
    result = runner.invoke(app, [*args, "--controls", str(files / "ctrl.h5ad"), "--out", str(out)])
    assert result.exit_code == 0, result.stdout
    pred = ad.read_h5ad(out)
    assert pred.shape == (20, 30) and set(pred.layers) == {"mean", "variance"}
    assert pred.obs["dose"].tolist()[-1] == "1+0.1"
    result = runner.invoke(app, [*args, "--out", str(files / "mean.h5ad")])
    assert result.exit_code == 0, result.stdout
    assert ad.read_h5ad(files / "mean.h5ad").shape == (2, 30)


def test_predict_errors(files, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"perturbation": ["P7"], "dose": ["1"], "cell_type": ["T0"]}).to_csv(
        bad, index=False
    )
    result = runner.invoke(
        app,
        [
            "predict",
            str(files / "model"),
            "--conditions",
            str(bad),
            "--out",
            str(tmp_path / "x.h5ad"),
        ],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "'P7'" in result.stdout and "Known components" in result.stdout
    assert not (tmp_path / "x.h5ad").exists()
    result = runner.invoke(
        app,
        ["predict", str(tmp_path), "--conditions", str(bad), "--out", str(tmp_path / "x.h5ad")],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "config.json is missing" in result.stdout


def test_train_errors(files, tmp_path):
    result = runner.invoke(
        app,
        ["train", str(files / "train.h5ad"), "--out", str(tmp_path / "m"), "--control", "DMSO"],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "Control label 'DMSO' does not occur" in result.stdout
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"latent_dims": 4}')
    result = runner.invoke(
        app,
        ["train", str(files / "train.h5ad"), "--out", str(tmp_path / "m"), "--config", str(cfg)],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "Unknown option(s) ['latent_dims']" in result.stdout
    result = runner.invoke(
        app, ["train", str(tmp_path / "none.h5ad"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2 and "does not exist" in result.stdout
