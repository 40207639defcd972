"""`phenocast multimodal train / predict / generate / mi` on synthetic MuData, and errors."""

from __future__ import annotations

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.multimodal import synthetic_multimodal

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, ["multimodal", *args], terminal_width=200)
    result.text = " ".join(result.stdout.split())  # rich wraps long messages
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mm_cli")
    data, _ = synthetic_multimodal(
        n_samples=120, dims={"rna": 12, "morphology": 8}, n_components=6, missing=0.2, seed=3
    )
    with mudata.set_options(pull_on_update=False):  # mudata 0.3 warns of a future default
        data.to_mudata().write_h5mu(root / "data.h5mu")
    pd.DataFrame({"perturbation": ["C00+C01", "C02"], "dose": ["1+1", "1"]}).to_csv(
        root / "cond.csv", index=False
    )
    result = invoke("train", str(root / "data.h5mu"), "--out", str(root / "model"), "--epochs", "5")
    assert result.exit_code == 0, result.stdout
    return root, data


def test_train_writes_a_loadable_model(files):
    root, data = files
    from phenocast.multimodal import MultiModalModel

    model = MultiModalModel.load(root / "model")
    assert model.modalities_ == data.modalities and model.components_ == data.components
    again = invoke("train", str(root / "data.h5mu"), "--out", str(root / "model"))
    assert again.exit_code == 2 and "pass --overwrite" in again.text


@pytest.mark.parametrize("flag", [[], ["--use-perturbation"]])
def test_predict_writes_means_and_variances(files, flag):
    root, data = files
    out = root / f"pred{len(flag)}.h5ad"
    args = ["predict", str(root / "model"), str(root / "data.h5mu"), "-s", "rna"]
    result = invoke(*args, "-t", "morphology", "--out", str(out), *flag)
    assert result.exit_code == 0, result.stdout
    pred = ad.read_h5ad(out)
    measured = data.ids[data.mask("rna")]
    assert list(pred.obs_names) == [str(i) for i in measured]
    assert list(pred.var_names) == list(data.feature_names("morphology"))
    assert (pred.layers["variance"] > 0).all() and np.isfinite(pred.X).all()


def test_generate_sample_and_mi(files):
    root, _ = files
    out = root / "gen.h5ad"
    cond = str(root / "cond.csv")
    result = invoke(
        "generate", str(root / "model"), "--conditions", cond, "-t", "rna", "-o", str(out)
    )
    assert result.exit_code == 0, result.stdout
    assert list(ad.read_h5ad(out).obs_names) == ["C00+C01@1+1", "C02@1"]
    joint = root / "draws.h5mu"
    args = ["sample", str(root / "model"), "--conditions", cond, "-o", str(joint)]
    result = invoke(*args, "--n-draws", "4")
    assert result.exit_code == 0, result.stdout
    with mudata.set_options(pull_on_update=False):
        draws = mudata.read_h5mu(joint)
    assert set(draws.mod) == {"rna", "morphology"} and draws["rna"].n_obs == 8
    result = invoke(
        "mi", str(root / "data.h5mu"), "--a", "rna", "--b", "morphology", "--n-boot", "20"
    )
    assert result.exit_code == 0, result.stdout
    assert "I(rna; morphology) = " in result.text and "groups" in result.text


def test_clear_errors(files, tmp_path):
    root, _ = files
    model, data = str(root / "model"), str(root / "data.h5mu")
    cases = [
        (("train", "missing.h5mu", "--out", str(tmp_path / "m")), "neither a file nor a bundled"),
        (("predict", model, data, "-s", "rna", "-t", "protein", "-o", "x.h5ad"), "protein"),
        (("predict", str(tmp_path), data, "-s", "rna", "-t", "rna", "-o", "x.h5ad"), "missing"),
        (("mi", data, "--a", "rna", "--b", "nope"), "'nope' is not a readout"),
        (("mi", data, "--a", "rna", "--b", "morphology", "--groups", "x"), "--groups must be"),
        (("generate", model, "--conditions", "nope.csv", "-t", "rna", "-o", "x"), "does not exist"),
    ]
    bad = tmp_path / "bad.h5mu"
    bad.write_text("not hdf5")
    cases.append((("mi", str(bad), "--a", "rna", "--b", "morphology"), "not a readable .h5mu"))
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stdout)
        assert message in result.text, (args, result.stdout)
